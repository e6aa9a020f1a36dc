"""The catalog of call plans: loads a folder, checks plans against each other, keeps versions.

A plan that fails to load never replaces the version already serving. Every version loaded in
this process stays available, so a call finishes on the version it started with.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from foundation.suggest import did_you_mean
from ivr.engine.analysis import plan_sources, recheck_sources
from ivr.engine.compiler import CompiledPlan, compile_plan
from ivr.engine.loader import MAX_PLAN_BYTES, is_plan_file, load_file, load_text
from ivr.engine.registry import REGISTRY
from ivr.errors import PlanError, PlanNotFound
from ivr.lang.diagnostics import Diagnostic, Report
from ivr.lang.model import AppletSpec, Plan


def plan_references(plan: Plan) -> list[tuple[AppletSpec, tuple[str, str | None]]]:
    """The applets of `plan` that continue in another plan, with (plan, applet or None)."""
    out = []
    for spec in plan.applets.values():
        ref = REGISTRY[spec.type].plan_reference(spec.config)
        if ref is not None:
            out.append((spec, ref))
    return out


def plan_files(paths: Iterable[str | Path]) -> list[Path]:
    """Plan files named by `paths` (files, or folders searched recursively), sorted."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and is_plan_file(p) and "tests" not in p.relative_to(path).parts[:-1]
            )
        else:
            out.append(path)
    return out


