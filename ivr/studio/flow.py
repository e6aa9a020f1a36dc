"""A Studio flow definition read and checked: its widgets, their transitions and properties.

Studio keeps a flow as JSON (`states`, `initial_state`, `flags`; each state a `name`, `type`,
`transitions` of `{event, next}` and `properties`). The same definition comes wrapped by
Studio's REST API (`definition`), by the Twilio CLI (a list of flows) and by Terraform (the
definition as a JSON string); each is unwrapped here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

MAX_FLOW_BYTES = 5 * 1024 * 1024
MAX_WIDGETS = 5_000
MAX_OFFSET = 1_000_000  # a plan's layout: holds positions within this


class FlowError(Exception):
    """A definition that cannot be imported; `problems` say what and where."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Transition:
    event: str
    next: str | None
    conditions: tuple[dict[str, Any], ...] = ()
    index: int = 0


@dataclass(frozen=True)
class Widget:
    name: str
    type: str
    index: int
    transitions: tuple[Transition, ...]
    properties: dict[str, Any] = field(default_factory=dict)

    def target(self, event: str) -> str | None:
        for t in self.transitions:
            if t.event == event:
                return t.next
        return None

    def routed(self, event: str) -> bool:
        return self.target(event) is not None

    @property
    def offset(self) -> tuple[int, int] | None:
        """The widget's canvas position, when it is one a plan's layout can hold."""
        offset = self.properties.get("offset")
        if not isinstance(offset, dict):
            return None
        x, y = offset.get("x"), offset.get("y")
        if not (_coordinate(x) and _coordinate(y)):
            return None
        return int(x or 0), int(y or 0)

    @property
    def where(self) -> str:
        return f"states[{self.index}] '{self.name}' ({self.type})"


def _coordinate(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and abs(value) <= MAX_OFFSET


@dataclass(frozen=True)
class Flow:
    widgets: dict[str, Widget]
    initial: str
    description: str | None = None

    @property
    def trigger(self) -> Widget:
        return self.widgets[self.initial]


def parse_flow(text: str) -> Flow:
    """The flow in `text` (a definition, or an API, CLI or Terraform wrapper of one)."""
    if len(text.encode()) > MAX_FLOW_BYTES:
        raise FlowError(
            [f"the file is over {MAX_FLOW_BYTES:,} bytes; a Studio flow is far smaller"]
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowError([f"not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"]) from None
    except RecursionError:
        raise FlowError(["not a Studio flow: the JSON is nested too deeply"]) from None
    try:
        data = _clean(_unwrap(data))
    except RecursionError:
        raise FlowError(["not a Studio flow: the JSON is nested too deeply"]) from None
    return read_definition(data)


def _clean(value: Any) -> Any:
    """Text as UTF-8 can hold it: a lone surrogate (JSON allows `\\ud800`) becomes `?`."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _unwrap(data: Any) -> Any:
    if isinstance(data, list) and len(data) == 1:  # `twilio api:studio:v2:flows:fetch -o json`
        data = data[0]
    if isinstance(data, dict) and "states" not in data and "definition" in data:
        data = data["definition"]  # the REST API's flow resource
        if isinstance(data, str):  # Terraform's flow_definition = jsonencode(...)
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise FlowError([f"definition: not JSON: {exc.msg}"]) from None
    return data


def read_definition(data: Any) -> Flow:
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("states"), list):
        raise FlowError(["not a Studio flow definition: expected an object with a 'states' list"])
    states = data["states"]
    if len(states) > MAX_WIDGETS:
        raise FlowError([f"states: {len(states):,} widgets, over the limit of {MAX_WIDGETS:,}"])
    widgets: dict[str, Widget] = {}
    for i, state in enumerate(states):
        widget = _widget(i, state, problems)
        if widget is None:
            continue
        if widget.name in widgets:
            problems.append(f"states[{i}]: a second widget named '{widget.name}'")
            continue
        widgets[widget.name] = widget
    for widget in widgets.values():
        for t in widget.transitions:
            if t.next is not None and t.next not in widgets:
                problems.append(
                    f"{widget.where}: transition '{t.event}' goes to '{t.next}', "
                    "which is not a widget of this flow"
                )
    initial = data.get("initial_state", "Trigger")
    if not isinstance(initial, str) or initial not in widgets:
        triggers = [w.name for w in widgets.values() if w.type == "trigger"]
        if len(triggers) == 1:
            initial = triggers[0]
        else:
            problems.append(f"initial_state: no widget '{initial}' (the flow's trigger)")
    elif widgets[initial].type != "trigger":
        problems.append(f"initial_state: '{initial}' is a {widgets[initial].type}, not a trigger")
    if problems:
        raise FlowError(problems)
    description = data.get("description")
    return Flow(widgets, initial, description if isinstance(description, str) else None)


def _widget(i: int, state: Any, problems: list[str]) -> Widget | None:
    where = f"states[{i}]"
    if not isinstance(state, dict):
        problems.append(f"{where}: expected a widget object, found {type(state).__name__}")
        return None
    name, kind = state.get("name"), state.get("type")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: missing the widget's 'name'")
        return None
    if not isinstance(kind, str) or not kind:
        problems.append(f"{where} '{name}': missing the widget's 'type'")
        return None
    properties = state.get("properties", {})
    if not isinstance(properties, dict):
        problems.append(f"{where} '{name}': properties must be an object")
        properties = {}
    transitions: list[Transition] = []
    raw = state.get("transitions", [])
    if not isinstance(raw, list):
        problems.append(f"{where} '{name}': transitions must be a list")
        raw = []
    for j, t in enumerate(raw):
        if not isinstance(t, dict) or not isinstance(t.get("event"), str):
            problems.append(f"{where} '{name}': transitions[{j}] needs an 'event'")
            continue
        target = t.get("next") or None
        if target is not None and not isinstance(target, str):
            problems.append(f"{where} '{name}': transitions[{j}].next must be a widget name")
            continue
        conditions = t.get("conditions") or []
        if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
            problems.append(f"{where} '{name}': transitions[{j}].conditions must be a list")
            conditions = []
        transitions.append(Transition(t["event"], target, tuple(conditions), j))
    return Widget(name, kind, i, tuple(transitions), properties)
