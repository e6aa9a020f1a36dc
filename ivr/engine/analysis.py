"""Graph checks of a plan: targets exist, applets are reachable, data sources are set before use."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from foundation.suggest import did_you_mean
from ivr.engine.protocol import TURN_BUDGET
from ivr.engine.registry import REGISTRY
from ivr.lang.diagnostics import Path, Report
from ivr.lang.fields import INVALID
from ivr.lang.model import BUILTIN_SOURCES, AppletSpec, Plan


def check_graph(
    report: Report,
    raw: dict[str, Any],
    specs: list[AppletSpec],
    origins: dict[str, dict[str, Path]],
    *,
    start: Any,
    fallback: Any,
    data: Mapping[str, Any] | None,
    entry_sources: Mapping[str, set[str]] | None = None,
) -> None:
    raw_applets: dict[str, Any] = raw["applets"] if isinstance(raw.get("applets"), dict) else {}
    ids = set(raw_applets)
    for key, value in (("start", start), ("fallback", fallback)):
        if isinstance(value, str) and value not in ids:
            report.error((key,), f"no applet '{value}'{did_you_mean(value, ids)}")
    for spec in specs:
        for outcome, target in spec.routes.items():
            if target not in ids:
                report.error(
                    origins[spec.id][outcome], f"no applet '{target}'{did_you_mean(target, ids)}"
                )
    if report.errors:
        return
    by_id = {s.id: s for s in specs}
    roots = [r for r in (start, fallback) if isinstance(r, str) and r in by_id]
    reachable = _reachable(by_id, roots)
    for applet_id in raw_applets:
        if applet_id not in reachable:
            report.warning(
                ("applets", applet_id), f"applet '{applet_id}' is unreachable from start", key=True
            )
    for applet_id, spec in by_id.items():
        cls = REGISTRY[spec.type]
        if spec.routes or cls.is_terminal() or applet_id not in reachable:
            continue
        names = ", ".join(cls.outcome_names(spec.config)) or "its outcomes"
        then = (
            f"the plan's fallback '{fallback}'"
            if isinstance(fallback, str)
            else "an apology, and the call ends"
        )
        report.warning(
            ("applets", applet_id),
            f"applet '{applet_id}' has no way out: none of its outcomes ({names}) is routed, "
            f"so every call that reaches it goes to {then}; add next: (or on:)",
            key=True,
        )
    constants = set(data or {}) if data is not INVALID else set()
    _check_sources(
        report,
        raw_applets,
        by_id,
        reachable,
        start,
        fallback,
        set(BUILTIN_SOURCES) | constants,
        entry_sources or {},
    )
    check_turn_budget(report, by_id, roots)
    check_types(report, by_id)
    check_missing(report, by_id)


def check_types(report: Report, by_id: dict[str, AppletSpec]) -> None:
    """Let applets compare sources in the type declared where they are set (an amount read by a
    data_connector), and warn where the same source is declared with two types."""
    types: dict[str, str | None] = {}
    declared_at: dict[str, str] = {}
    conflicting: set[str] = set()
    for applet_id, spec in by_id.items():
        for name, kind in REGISTRY[spec.type].declared_types(spec.config).items():
            if kind is None:
                types.setdefault(name, None)
            elif name in types and types[name] not in (None, kind):
                report.warning(
                    ("applets", applet_id),
                    f"'{name}' compares as {kind} here but as {types[name]} where "
                    f"'{declared_at[name]}' sets it; rules comparing it need type:",
                )
                conflicting.add(name)
            else:
                types[name] = kind
                declared_at.setdefault(name, applet_id)
    for name in conflicting:
        types[name] = None
    for applet_id, spec in by_id.items():
        REGISTRY[spec.type].check_types(spec.config, types, ("applets", applet_id), report)


def check_missing(report: Report, by_id: dict[str, AppletSpec]) -> None:
    """Warn where an applet routes on a source that a web answer may leave null as though it
    had a value (a caller who owes money must not hear that they owe nothing)."""
    missing: set[str] = set()
    for spec in by_id.values():
        missing |= REGISTRY[spec.type].may_leave_missing(spec.config)
    if not missing:
        return
    for applet_id, spec in by_id.items():
        REGISTRY[spec.type].check_missing(spec.config, missing, ("applets", applet_id), report)


def check_turn_budget(
    report: Report, by_id: dict[str, AppletSpec], roots: list[str], budget: float = TURN_BUDGET
) -> None:
    """Warn where one turn (from a webhook to the next prompt) can take longer than the
    budget: the web calls on its worst path, timeouts (retries included) added up."""
    cls_of = {a: REGISTRY[spec.type] for a, spec in by_id.items()}
    starts = list(roots)
    for applet_id, spec in by_id.items():
        if cls_of[applet_id].ends_turn:
            starts.extend(t for t in spec.routes.values() if t in by_id)
    cost, best = _turn_costs(by_id, cls_of)
    reported: set[tuple[str, ...]] = set()
    for start in dict.fromkeys(starts):
        if cost[start] <= budget:
            continue
        chain: list[str] = []
        node: str | None = start
        while node is not None:
            if cls_of[node].worst_case_seconds(by_id[node].config) > 0:
                chain.append(node)
            node = best.get(node)
        key = tuple(chain)
        if key in reported or not chain:
            continue
        reported.add(key)
        parts = " + ".join(
            f"{a} {cls_of[a].worst_case_seconds(by_id[a].config):g} s" for a in chain
        )
        report.warning(
            ("applets", chain[0]),
            f"one turn can take {cost[start]:g} s ({parts}), over the "
            f"{budget:g} s turn budget (Twilio waits 15 s); lower the timeouts, "
            "or ask the caller something between these calls",
            key=True,
        )


def _turn_costs(
    by_id: dict[str, AppletSpec], cls_of: dict[str, Any]
) -> tuple[dict[str, float], dict[str, str]]:
    """For each applet, the worst seconds from entering it to the end of the turn, and the
    next applet on that worst path. Iterative (plans may be long chains); a loop counts once."""
    cost: dict[str, float] = {}
    best: dict[str, str] = {}
    on_stack: set[str] = set()

    def onward(node: str) -> Iterator[str]:
        if cls_of[node].ends_turn:
            return iter(())
        return iter([t for t in by_id[node].routes.values() if t in by_id])

    for root in by_id:
        if root in cost:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, onward(root))]
        on_stack.add(root)
        while stack:
            node, targets = stack[-1]
            child = next(targets, None)
            if child is not None:
                if child not in cost and child not in on_stack:
                    on_stack.add(child)
                    stack.append((child, onward(child)))
                continue
            stack.pop()
            on_stack.discard(node)
            own = float(cls_of[node].worst_case_seconds(by_id[node].config))
            worst, worst_next = 0.0, None
            if not cls_of[node].ends_turn:
                for target in by_id[node].routes.values():
                    if target in cost and cost[target] > worst:
                        worst, worst_next = cost[target], target
            cost[node] = own + worst
            if worst_next is not None:
                best[node] = worst_next
    return cost, best


def _reachable(by_id: dict[str, AppletSpec], roots: list[str]) -> set[str]:
    seen = set(roots)
    queue = deque(roots)
    while queue:
        for target in by_id[queue.popleft()].routes.values():
            if target in by_id and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def sets_of(spec: AppletSpec) -> set[str]:
    return REGISTRY[spec.type].sets(spec.config)


def available_sources(
    by_id: dict[str, AppletSpec],
    start: str,
    fallback: str | None,
    initial: set[str],
    entry_sources: Mapping[str, set[str]],
) -> Available:
    """For each applet, the data sources that may have been set on some path into it.

    A forward "may" analysis to a fixpoint; sets of names are int bitsets so a pass over a
    large plan stays linear in practice.
    """
    names: dict[str, int] = {}

    def bits(items: set[str]) -> int:
        value = 0
        for item in items:
            value |= 1 << names.setdefault(item, len(names))
        return value

    sets = {a: bits(sets_of(spec)) for a, spec in by_id.items()}
    into = {a: bits(set(entry_sources.get(a, ()))) for a in by_id}
    first = bits(initial)
    if start in into:
        into[start] |= first
    targets = {a: [t for t in spec.routes.values() if t in into] for a, spec in by_id.items()}
    # A worklist in plan order: an applet is visited again only when what flows into it grew
    # (a chain of applets settles in one visit each, not one pass over the plan per link).
    pending = deque(by_id)
    queued = set(by_id)
    union = first
    while pending:
        while pending:
            applet_id = pending.popleft()
            queued.discard(applet_id)
            out = into[applet_id] | sets[applet_id]
            union |= out
            for target in targets[applet_id]:
                merged = into[target] | out
                if merged != into[target]:
                    into[target] = merged
                    if target not in queued:
                        queued.add(target)
                        pending.append(target)
        if fallback in into and (into[fallback] | union) != into[fallback]:
            into[fallback] |= union  # any applet may fall through to the fallback
            queued.add(fallback)
            pending.append(fallback)
    return Available(names, into)


class Available:
    """Bitsets of possibly-set data sources per applet."""

    def __init__(self, names: dict[str, int], into: dict[str, int]):
        self.names = names
        self.into = into

    def has(self, applet_id: str, name: str) -> bool:
        index = self.names.get(name)
        return index is not None and bool(self.into[applet_id] >> index & 1)

    def at(self, applet_id: str) -> set[str]:
        """The names that may be set on entry to `applet_id`."""
        value = self.into[applet_id]
        return {name for name, i in self.names.items() if value >> i & 1}


NEVER_SET = "is never set on any path into"


def plan_sources(plan: Plan, entry_sources: Mapping[str, set[str]]) -> Available:
    """The may-be-set analysis of a loaded plan, entered also at `entry_sources` (goto_plan)."""
    initial = set(BUILTIN_SOURCES) | set(plan.data)
    return available_sources(dict(plan.applets), plan.start, plan.fallback, initial, entry_sources)


def recheck_sources(report: Report, plan: Plan, entry_sources: Mapping[str, set[str]]) -> None:
    """Redo the "never set" warnings of a plan that other plans enter with goto_plan, with the
    data sources those plans may carry in."""
    document = report.document()
    raw = document if isinstance(document, dict) else {}
    raw_applets = raw.get("applets") if isinstance(raw.get("applets"), dict) else None
    if raw_applets is None:
        return
    report.diagnostics = [
        d for d in report.diagnostics if not (d.severity == "warning" and NEVER_SET in d.message)
    ]
    by_id = dict(plan.applets)
    roots = [r for r in (plan.start, plan.fallback, *entry_sources) if r and r in by_id]
    initial = set(BUILTIN_SOURCES) | set(plan.data)
    _check_sources(
        report,
        raw_applets,
        by_id,
        _reachable(by_id, roots),
        plan.start,
        plan.fallback,
        initial,
        entry_sources,
    )


def _check_sources(
    report: Report,
    raw_applets: dict[str, Any],
    by_id: dict[str, AppletSpec],
    reachable: set[str],
    start: str,
    fallback: str | None,
    initial: set[str],
    entry_sources: Mapping[str, set[str]],
) -> None:
    into = available_sources(by_id, start, fallback, initial, entry_sources)
    everything = set(initial).union(*(sets_of(s) for s in by_id.values()))
    for applet_id, spec in by_id.items():
        if applet_id not in reachable:
            continue
        cls = REGISTRY[spec.type]
        local = cls.local_names(spec.config)
        warned: set[str] = set()
        for ref in cls.reads(spec.config):
            if ref.name in local or ref.name in warned or into.has(applet_id, ref.name):
                continue
            warned.add(ref.name)
            path = _find_use(raw_applets[applet_id], ref.name, ("applets", applet_id))
            report.warning(
                path,
                f"$({ref.name}) {NEVER_SET} '{applet_id}'"
                f"{did_you_mean(ref.name, everything - {ref.name})}; it will be empty",
            )


def _find_use(value: Any, name: str, path: Path) -> Path:
    for found_path in _uses(value, name, path):
        return found_path
    return path


def _uses(value: Any, name: str, path: Path) -> Iterator[Path]:
    pattern = re.compile(r"\$\(\s*" + re.escape(name) + r"(?![A-Za-z0-9_])")
    if isinstance(value, str):
        if pattern.search(value) or re.fullmatch(re.escape(name) + r"([.\[].*)?", value):
            yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _uses(v, name, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _uses(v, name, path + (i,))
