"""Studio's voice widgets as applets: say-play, gather-input-on-call, set-variables,
connect-call-to, enqueue-call, add-twiml-redirect and run-subflow."""

from __future__ import annotations

import re
from typing import Any

from ivr.studio.build import Build
from ivr.studio.flow import Widget

_FLOW_WEBHOOK = re.compile(r"https://webhooks\.twilio\.com/v1/Accounts/AC\w+/Flows/(FW\w+)")
NOUNS = {
    "sip": "a SIP endpoint",
    "client": "a Twilio Client",
    "sim": "a Twilio SIM",
    "conference": "a conference",
}
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _voice(build: Build, widget: Widget) -> dict[str, Any]:
    """The widget's voice and language, where they are plain names."""
    out: dict[str, Any] = {}
    for prop in ("voice", "language"):
        value = widget.properties.get(prop)
        if not isinstance(value, str) or not value or value.lower() == "default":
            continue
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", value):
            out[prop] = value
        else:
            build.note(widget, f"properties.{prop} '{value}' is not carried over (the default)")
    return out


def _prompts(build: Build, widget: Widget, problems: list[str]) -> list[dict[str, Any]]:
    props = widget.properties
    items: list[dict[str, Any]] = []
    if props.get("say"):
        items.append({"say": build.text("say", props["say"], problems)})
    if props.get("play"):
        items.append({"play": build.text("play", props["play"], problems)})
    return items


def _loop(build: Build, widget: Widget) -> int:
    loop = widget.properties.get("loop", 1)
    try:
        wanted = int(loop)
    except (TypeError, ValueError, OverflowError):
        build.note(widget, f"properties.loop {loop!r} is not a number: played once")
        return 1
    if wanted > 10:
        build.note(widget, f"properties.loop {wanted}: played 10 times (the most a plan allows)")
    return max(1, min(10, wanted))


def say_play(build: Build, widget: Widget) -> None:
    problems: list[str] = []
    props = widget.properties
    if props.get("digits"):
        problems.append("properties.digits: playing key tones to the caller has no applet")
    items = _prompts(build, widget, problems)
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    body: dict[str, Any] = {"type": "say"}
    if len(items) == 1:
        body.update(items[0])
    elif items:
        body["prompts"] = items
    else:
        body["prompts"] = [{"pause": 1}]
        build.note(widget, "says and plays nothing: a one-second pause stands in")
    loop = _loop(build, widget)
    if loop > 1:
        body["loop"] = loop
    body.update(_voice(build, widget))
    body["next"] = build.event(widget, "audioComplete")
    build.add(build.id_of(widget), body)


def gather(build: Build, widget: Widget) -> None:
    problems: list[str] = []
    props = widget.properties
    prompts = _prompts(build, widget, problems)
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    prompts = prompts * _loop(build, widget)
    if widget.routed("speech"):
        build.note(
            widget,
            "speech is not imported: the caller answers with keys here, and the 'speech' "
            f"transition to '{widget.target('speech')}' is left out (a menu with input: "
            "[dtmf, speech] and say: phrases per option takes words; see "
            "docs/speech-and-languages.md)",
        )
    body: dict[str, Any] = {"type": "collect_digits"}
    if len(prompts) == 1 and "say" in prompts[0]:
        body["prompt"] = prompts[0]["say"]
    else:
        body["prompt"] = prompts or [{"pause": 1}]
    body["store"] = build.names.output(widget.name, "Digits")
    digits = _int(props.get("number_of_digits"))
    if digits is not None and 1 <= digits <= 30:
        body["min_length"] = digits
        body["max_length"] = digits
    else:
        body["max_length"] = 30
    finish = props.get("finish_on_key", "#")
    if finish in ("", None):
        body["finish_on_key"] = None
    elif isinstance(finish, str) and re.fullmatch(r"[0-9*#]", finish):
        if finish != "#":
            body["finish_on_key"] = finish
    else:
        build.note(widget, f"properties.finish_on_key {finish!r} is not a key: # ends the entry")
    body["validate"] = {"regex": "[0-9*#]+"}  # Studio takes any keys; the split decides
    timeout = _int(props.get("timeout"))
    body["timeout"] = max(1, min(60, timeout if timeout is not None else 5))
    body["retries"] = 0  # Studio plays a gather once; a flow loops back itself
    body.update(_voice(build, widget))
    keypress = build.event(widget, "keypress")
    body["next"] = keypress
    body["on"] = {"invalid": keypress, "no_input": build.event(widget, "timeout")}
    entry = build.id_of(widget)
    if digits is not None and digits > 1:
        # An entry shorter than N keys goes on as `invalid`, storing nothing: cleared first,
        # so a flow that loops back does not read the entry before.
        build.note(
            widget,
            f"an entry of fewer than {digits} keys reaches '{widget.target('keypress')}' with "
            "no digits (Studio passes the short entry)",
        )
        keys = build.new_id(f"{entry}_keys")
        build.add(entry, {"type": "set_data", "set": {body["store"]: ""}, "next": keys})
        entry = keys
    build.add(entry, body)


def set_variables(build: Build, widget: Widget) -> None:
    problems: list[str] = []
    values = _assignments(build, widget, "variables", problems, need_key=True)
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    if not values:
        values = {"StudioWidget": widget.name}
    build.add(
        build.id_of(widget),
        {"type": "set_data", "set": values, "next": build.event(widget, "next")},
    )


