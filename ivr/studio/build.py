"""The plan being built from a flow: applets by id, routes to widgets, and what was not kept."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ivr.studio.flow import Flow, Widget
from ivr.studio.liquid import Mapped, Names, plain, snake

END_OF_FLOW = "end_of_flow"
FALLBACK = "not_imported"
DEFAULT_PCI_URL = "http://127.0.0.1:8080/pci/v1"


class Inline(dict):  # type: ignore[type-arg]
    """A small map the plan file writes on one line: a rule, a position, a map of routes."""


@dataclass(frozen=True)
class Options:
    plan_id: str
    pci_url: str = DEFAULT_PCI_URL
    agent_number: str | None = None
    numbers: tuple[str, ...] = ()
    subflows: dict[str, str] = field(default_factory=dict)  # flow SID → plan id


@dataclass(frozen=True)
class Finding:
    """Something of the flow that the plan does not do as Studio would."""

    widget: Widget
    message: str
    placeholder: bool  # the whole widget became a placeholder routed to the fallback

    def line(self) -> str:
        what = "not imported" if self.placeholder else "imported with a difference"
        return f"{self.widget.where}: {what}: {self.message}"


class Build:
    def __init__(self, flow: Flow, options: Options):
        self.flow = flow
        self.options = options
        self.applets: dict[str, dict[str, Any]] = {}
        self.findings: list[Finding] = []
        self.layout: dict[str, dict[str, int]] = {}
        self.data: dict[str, Any] = {}
        self.secrets: list[str] = []
        self._taken: set[str] = {END_OF_FLOW, FALLBACK}
        ids: dict[str, str] = {}
        for name in flow.widgets:
            ids[name] = self.new_id(snake(name))
        self.names = Names(flow, ids)
        self.queue: deque[Widget] = deque()
        self.seen: set[str] = set()
        self.used_end = False

    def new_id(self, wanted: str) -> str:
        """An applet id not yet taken, `wanted` when free."""
        candidate, n = wanted, 2
        while candidate in self._taken:
            candidate = f"{wanted}_{n}"
            n += 1
        self._taken.add(candidate)
        return candidate

    def id_of(self, widget: Widget) -> str:
        return self.names.applet_ids[widget.name]

    def route(self, target: str | None) -> str:
        """The applet a Studio transition leads to: a widget's, or the end of the flow."""
        if target is None:
            self.used_end = True
            return END_OF_FLOW
        widget = self.flow.widgets[target]
        if widget.name not in self.seen:
            self.seen.add(widget.name)
            self.queue.append(widget)
        return self.id_of(widget)

    def event(self, widget: Widget, event: str) -> str:
        return self.route(widget.target(event))

    def add(self, applet_id: str, body: dict[str, Any]) -> str:
        if isinstance(body.get("on"), dict):
            body["on"] = Inline(body["on"])
        self.applets[applet_id] = body
        return applet_id

    def note(self, widget: Widget, message: str) -> None:
        self.findings.append(Finding(widget, message, placeholder=False))

    def text(self, prop: str, value: Any, problems: list[str]) -> str:
        """Studio text as plan text; what cannot be carried over goes to `problems`."""
        mapped: Mapped = self.names.text(value)
        problems.extend(f"properties.{prop}: {p}" for p in mapped.problems)
        return mapped.text

    def placeholder(self, widget: Widget, reason: str) -> None:
        """The widget as an applet that routes to the plan's fallback, saying what it was."""
        self.findings.append(Finding(widget, reason, placeholder=True))
        self.add(
            self.id_of(widget),
            {
                "type": "set_data",
                "description": plain(
                    f"Studio {widget.type} '{widget.name}' not imported: {reason}"
                ),
                "set": {
                    "StudioWidgetNotImported": plain(widget.name),
                    "InteractionOutcome": "StudioWidgetNotImported",
                },
                "next": FALLBACK,
            },
        )
