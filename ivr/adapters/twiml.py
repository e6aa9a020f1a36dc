"""Render a `Turn` to TwiML with the `twilio` library (Say, Play, Pause, Gather, Dial, Enqueue,
Hangup, Redirect). The URLs to come back to are given by the caller of `render`."""

from __future__ import annotations

import re
from typing import Protocol
from xml.etree import ElementTree

from twilio.twiml.voice_response import Dial as TwDial
from twilio.twiml.voice_response import Gather as TwGather
from twilio.twiml.voice_response import VoiceResponse

from ivr.engine.actions import Action, Dial, Enqueue, Gather, Hangup, Pause, Play, Say, Turn, Wait


class TurnUrls(Protocol):
    """Where Twilio reports back for turn `turn` of a call."""

    def keys(self, turn: int) -> str: ...

    def dial(self, turn: int) -> str: ...

    def queue(self, turn: int) -> str: ...


def _speech(parent: VoiceResponse | TwGather, action: Action) -> None:
    if isinstance(action, Say):
        attrs: dict[str, str | int] = {}
        if action.voice:
            attrs["voice"] = action.voice
        if action.language:
            attrs["language"] = action.language
        if action.loop != 1:
            attrs["loop"] = action.loop
        parent.say(action.text, **attrs)
    elif isinstance(action, Play):
        parent.play(action.url, **({"loop": action.loop} if action.loop != 1 else {}))
    elif isinstance(action, Pause):
        parent.pause(length=action.length)


def render(turn: Turn, urls: TurnUrls) -> str:
    """The TwiML document for a turn."""
    response = VoiceResponse()
    for action in turn.actions:
        if isinstance(action, (Say, Play, Pause)):
            _speech(response, action)
        elif isinstance(action, Gather):
            url = urls.keys(turn.turn)
            attrs: dict = {
                "input": action.input,
                "action": url,
                "method": "POST",
                "timeout": action.timeout,
                "finish_on_key": action.finish_on_key,
                "action_on_empty_result": True,
            }
            if action.num_digits:
                attrs["num_digits"] = action.num_digits
            if "speech" in action.input:
                # the caller's words end at their first pause, not after `timeout` seconds
                attrs["speech_timeout"] = "auto"
                if action.hints:
                    attrs["hints"] = action.hints
                if action.language:
                    attrs["language"] = action.language
            gather = response.gather(**attrs)
            for prompt in action.prompts:
                _speech(gather, prompt)
            response.redirect(url, method="POST")
        elif isinstance(action, Dial):
            dial_attrs: dict = {
                "action": urls.dial(turn.turn),
                "method": "POST",
                "timeout": action.timeout,
            }
            if action.caller_id:
                dial_attrs["caller_id"] = action.caller_id
            if action.time_limit:
                dial_attrs["time_limit"] = action.time_limit
            dial_attrs["record"] = "record-from-answer" if action.record else "do-not-record"
            dial = TwDial(**dial_attrs)
            dial.number(action.number)
            response.append(dial)
        elif isinstance(action, Enqueue):
            response.enqueue(action.queue, action=urls.queue(turn.turn), method="POST")
        elif isinstance(action, Wait):
            response.pause(length=action.length)
            response.redirect(urls.keys(turn.turn), method="POST")
        elif isinstance(action, Hangup):
            response.hangup()
    return to_xml(response)


# Characters XML 1.0 cannot carry (from back-office data, say): dropped before rendering, so a
# stray control character never turns a turn into an application error.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#09;",
    }
)


def to_xml(response: VoiceResponse) -> str:
    """The same text as `str(response)` (the twilio library builds the element tree), written
    without ElementTree's pure-Python serializer, which cost more than the rest of a turn."""
    return '<?xml version="1.0" encoding="UTF-8"?>' + _element(response.xml())


def _element(el: ElementTree.Element) -> str:
    attrs = "".join(f' {k}="{_ILLEGAL.sub("", v).translate(_ATTR)}"' for k, v in el.attrib.items())
    inner = _ILLEGAL.sub("", el.text or "").translate(_TEXT) + "".join(_element(c) for c in el)
    tail = _ILLEGAL.sub("", el.tail or "").translate(_TEXT)
    if not inner:
        return f"<{el.tag}{attrs} />{tail}"
    return f"<{el.tag}{attrs}>{inner}</{el.tag}>{tail}"