def _assignments(
    build: Build, widget: Widget, prop: str, problems: list[str], *, need_key: bool
) -> dict[str, Any]:
    """Studio's `[{key, value}]` list in `prop` as data source → value (an item with no key is
    a problem where `need_key`, else skipped)."""
    values: dict[str, Any] = {}
    items = widget.properties.get(prop) or []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            if need_key:
                problems.append(f"properties.{prop}[{i}]: needs a key")
            continue
        mapped = build.names.text(item.get("value", ""))
        problems.extend(f"properties.{prop}[{i}]: {p}" for p in mapped.problems)
        values[build.names.variable(item["key"])] = mapped.text
    return values


def _phone(build: Build, widget: Widget, prop: str, problems: list[str]) -> str | None:
    value = widget.properties.get(prop)
    if value in (None, ""):
        return None
    text = build.text(prop, value, problems).strip()
    for number in text.split(","):
        if "$(" not in number and not _E164.fullmatch(number.strip()):
            problems.append(f"properties.{prop}: '{number.strip()}' is not an E.164 number")
    return text


def _caller_id(build: Build, widget: Widget) -> str | None:
    """The caller ID to present, when it is one; else the caller's own (and a note)."""
    value = widget.properties.get("caller_id")
    if not isinstance(value, str) or not value or "contact.channel.address" in value:
        return None
    problems: list[str] = []
    text = _phone(build, widget, "caller_id", problems)
    if problems or text is None:
        build.note(widget, "; ".join(problems) + ": the caller's own number is presented")
        return None
    return text


def connect_call_to(build: Build, widget: Widget) -> None:
    props = widget.properties
    noun = props.get("noun", "number")
    if noun not in ("number", "number-multi"):
        what = NOUNS.get(str(noun), f"a {noun}")
        return build.placeholder(widget, f"connects to {what}; a transfer dials phone numbers")
    problems: list[str] = []
    to = _phone(build, widget, "to", problems)
    body: dict[str, Any] = {"type": "transfer"}
    if to is None:
        problems.append("properties.to: no number to connect to")
    elif noun == "number-multi" and "$(" in to:
        problems.append("properties.to: numbers read from Liquid (one text, several numbers)")
    elif noun == "number-multi":
        body["numbers"] = [n.strip() for n in to.split(",") if n.strip()]
    else:
        body["number"] = to
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    if noun == "number-multi":
        build.note(widget, "Studio rings these numbers at once; the transfer tries them in order")
    caller_id = _caller_id(build, widget)
    if caller_id is not None:
        body["caller_id"] = caller_id
    timeout = _int(props.get("timeout"))
    if timeout is not None:
        body["ring_timeout"] = max(5, min(600, timeout))
    limit = _int(props.get("time_limit"))
    if limit is not None:
        body["time_limit"] = max(1, min(86400, limit))
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    if props.get("record") in (True, "true"):
        build.note(widget, "the connected call is not recorded (call plans do not record)")
    done = build.event(widget, "callCompleted")
    body["next"] = done
    body["on"] = {"failure": done}
    build.add(build.id_of(widget), body)


def enqueue_call(build: Build, widget: Widget) -> None:
    props = widget.properties
    if props.get("workflow_sid") or props.get("task_attributes"):
        return build.placeholder(
            widget, "a TaskRouter (Flex) workflow: place the caller in a named queue instead"
        )
    problems: list[str] = []
    queue = build.text("queue_name", props.get("queue_name"), problems).strip()
    if not queue:
        problems.append("properties.queue_name: no queue")
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    full, error = widget.target("failedToEnqueue"), widget.target("callFailure")
    failed = full or error
    if full != error and full is not None and error is not None:
        build.note(
            widget,
            f"a full queue and a queue error both go to '{full}' (the transfer has one failure "
            f"route; callFailure's '{error}' is not used)",
        )
    build.add(
        build.id_of(widget),
        {
            "type": "transfer",
            "queue": queue,
            "next": build.event(widget, "callComplete"),
            "on": {"failure": build.route(failed)},
        },
    )


def _continue_in(build: Build, widget: Widget, sid: str) -> str:
    plan = build.options.subflows.get(sid)
    if plan is None:
        plan = f"flow_{sid.lower()}"
        build.note(
            widget,
            f"continues in the flow {sid}: import it with --plan-id {plan} "
            f"(or name its plan with --subflow {sid}=PLAN_ID)",
        )
    return plan


def redirect(build: Build, widget: Widget) -> None:
    url = widget.properties.get("url")
    m = _FLOW_WEBHOOK.match(url) if isinstance(url, str) else None
    if m is None:
        return build.placeholder(
            widget, "hands the call to TwiML at a URL; a call plan cannot run outside TwiML"
        )
    if widget.routed("return"):
        build.note(
            widget, f"the other flow does not come back: '{widget.target('return')}' is not used"
        )
    build.add(
        build.id_of(widget), {"type": "goto_plan", "plan": _continue_in(build, widget, m.group(1))}
    )


def run_subflow(build: Build, widget: Widget) -> None:
    if widget.routed("completed") or widget.routed("failed"):
        return build.placeholder(
            widget,
            "the subflow comes back to this flow, and goto_plan does not return: map it only "
            "where the subflow ends the call (make it the subflow's own plan's job)",
        )
    sid = widget.properties.get("flow_sid")
    if not isinstance(sid, str) or not sid:
        return build.placeholder(widget, "properties.flow_sid: no subflow named")
    problems: list[str] = []
    values = _assignments(build, widget, "parameters", problems, need_key=False)
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    goto = {"type": "goto_plan", "plan": _continue_in(build, widget, sid)}
    if not values:
        build.add(build.id_of(widget), goto)
        return
    entry = build.id_of(widget)
    then = build.new_id(f"{entry}_go")
    build.add(entry, {"type": "set_data", "set": values, "next": then})
    build.add(then, goto)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
