"""Studio's voice widgets as applets: say-play, gather-input-on-call, set-variables,
connect-call-to, enqueue-call, add-twiml-redirect and run-subflow."""

from __future__ import annotations

import re
from typing import Any

from ivr.studio.build import Build
from ivr.studio.flow import Widget
from ivr.studio.liquid import variable_name

_FLOW_WEBHOOK = re.compile(r"https://webhooks\.twilio\.com/v1/Accounts/AC\w+/Flows/(FW\w+)")
NOUNS = {
    "sip": "a SIP endpoint",
    "client": "a Twilio Client",
    "sim": "a Twilio SIM",
    "conference": "a conference",
}
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _voice(props: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    voice = props.get("voice")
    if isinstance(voice, str) and voice and voice != "default":
        out["voice"] = voice
    language = props.get("language")
    if isinstance(language, str) and language and language != "default":
        out["language"] = language
    return out


def _prompts(build: Build, widget: Widget, problems: list[str]) -> list[dict[str, Any]]:
    props = widget.properties
    items: list[dict[str, Any]] = []
    if props.get("say"):
        items.append({"say": build.text(widget, "say", props["say"], problems)})
    if props.get("play"):
        items.append({"play": build.text(widget, "play", props["play"], problems)})
    return items


def _loop(props: dict[str, Any]) -> int:
    loop = props.get("loop", 1)
    try:
        return max(1, min(10, int(loop)))
    except (TypeError, ValueError):
        return 1


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
    if _loop(props) > 1:
        body["loop"] = _loop(props)
    body.update(_voice(props))
    body["next"] = build.event(widget, "audioComplete")
    build.add(build.id_of(widget), body)


def gather(build: Build, widget: Widget) -> None:
    problems: list[str] = []
    props = widget.properties
    prompts = _prompts(build, widget, problems) * _loop(props)
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    if widget.routed("speech"):
        build.note(
            widget,
            "speech input is not supported yet: the caller answers with keys only, and the "
            f"'speech' transition to '{widget.target('speech')}' is not imported",
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
    elif finish != "#" and isinstance(finish, str) and len(finish) == 1:
        body["finish_on_key"] = finish
    body["validate"] = {"regex": "[0-9*#]+"}  # Studio takes any keys; the split decides
    timeout = _int(props.get("timeout"))
    body["timeout"] = max(1, min(60, timeout if timeout is not None else 5))
    body["retries"] = 0  # Studio plays a gather once; a flow loops back itself
    body.update(_voice(props))
    keypress = build.event(widget, "keypress")
    body["next"] = keypress
    body["on"] = {"invalid": keypress, "no_input": build.event(widget, "timeout")}
    build.add(build.id_of(widget), body)


def set_variables(build: Build, widget: Widget) -> None:
    problems: list[str] = []
    values: dict[str, Any] = {}
    variables = widget.properties.get("variables") or []
    for i, item in enumerate(variables if isinstance(variables, list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            problems.append(f"properties.variables[{i}]: needs a key")
            continue
        mapped = build.names.text(item.get("value", ""))
        problems.extend(f"properties.variables[{i}]: {p}" for p in mapped.problems)
        values[variable_name(item["key"])] = mapped.text
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    if not values:
        values = {"StudioWidget": widget.name}
    build.add(
        build.id_of(widget),
        {"type": "set_data", "set": values, "next": build.event(widget, "next")},
    )


def _phone(build: Build, widget: Widget, prop: str, problems: list[str]) -> str | None:
    value = widget.properties.get(prop)
    if value in (None, ""):
        return None
    text = build.text(widget, prop, value, problems).strip()
    for number in text.split(","):
        if "$(" not in number and not _E164.fullmatch(number.strip()):
            problems.append(f"properties.{prop}: '{number.strip()}' is not an E.164 number")
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
    elif noun == "number-multi":
        body["numbers"] = [n.strip() for n in to.split(",") if n.strip()]
        build.note(widget, "Studio rings these numbers at once; the transfer tries them in order")
    else:
        body["number"] = to
    caller_id = props.get("caller_id")
    if isinstance(caller_id, str) and caller_id and "contact.channel.address" not in caller_id:
        body["caller_id"] = build.text(widget, "caller_id", caller_id, problems)
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
    queue = build.text(widget, "queue_name", props.get("queue_name"), problems).strip()
    if not queue:
        problems.append("properties.queue_name: no queue")
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    failed = widget.target("failedToEnqueue") or widget.target("callFailure")
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
    values: dict[str, Any] = {}
    parameters = widget.properties.get("parameters") or []
    for i, item in enumerate(parameters if isinstance(parameters, list) else []):
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            mapped = build.names.text(item.get("value", ""))
            problems.extend(f"properties.parameters[{i}]: {p}" for p in mapped.problems)
            values[variable_name(item["key"])] = mapped.text
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
