"""Import a Studio flow: widgets on the call's path → applets, checked by the plan loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr.engine.loader import load_text
from ivr.errors import PlanError
from ivr.lang.diagnostics import Diagnostic
from ivr.studio import services, splits, voice
from ivr.studio.build import END_OF_FLOW, FALLBACK, Build, Finding, Inline, Options
from ivr.studio.flow import Flow, FlowError, Widget
from ivr.studio.liquid import liquid_paths, plain
from ivr.studio.writer import plan_yaml

Converter = Callable[[Build, Widget], None]

CONVERTERS: dict[str, Converter] = {
    "say-play": voice.say_play,
    "gather-input-on-call": voice.gather,
    "set-variables": voice.set_variables,
    "connect-call-to": voice.connect_call_to,
    "enqueue-call": voice.enqueue_call,
    "add-twiml-redirect": voice.redirect,
    "run-subflow": voice.run_subflow,
    "split-based-on": splits.split,
    "make-http-request": services.http_request,
    "capture-payments": services.capture_payments,
}
UNSUPPORTED: dict[str, str] = {
    "send-message": "SMS widgets: a call plan does not send messages",
    "send-and-wait-for-reply": "SMS widgets: a call plan does not send or wait for messages",
    "run-function": (
        "Twilio Functions run in Twilio's cloud: serve the same logic as a web service and "
        "call it with a data_connector"
    ),
    "send-to-flex": "Flex (TaskRouter) is not available: transfer to a queue or a number",
    "record-voicemail": "call plans do not record the caller",
    "record-call": "call plans do not record calls",
    "fork-stream": "media streams are not supported",
    "connect-virtual-agent": "virtual agents (Dialogflow) are not supported",
    "send-to-auto-pilot": "Autopilot is not supported",
    "send-to-autopilot": "Autopilot is not supported",
    "set-up-conversation": "Conversations are not a voice channel",
    "make-outgoing-call": "a plan answers calls; outbound calls are placed by collections",
    "make-outgoing-call-v2": "a plan answers calls; outbound calls are placed by collections",
}


@dataclass
class Imported:
    """The plan's YAML, what differs from the flow, and the loader's warnings."""

    text: str
    plan_id: str
    findings: list[Finding]
    notes: list[str]
    left_out: list[Widget]
    warnings: list[Diagnostic]
    applets: int

    @property
    def not_imported(self) -> list[Finding]:
        return [f for f in self.findings if f.placeholder]


def import_flow(flow: Flow, options: Options, *, source_name: str = "flow") -> Imported:
    trigger = flow.trigger
    entry = "incomingCall" if trigger.routed("incomingCall") else "incomingParent"
    if not trigger.routed(entry):
        raise FlowError(
            [
                f"{trigger.where}: neither incomingCall nor incomingParent leads anywhere: "
                "the flow does not answer calls"
            ]
        )
    build = Build(flow, options)
    for widget in flow.widgets.values():  # which widget outputs later widgets read
        for path in liquid_paths(widget.properties):
            build.names.reference(path)
        for t in widget.transitions:
            for cond in t.conditions:
                for path in liquid_paths(cond):
                    build.names.reference(path)
    start = build.event(trigger, entry)
    while build.queue:
        widget = build.queue.popleft()
        _convert(build, widget)
    if build.used_end:
        build.add(END_OF_FLOW, {"type": "hangup", "description": "the end of the Studio flow"})
    build.add(FALLBACK, _fallback(options))
    left_out = [
        w for w in flow.widgets.values() if w.name not in build.seen and w.type != "trigger"
    ]
    positions = {build.names.applet_ids[w]: flow.widgets[w].offset for w in build.seen}
    for applet_id in build.applets:
        offset = positions.get(applet_id)
        if offset is not None:
            build.layout[applet_id] = Inline(x=offset[0], y=offset[1])
    plan = _plan(flow, options, build, start)
    notes = list(build.names.renamed)
    text = plan_yaml(plan, source_name, build.findings, left_out, notes)
    try:
        _, report = load_text(text, f"{options.plan_id}.yaml")
    except PlanError as exc:  # a bug of ours, not of the flow: say so plainly
        raise ImportBug(text, exc.diagnostics) from None
    return Imported(
        text,
        options.plan_id,
        build.findings,
        notes,
        left_out,
        report.warnings,
        len(build.applets),
    )


class ImportBug(Exception):
    """The plan written does not load: a fault of the importer, with the loader's errors."""

    def __init__(self, text: str, diagnostics: list[Diagnostic]):
        super().__init__("the imported plan does not validate")
        self.text, self.diagnostics = text, diagnostics


def _convert(build: Build, widget: Widget) -> None:
    converter = CONVERTERS.get(widget.type)
    if converter is not None:
        converter(build, widget)
        return
    reason = UNSUPPORTED.get(widget.type)
    if reason is None:
        reason = f"'{widget.type}' is not a Studio widget this importer knows"
    if widget.type == "trigger":
        reason = "a transition back to the trigger (a plan starts once per call)"
    build.placeholder(widget, reason)


def _fallback(options: Options) -> dict[str, Any]:
    if options.agent_number:
        return {
            "type": "transfer",
            "description": "where a part of the flow that was not imported, or an error, goes",
            "announce": "Sorry, we cannot do that here. Connecting you to someone who can.",
            "number": options.agent_number,
            "next": END_OF_FLOW,
            "on": {"failure": END_OF_FLOW},
        }
    return {
        "type": "hangup",
        "description": "where a part of the flow that was not imported, or an error, goes",
        "say": "Sorry, we cannot complete your call. Please call again later. Goodbye.",
    }


def _plan(flow: Flow, options: Options, build: Build, start: str) -> dict[str, Any]:
    plan: dict[str, Any] = {"plan": options.plan_id}
    if flow.description:
        plan["description"] = plain(flow.description)
    if options.numbers:
        plan["numbers"] = list(options.numbers)
    plan["start"] = start
    plan["fallback"] = FALLBACK
    if build.data:
        plan["data"] = build.data
    if build.secrets:
        plan["secrets"] = build.secrets
    plan["applets"] = dict(build.applets)
    if build.layout:
        plan["layout"] = build.layout
    return plan
