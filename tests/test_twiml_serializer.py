"""ivr.adapters.twiml.to_xml writes exactly what the twilio library's str() writes, faster."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.twiml.voice_response import Dial, VoiceResponse

from ivr.adapters.twiml import to_xml

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"))
    | st.sampled_from(list("&<>\"'\n\t\r£€")),
    max_size=40,
)


@given(say=text, url=text, finish=st.sampled_from(["", "#", "*"]), digits=st.integers(1, 20))
def test_same_text_as_the_twilio_library(say: str, url: str, finish: str, digits: int) -> None:
    response = VoiceResponse()
    response.say(say, voice="Polly.Amy", language="en-GB")
    gather = response.gather(
        input="dtmf",
        action=url,
        method="POST",
        timeout=5,
        finish_on_key=finish,
        action_on_empty_result=True,
        num_digits=digits,
    )
    gather.say(say)
    gather.pause(length=1)
    response.redirect(url, method="POST")
    dial = Dial(action=url, caller_id="+442071230100", timeout=30, record="do-not-record")
    dial.number("+442079460001")
    response.append(dial)
    response.enqueue(say or "queue", action=url)
    response.play(url, loop=2)
    response.hangup()
    assert to_xml(response) == str(response)


def test_empty_response() -> None:
    assert to_xml(VoiceResponse()) == str(VoiceResponse())


def test_characters_xml_cannot_carry_are_dropped() -> None:
    """Back-office data with a control character must not make the TwiML malformed."""
    from lxml import etree

    response = VoiceResponse()
    response.say("Hello Sam\x01 Taylor\x1f.")
    text = to_xml(response)
    etree.fromstring(text.encode())  # well-formed
    assert "<Say>Hello Sam Taylor.</Say>" in text