@dataclass
class LoadResult:
    """What loading a set of files found: plans that loaded, and every diagnostic."""

    plans: list[tuple[Plan, Report]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def load_paths(
    paths: Iterable[str | Path],
    *,
    known: dict[str, Plan] | None = None,
    max_bytes: int = MAX_PLAN_BYTES,
) -> LoadResult:
    """Load and cross-check plan files. `known` are plans loaded elsewhere (for goto_plan);
    a file over `max_bytes` is refused unread."""
    result = LoadResult()
    for path in plan_files(paths):
        try:
            plan, report = load_file(path, max_bytes=max_bytes)
        except PlanError as exc:
            result.diagnostics.extend(exc.diagnostics)
            result.refused.append(str(path))
            continue
        result.plans.append((plan, report))
    return _checked(result, known)


def load_texts(
    sources: Iterable[tuple[str, str]],
    *,
    known: dict[str, Plan] | None = None,
    max_bytes: int = MAX_PLAN_BYTES,
    cross_check: bool = True,
) -> LoadResult:
    """As load_paths, for plan texts with the names their diagnostics give (published
    versions from the database, a file about to be published). Without `cross_check`, each
    plan is checked on its own only (numbers and goto_plan targets across plans are not)."""
    result = LoadResult()
    for name, text in sources:
        try:
            if len(text.encode()) > max_bytes:
                report = Report(name)
                report.error(
                    (),
                    f"the plan is {len(text.encode()):,} bytes, over the limit of "
                    f"{max_bytes:,} for a call plan; split it with goto_plan",
                )
                raise PlanError(report.diagnostics)
            plan, report = load_text(text, name)
        except PlanError as exc:
            result.diagnostics.extend(exc.diagnostics)
            result.refused.append(name)
            continue
        result.plans.append((plan, report))
    if not cross_check:
        return result
    return _checked(result, known)


def _checked(result: LoadResult, known: dict[str, Plan] | None) -> LoadResult:
    _cross_check(result, known or {})
    _carried_sources(result, known or {})
    for _, report in result.plans:
        result.diagnostics.extend(report.warnings)
    result.diagnostics.sort(key=lambda d: (d.file, d.line, d.col))
    return result


def _cross_check(result: LoadResult, known: dict[str, Plan]) -> None:
    by_id: dict[str, tuple[Plan, Report]] = {}
    numbers: dict[str, str] = {}
    bad: set[int] = set()
    for index, (plan, report) in enumerate(result.plans):
        first = by_id.get(plan.id)
        if first is not None:
            report.error(("plan",), f"plan id '{plan.id}' is already used by {first[0].file}")
            bad.add(index)
            continue
        by_id[plan.id] = (plan, report)
        for i, number in enumerate(plan.numbers):
            if number in numbers and numbers[number] != plan.id:
                report.error(
                    ("numbers", i), f"{number} is already answered by plan '{numbers[number]}'"
                )
                bad.add(index)
            numbers[number] = plan.id
    everything = {**known, **{pid: p for pid, (p, _) in by_id.items()}}
    for index, (plan, report) in enumerate(result.plans):
        for spec, (plan_id, applet_id) in plan_references(plan):
            target = everything.get(plan_id)
            where = ("applets", spec.id)
            if target is None:
                report.error(
                    where + ("plan",), f"no plan '{plan_id}'{did_you_mean(plan_id, everything)}"
                )
                bad.add(index)
            elif applet_id and applet_id not in target.applets:
                report.error(
                    where + ("applet",),
                    f"plan '{target.id}' has no applet "
                    f"'{applet_id}'{did_you_mean(applet_id, target.applets)}",
                )
                bad.add(index)
    kept = []
    for index, (plan, report) in enumerate(result.plans):
        if index in bad:
            result.diagnostics.extend(report.errors)
            result.refused.append(report.file)
        else:
            kept.append((plan, report))
    result.plans = kept


def _carried_sources(result: LoadResult, known: dict[str, Plan]) -> None:
    """Data sources carried into a plan by goto_plan count as set there: redo the "never set"
    warnings of plans other plans jump into (to a fixpoint, for chains of jumps)."""
    plans = {**known, **{p.id: p for p, _ in result.plans}}
    seeds: dict[str, dict[str, set[str]]] = {pid: {} for pid in plans}
    for _ in range(len(plans) + 1):
        changed = False
        for pid, plan in plans.items():
            jumps = plan_references(plan)
            if not jumps:
                continue
            available = plan_sources(plan, seeds[pid])
            for spec, (plan_id, applet_id) in jumps:
                target = plans.get(plan_id)
                if target is None:
                    continue
                entry = applet_id or target.start
                carried = available.at(spec.id)
                known_here = seeds[target.id].setdefault(entry, set())
                if not carried <= known_here:
                    known_here |= carried
                    changed = True
        if not changed:
            break
    for plan, report in result.plans:
        if seeds[plan.id]:
            recheck_sources(report, plan, seeds[plan.id])


class Catalog:
    """Compiled plans by id (current version), by version (pinned calls) and by number."""

    def __init__(
        self,
        plans: Iterable[Plan] = (),
        numbers: dict[str, str] | None = None,
        max_plan_bytes: int = MAX_PLAN_BYTES,
    ):
        self.max_plan_bytes = max_plan_bytes
        self._lock = threading.Lock()
        self._current: dict[str, CompiledPlan] = {}
        self._versions: dict[tuple[str, str], CompiledPlan] = {}
        self._extra_numbers = dict(numbers or {})
        self._numbers: dict[str, str] = {}
        for plan in plans:
            self.add(plan)

    @classmethod
    def from_paths(
        cls, paths: Iterable[str | Path], numbers: dict[str, str] | None = None
    ) -> tuple[Catalog, LoadResult]:
        catalog = cls(numbers=numbers)
        return catalog, catalog.load(paths)

    def load(self, paths: Iterable[str | Path]) -> LoadResult:
        """Load or reload plans; files with errors keep their previous version serving."""
        known = {pid: c.plan for pid, c in self._current.items()}
        result = load_paths(paths, known=known, max_bytes=self.max_plan_bytes)
        for plan, _ in result.plans:
            self.add(plan)
        return result

    def serve(self, result: LoadResult, keep: set[str]) -> None:
        """Serve the plans of `result` to new calls (a fleet's published set, whose plan ids
        are `keep`); a plan not in `keep` stops answering new calls; one that failed to load
        keeps its loaded version; calls in progress keep their versions."""
        for plan, _ in result.plans:
            self.add(plan)
        with self._lock:
            for plan_id in [p for p in self._current if p not in keep]:
                del self._current[plan_id]
            self._numbers = {n: pid for pid, c in self._current.items() for n in c.plan.numbers}
            self._numbers.update(self._extra_numbers)

    def add(self, plan: Plan, *, current: bool = True) -> CompiledPlan:
        """Compile `plan` (once per version); with `current`, new calls use it from now on."""
        with self._lock:
            compiled = self._versions.get((plan.id, plan.version))
            if compiled is None:
                compiled = compile_plan(plan)
                self._versions[(plan.id, plan.version)] = compiled
            if not current:
                return compiled
            self._current[plan.id] = compiled
            self._numbers = {n: pid for pid, c in self._current.items() for n in c.plan.numbers}
            self._numbers.update(self._extra_numbers)
            return compiled

    def with_numbers(self, numbers: dict[str, str]) -> Catalog:
        """A catalog of the same plans (compiled once, shared) that also answers `numbers`."""
        other = Catalog(numbers=numbers, max_plan_bytes=self.max_plan_bytes)
        with self._lock:
            other._current = dict(self._current)
            other._versions = dict(self._versions)
        other._numbers = {n: pid for pid, c in other._current.items() for n in c.plan.numbers}
        other._numbers.update(other._extra_numbers)
        return other

    def current(self, plan_id: str) -> CompiledPlan:
        try:
            return self._current[plan_id]
        except KeyError:
            raise PlanNotFound(
                f"no plan '{plan_id}'{did_you_mean(plan_id, self._current)}"
            ) from None

    def version(self, plan_id: str, version: str) -> CompiledPlan | None:
        return self._versions.get((plan_id, version))

    def for_number(self, number: str) -> CompiledPlan | None:
        plan_id = self._numbers.get(number)
        return self._current.get(plan_id) if plan_id else None

    @property
    def plan_ids(self) -> list[str]:
        return sorted(self._current)

    def __contains__(self, plan_id: str) -> bool:
        return plan_id in self._current
