"""Studio's split-based-on as data routers.

A split's transitions are tried in order; each `match` transition holds conditions that must
all hold, and `noMatch` is where the call goes otherwise. One condition each (the usual case)
is one data_router. A transition with several conditions, or a negated condition the router
has no operator for (`does_not_start_with`, `does_not_match_any_of`), becomes a short chain of
routers that keeps Studio's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.studio.build import Build, Inline
from ivr.studio.flow import Widget

# Studio condition type → (operator, compare as, negated)
CONDITIONS: dict[str, tuple[str, str | None, bool]] = {
    "equal_to": ("equals", None, False),
    "not_equal_to": ("not_equals", None, False),
    "matches_any_of": ("in", None, False),
    "does_not_match_any_of": ("in", None, True),
    "is_blank": ("is_null", None, False),
    "is_not_blank": ("is_not_null", None, False),
    "regex": ("matches", None, False),
    "contains": ("contains", None, False),
    "does_not_contain": ("not_contains", None, False),
    "starts_with": ("starts_with", None, False),
    "does_not_start_with": ("starts_with", None, True),
    "less_than": ("less_than", "number", False),
    "greater_than": ("greater_than", "number", False),
    "is_before_date": ("less_than", "date", False),
    "is_after_date": ("greater_than", "date", False),
}
NOT_MAPPED = {
    "is_before_time": "a time-of-day comparison: route on the time with a time_router",
    "is_after_time": "a time-of-day comparison: route on the time with a time_router",
}


@dataclass(frozen=True)
class Test:
    rule: dict[str, Any]  # source, op, value, type (goto added where it is placed)
    negated: bool


@dataclass(frozen=True)
class Branch:
    tests: tuple[Test, ...]
    target: str


class _Inputs:
    """The data source each distinct split argument is read from; computed ones are set
    by a set_data in front of the routers."""

    def __init__(self, build: Build, base: str):
        self.build, self.base = build, base
        self.sources: dict[str, str] = {}
        self.computed: dict[str, str] = {}

    def source(self, text: str, where: str, problems: list[str]) -> str | None:
        if text in self.sources:
            return self.sources[text]
        mapped = self.build.names.text(text)
        if mapped.problems:
            problems.extend(f"{where}: {p}" for p in mapped.problems)
            return None
        if mapped.source is not None:
            name = mapped.source
        else:
            name = f"{self.base}_input" + (f"_{len(self.computed) + 1}" if self.computed else "")
            self.computed[name] = mapped.text
        self.sources[text] = name
        return name


def split(build: Build, widget: Widget) -> None:
    props = widget.properties
    entry = build.id_of(widget)
    inputs = _Inputs(build, entry)
    problems: list[str] = []
    branches: list[tuple[tuple[Test, ...], str | None]] = []
    for t in widget.transitions:
        if t.event != "match":
            continue
        tests = []
        for k, cond in enumerate(t.conditions):
            where = f"transitions[{t.index}].conditions[{k}]"
            test = _test(build, cond, props.get("input"), inputs, where, problems)
            if test is not None:
                tests.append(test)
        if not t.conditions:
            problems.append(f"transitions[{t.index}]: a match with no conditions")
        branches.append((tuple(tests), t.next))
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    placed = [Branch(tests, build.route(target)) for tests, target in branches]
    default = build.event(widget, "noMatch")
    first = entry
    if inputs.computed:
        first = build.new_id(f"{entry}_route")
        build.add(entry, {"type": "set_data", "set": dict(inputs.computed), "next": first})
    _Routers(build, entry, placed, default).chain(0, first)


class _Routers:
    def __init__(self, build: Build, base: str, branches: list[Branch], default: str):
        self.build, self.base, self.branches, self.default = build, base, branches, default

    def _id(self, wanted: str | None) -> str:
        return wanted or self.build.new_id(f"{self.base}_then")

    def chain(self, i: int, wanted: str | None = None) -> str:
        """The applet that tries branches i.. in order, else the split's noMatch."""
        if i == len(self.branches):
            if wanted is None:
                return self.default
            return self._router(wanted, [], self.default)
        simple: list[dict[str, Any]] = []
        j = i
        while j < len(self.branches) and _simple(self.branches[j]):
            simple.append(Inline(self.branches[j].tests[0].rule, goto=self.branches[j].target))
            j += 1
        if simple:
            applet = self._id(wanted)
            self.build.applets[applet] = {}  # keep the file in reading order
            return self._router(applet, simple, self.chain(j))
        branch = self.branches[i]
        ids = [self._id(wanted)] + [self._id(None) for _ in branch.tests[1:]]
        for applet in ids:
            self.build.applets[applet] = {}
        rest = self.chain(i + 1)
        for k, test in enumerate(branch.tests):
            then = ids[k + 1] if k + 1 < len(ids) else branch.target
            if test.negated:
                self._router(ids[k], [Inline(test.rule, goto=rest)], then)
            else:
                self._router(ids[k], [Inline(test.rule, goto=then)], rest)
        return ids[0]

    def _router(self, applet: str, rules: list[dict[str, Any]], default: str) -> str:
        body: dict[str, Any] = {"type": "data_router"}
        if rules:
            body["rules"] = rules
        body["default"] = default
        return self.build.add(applet, body)


def _simple(branch: Branch) -> bool:
    return len(branch.tests) == 1 and not branch.tests[0].negated


def _test(
    build: Build,
    cond: dict[str, Any],
    split_input: Any,
    inputs: _Inputs,
    where: str,
    problems: list[str],
) -> Test | None:
    kind = cond.get("type")
    if not isinstance(kind, str):
        problems.append(f"{where}: the condition's type must be text, found {kind!r}")
        return None
    if kind in NOT_MAPPED:
        problems.append(f"{where}: {kind}: {NOT_MAPPED[kind]}")
        return None
    if kind not in CONDITIONS:
        problems.append(f"{where}: unknown condition type {kind!r}")
        return None
    op, compare, negated = CONDITIONS[kind]
    arguments = cond.get("arguments")
    argument = arguments[0] if isinstance(arguments, list) and arguments else split_input
    if not isinstance(argument, str) or not argument.strip():
        problems.append(f"{where}: no input to test")
        return None
    source = inputs.source(argument, where, problems)
    if source is None:
        return None
    rule: dict[str, Any] = {"source": source, "op": op}
    value = cond.get("value", "")
    if op == "in":
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        rule["value"] = [_value(build, v, where, problems) for v in items]
    elif op == "matches":  # Studio's regex: a full match, as the router's
        rule["value"] = _value(build, value, where, problems, regex=True)
    elif op not in ("is_null", "is_not_null"):
        rule["value"] = _value(build, str(value).strip(), where, problems)
    if compare is not None:
        rule["type"] = compare
    return Test(rule, negated)


def _value(
    build: Build, value: Any, where: str, problems: list[str], *, regex: bool = False
) -> str:
    mapped = build.names.text("" if value is None else value, regex=regex)
    problems.extend(f"{where}.value: {p}" for p in mapped.problems)
    return mapped.text
