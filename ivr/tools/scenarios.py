"""`ivr test`: call plan scenario files, run through the simulator and reported like a test runner,
with an expected-vs-actual diff and applet/outcome coverage per plan.

A scenario file (YAML):

    number: "+442071230102"          # the number dialled (or plan: ID)
    caller: "+447700900123"
    start_time: 2026-11-20T10:00:00Z # optional simulated clock
    services: [...]                  # canned web service answers for every scenario
    scenarios:
      - name: pays with a new card
        keys: ["42*50#", "1"]        # one entry per prompt; "-" for no input
        services: [{method: POST, url: ..., status: 201, json: {...}}]
        dial: {"+442071230200": busy}
        queue_result: queue-full             # how an <Enqueue> ends (default bridged)
        hangup_after: 3
        expect:
          path: [ask_amount, ask_date]        # applets in the order visited
          outcome: PaymentTaken
          heard: ["confirmation code"]        # phrases heard, in this order
          not_heard: ["sorry"]
          data: {Amount: "42.50"}
          ended_by: twiml                     # or caller
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from foundation.documents import DocumentError, check, validator
from ivr.adapters.canned import SERVICE_ANSWER, CannedAnswer, canned_session
from ivr.app.settings import Destination, Settings
from ivr.engine.catalog import Catalog
from ivr.engine.registry import REGISTRY
from ivr.tools.simulator.local import CallReport, LocalPhone

_TEXT = {"type": ["string", "null"]}
_LIST = {"type": ["array", "null"]}
_MAP = {"type": ["object", "null"]}
_ANSWERS = {"type": ["array", "null"], "items": SERVICE_ANSWER}
# YAML reads an unquoted +442071230100 as a number (and drops the +): say to quote it
_NUMBER = {
    "type": ["string", "null"],
    "x-messages": {"type": 'should be text in quotes, as in "+442071230100"; found {value!r}'},
}
_EXPECT = {
    "type": ["object", "null"],
    "properties": {
        "path": _LIST,
        "outcome": _TEXT,
        "heard": _LIST,
        "not_heard": _LIST,
        "data": _MAP,
        "ended_by": _TEXT,
        "plan": _TEXT,
    },
    "additionalProperties": False,
}
_SCENARIO = {
    "type": "object",
    "properties": {
        "name": _TEXT,
        "number": _NUMBER,
        "caller": _NUMBER,
        "keys": {"type": ["array", "string", "null"]},
        "services": _ANSWERS,
        "dial": _MAP,
        "hangup_after": {"type": ["integer", "null"]},
        "start_time": {},
        "expect": _EXPECT,
        "queue_result": _TEXT,
    },
    "additionalProperties": False,
    "x-messages": {"type": "expected a map"},
}
# A scenario file (documented in README "Test"). start_time is a YAML timestamp or text.
SCENARIO_FILE = {
    "type": "object",
    "properties": {
        "number": _NUMBER,
        "plan": _TEXT,
        "caller": _NUMBER,
        "start_time": {},
        "services": _ANSWERS,
        "scenarios": {"type": "array", "items": _SCENARIO},
        "dial": _MAP,
    },
    "required": ["scenarios"],
    "additionalProperties": False,
    "x-messages": {
        "type": "expected a map with a scenarios: list",
        "required": "expected a map with a scenarios: list",
    },
}
_FILE = validator(SCENARIO_FILE)


class ScenarioError(ValueError):
    """A scenario file is malformed."""


@dataclass
class Scenario:
    file: str
    name: str
    number: str
    caller: str
    keys: list[str]
    services: list[CannedAnswer] | None
    dial: dict[str, str]
    hangup_after: int | None
    start_time: datetime | None
    expect: dict[str, Any]
    plan: str | None = None
    queue_result: str | None = None  # how a queue ends: bridged, queue-full, error, hangup


@dataclass
class Outcome:
    scenario: Scenario
    report: CallReport | None
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*.yaml") if _is_scenario_file(p)))
        else:
            out.append(path)
    return out


def _is_scenario_file(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8")
    except OSError:
        return False
    return "scenarios:" in head and "\napplets:" not in head


def load_scenarios(path: Path) -> list[Scenario]:
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("scenarios"), list):
        raise ScenarioError(f"{where}: expected a map with a scenarios: list")
    try:
        check(raw, _FILE, where)
    except DocumentError as exc:
        raise ScenarioError(str(exc)) from None
    shared = _services(raw.get("services"), f"{where}: services")
    out = []
    for i, item in enumerate(raw["scenarios"]):
        at = f"{where}: scenarios[{i}]"
        expect = item.get("expect")
        expect = {} if expect is None else expect
        own = _services(item.get("services"), f"{at}.services")
        services = None if own is None and shared is None else (own or []) + (shared or [])
        number = str(item.get("number") or raw.get("number") or "")
        plan = raw.get("plan")
        if not number and not plan:
            raise ScenarioError(f"{at}: give number: (the number dialled) or plan: (its id)")
        keys = item.get("keys") or []
        if isinstance(keys, str):
            keys = keys.replace(",", " ").split()
        start = item.get("start_time", raw.get("start_time"))
        out.append(
            Scenario(
                file=where,
                name=str(item.get("name") or f"scenario {i + 1}"),
                number=number,
                caller=str(item.get("caller", raw.get("caller", "+447700900123")) or ""),
                keys=[str(k) for k in keys],
                services=services,
                dial={**(raw.get("dial") or {}), **(item.get("dial") or {})},
                hangup_after=item.get("hangup_after"),
                start_time=_time(start, at),
                expect=expect,
                plan=str(plan) if plan and not number else None,
                queue_result=item.get("queue_result"),
            )
        )
    return out


def _services(raw: Any, where: str) -> list[CannedAnswer] | None:
    if raw is None:
        return None
    try:
        return [CannedAnswer.parse(item, f"{where}[{i}]") for i, item in enumerate(raw)]
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"{where}: start_time '{value}' is not an ISO date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- running -------------------------------------------------------------------------------


def run_scenario(scenario: Scenario, settings: Settings) -> Outcome:
    started = time.perf_counter()
    directory = dict(settings.directory)
    for number, answer in scenario.dial.items():
        directory[str(number)] = Destination(answer=str(answer))
    http = None
    adapter = None
    if scenario.services is not None:
        answers = [replace(a, used=0) for a in scenario.services]
        http, adapter = canned_session(answers)
    numbers = dict(settings.numbers)
    number = scenario.number
    if scenario.plan:  # a file may name the plan instead of a number: dial a stand-in number
        number = "+10000000000"
        numbers[number] = scenario.plan
    phone = LocalPhone(
        replace(settings, directory=directory, numbers=numbers),
        http=http,
        start=scenario.start_time,
    )
    if scenario.queue_result:
        phone.simulator.queue_result = scenario.queue_result
    try:
        report = phone.call(
            number, scenario.caller, list(scenario.keys), hangup_after=scenario.hangup_after
        )
    finally:
        phone.close()
    outcome = Outcome(scenario, report)
    outcome.failures = compare(scenario.expect, report)
    if adapter is not None and adapter.unanswered:
        outcome.failures.append("no canned answer for: " + ", ".join(adapter.unanswered))
    outcome.seconds = time.perf_counter() - started
    return outcome


def compare(expect: dict[str, Any], report: CallReport) -> list[str]:
    failures = []
    if "path" in expect:
        want = [str(a) for a in expect["path"]]
        got = [a for a, _ in report.path]
        if want != got:
            diff = "\n".join(
                difflib.unified_diff(want, got, "expected path", "actual path", lineterm="", n=2)
            )
            failures.append(f"path differs:\n{diff}")
    if "outcome" in expect and str(expect["outcome"]) != str(report.outcome):
        failures.append(f"outcome: expected {expect['outcome']!r}, got {report.outcome!r}")
    if "plan" in expect and expect["plan"] != report.plan:
        failures.append(f"plan: expected {expect['plan']!r}, got {report.plan!r}")
    heard = report.heard()
    position = 0
    for phrase in expect.get("heard") or []:
        found = next(
            (i for i in range(position, len(heard)) if str(phrase).lower() in heard[i].lower()),
            None,
        )
        if found is None:
            failures.append(
                f"not heard (in order): {phrase!r}\n  heard:\n"
                + "\n".join(f"    {h}" for h in heard)
            )
            break
        position = found + 1
    for phrase in expect.get("not_heard") or []:
        hit = next((h for h in heard if str(phrase).lower() in h.lower()), None)
        if hit is not None:
            failures.append(f"heard {phrase!r} in: {hit}")
    for name, value in (expect.get("data") or {}).items():
        actual = (report.data or {}).get(name)
        if str(actual) != str(value) if value is not None else actual not in (None, ""):
            failures.append(f"data {name}: expected {value!r}, got {actual!r}")
    if "ended_by" in expect and expect["ended_by"] != report.result.ended_by:
        failures.append(
            f"ended_by: expected {expect['ended_by']!r}, got {report.result.ended_by!r}"
        )
    errors = [e.text for e in report.result.events if e.kind == "error"]
    if errors:
        failures.append("application errors: " + "; ".join(errors))
    return failures


# --- coverage ------------------------------------------------------------------------------


@dataclass
class Coverage:
    plan: str
    applets: set[str]
    edges: set[tuple[str, str]]
    seen_applets: set[str] = field(default_factory=set)
    seen_edges: set[tuple[str, str]] = field(default_factory=set)

    def percent(self, part: set[Any], whole: set[Any]) -> float:
        return 100.0 * len(part & whole) / len(whole) if whole else 100.0


def coverage(catalog: Catalog, outcomes: list[Outcome]) -> dict[str, Coverage]:
    out: dict[str, Coverage] = {}
    for plan_id in catalog.plan_ids:
        plan = catalog.current(plan_id).plan
        edges = set()
        for spec in plan.applets.values():
            cls = REGISTRY[spec.type]
            if not cls.outcomes and not spec.routes:
                edges.add((spec.id, "end"))  # terminal applets: reaching them is the outcome
            edges.update((spec.id, outcome) for outcome in spec.routes)
        out[plan_id] = Coverage(plan_id, set(plan.applets), edges)
    for result in outcomes:
        if result.report is None:
            continue
        record = result.report
        for step_plan, (applet, outcome) in zip(record.path_plans, record.path, strict=False):
            cov = out.get(step_plan)
            if cov is None:
                continue
            cov.seen_applets.add(applet)
            name = "end" if outcome.startswith("goto_plan:") else outcome
            cov.seen_edges.add((applet, name))
    return out
