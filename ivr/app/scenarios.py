"""`ivr test`: call plan scenario files, run through the simulator and reported like a test runner,
with an expected-vs-actual diff and applet/outcome coverage per plan.

A scenario file (YAML):

    number: "+442071230102"          # the number dialled (or plan: ID)
    caller: "+447700900123"
    start_time: 2026-11-20T10:00:00Z # optional simulated clock
    services: [...]                  # canned web service answers for every scenario
    data: {AnsweredBy: human}        # data sources the calls start with (here or per scenario)
    scenarios:
      - name: pays with a new card
        keys: ["42*50#", "1"]        # one entry per prompt; "-" for no input; words said:
                                     # {say: "pay my bill", confidence: 0.9}
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
from datetime import datetime
from pathlib import Path
from typing import Any

from foundation.clock import parse_utc
from foundation.documents import validator
from foundation.suggest import did_you_mean
from ivr.adapters.canned import SERVICE_ANSWER, CannedAnswer, canned_session
from ivr.app.local_phone import CallReport, LocalPhone
from ivr.app.settings import Destination, Settings
from ivr.engine.catalog import Catalog
from ivr.engine.registry import REGISTRY
from ivr.lang.diagnostics import Diagnostic, Report
from ivr.lang.diagnostics import Path as Path_
from ivr.lang.documents import read_document
from ivr.phone.twilio import Spoken, bad_entry

_TEXT = {"type": ["string", "null"]}
_LIST = {"type": ["array", "null"]}
_MAP = {"type": ["object", "null"]}
_ANSWERS = {"type": ["array", "null"], "items": SERVICE_ANSWER}
# A strict reader keeps +442071230100 as text; a number here was written some other way
_NUMBER = {
    "type": ["string", "null"],
    "x-messages": {"type": 'should be text in quotes, as in "+442071230100"; found {value!r}'},
}
DIAL_ANSWERS = ("completed", "busy", "no-answer", "failed")
QUEUE_RESULTS = (  # Twilio's QueueResult values
    "bridged",
    "bridging-in-process",
    "queue-full",
    "error",
    "hangup",
    "leave",
    "redirected",
    "redirected-from-bridged",
    "system-shutdown",
)
_DATA = {
    "type": ["object", "null"],
    "additionalProperties": {"type": ["string", "number", "boolean"]},
    "x-messages": {"type": "should be a map of data sources to values ({{AnsweredBy: human}})"},
}
_DIAL = {
    "type": ["object", "null"],
    "additionalProperties": {"enum": list(DIAL_ANSWERS)},
    "x-messages": {
        "type": 'should be a map of numbers to how they answer ({{"+442071230200": busy}})'
    },
}
_BUDGET = {
    "type": ["object", "null"],
    "properties": {
        "max_seconds": {"type": "integer", "minimum": 1},
        "max_entries": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}
_EXPECT = {
    "type": ["object", "null"],
    "properties": {
        "path": {"type": ["array", "null"], "items": {"type": "string"}},
        "outcome": _TEXT,
        "heard": {"type": ["array", "null"], "items": {"type": "string"}},
        "not_heard": {"type": ["array", "null"], "items": {"type": "string"}},
        "data": _MAP,
        "ended_by": {"enum": ["twiml", "caller", None]},
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
        "keys": {
            "type": ["array", "string", "null"],
            "items": {"type": ["string", "integer", "object"]},  # a map: checked by _said
            "x-messages": {
                "type": 'should be a list, as in ["1", "42#", {{say: "pay"}}], found {value!r}'
            },
        },
        "services": _ANSWERS,
        "dial": _DIAL,
        "hangup_after": {"type": ["integer", "null"], "minimum": 0},
        "start_time": _TEXT,
        "expect": _EXPECT,
        "queue_result": {"enum": [*QUEUE_RESULTS, None]},
        "data": _DATA,
        "budget": _BUDGET,
    },
    "additionalProperties": False,
    "x-messages": {"type": "expected a map (- name: ..., keys: [...], expect: {{...}})"},
}
# A scenario file: docs/scenario-files.md says what each key means.
SCENARIO_FILE = {
    "type": "object",
    "properties": {
        "number": _NUMBER,
        "plan": _TEXT,
        "caller": _NUMBER,
        "start_time": _TEXT,
        "services": _ANSWERS,
        "scenarios": {"type": "array", "items": _SCENARIO},
        "dial": _DIAL,
        "data": _DATA,
        "budget": _BUDGET,
    },
    "required": ["scenarios"],
    "additionalProperties": False,
    "x-messages": {
        "type": "expected a map with a scenarios: list",
        "required": "expected a map with a scenarios: list",
    },
}
_FILE = validator(SCENARIO_FILE)
MAX_FILE_BYTES = 1024 * 1024


class ScenarioError(ValueError):
    """A scenario file is malformed; `diagnostics` are its problems at line and column."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))


@dataclass
class Scenario:
    file: str
    name: str
    number: str
    caller: str
    keys: list[str | Spoken]
    services: list[CannedAnswer] | None
    dial: dict[str, str]
    hangup_after: int | None
    start_time: datetime | None
    expect: dict[str, Any]
    plan: str | None = None
    queue_result: str | None = None  # how a queue ends: bridged, queue-full, error, hangup
    own_services: int = 0  # the first services are the scenario's own (each must be used)
    data: dict[str, str] = field(default_factory=dict)  # data sources the call starts with
    budget: dict[str, int] = field(default_factory=dict)  # max_seconds, max_entries


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
    """The scenarios of a file, or ScenarioError with every problem at its line and column."""
    where = str(path)
    report = Report(where)
    try:
        data = path.read_bytes()
        if len(data) > MAX_FILE_BYTES:
            report.error((), f"the file is {len(data):,} bytes; a scenario file may have 1 MiB")
            raise ScenarioError(report.sorted())
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.error((), f"cannot read the file: {exc}")
        raise ScenarioError(report.sorted()) from None
    raw, report = read_document(text, where, _FILE)
    if isinstance(raw, dict) and "applets" in raw and "scenarios" not in raw:
        report = Report(where)
        report.error(
            (),
            "this is a call plan, not a scenario file: `ivr test` runs scenario files (a "
            "scenarios: list, docs/scenario-files.md); `ivr validate` checks plans",
        )
    if report.errors:
        raise ScenarioError(sorted(report.errors, key=lambda d: (d.line, d.col)))
    shared = _services(raw.get("services"), ("services",), report)
    file_start = _time(raw.get("start_time"), ("start_time",), report)
    out = []
    for i, item in enumerate(raw["scenarios"]):
        at: Path_ = ("scenarios", i)
        expect = item.get("expect")
        expect = {} if expect is None else expect
        own = _services(item.get("services"), (*at, "services"), report)
        services = None if own is None and shared is None else (own or []) + (shared or [])
        number = str(item.get("number") or raw.get("number") or "")
        plan = raw.get("plan")
        if not number and not plan:
            report.error(at, "give number: (the number dialled), here or at the top, or plan:")
        keys = item.get("keys") or []
        if isinstance(keys, str):
            keys = keys.replace(",", " ").split()
        for j, key in enumerate(keys):
            problem = _said(key) if isinstance(key, dict) else bad_entry(str(key))
            if problem is not None:
                spot = (*at, "keys", j) if isinstance(item.get("keys"), list) else (*at, "keys")
                report.error(spot, problem)
        start = (
            _time(item["start_time"], (*at, "start_time"), report)
            if item.get("start_time") is not None
            else file_start
        )
        out.append(
            Scenario(
                file=where,
                name=str(item.get("name") or f"scenario {i + 1}"),
                number=number,
                caller=str(item.get("caller", raw.get("caller", "+447700900123")) or ""),
                keys=[_entry(k) for k in keys],
                services=services,
                dial={**(raw.get("dial") or {}), **(item.get("dial") or {})},
                hangup_after=item.get("hangup_after"),
                start_time=start,
                expect=expect,
                plan=str(plan) if plan and not number else None,
                queue_result=item.get("queue_result"),
                own_services=len(own or []),
                data={
                    str(k): _text(v)
                    for k, v in {**(raw.get("data") or {}), **(item.get("data") or {})}.items()
                },
                budget={**(raw.get("budget") or {}), **(item.get("budget") or {})},
            )
        )
    if report.errors:
        raise ScenarioError(sorted(report.errors, key=lambda d: (d.line, d.col)))
    return out


def _said(entry: dict[str, Any]) -> str | None:
    """What is wrong with a `{say: WORDS, confidence: 0.9}` entry, if anything."""
    unknown = [k for k in entry if k not in ("say", "confidence")]
    if unknown:
        return f"unknown key '{unknown[0]}' in words said (say: WORDS, confidence: 0 to 1)"
    words = entry.get("say")
    if not isinstance(words, str) or not words.strip() or len(words) > 500:
        return 'say: the words the caller says, as text (at most 500 characters): {say: "pay"}'
    confidence = entry.get("confidence", 1)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        return f"confidence: a number from 0 to 1, found {confidence!r}"
    if not 0 <= confidence <= 1:
        return f"confidence: a number from 0 to 1, found {confidence}"
    return None


def _entry(key: Any) -> str | Spoken:
    """One entry of `keys:`: keys as text, or `{say: WORDS, confidence: 0.9}`."""
    if isinstance(key, dict):
        if _said(key) is not None:
            return ""  # reported: the file is not run
        return Spoken(key["say"].strip(), float(key.get("confidence", Spoken.confidence)))
    return str(key)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _services(raw: Any, at: Path_, report: Report) -> list[CannedAnswer] | None:
    if raw is None:
        return None
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(CannedAnswer.parse(item, ""))
        except ValueError as exc:
            report.error((*at, i), str(exc).removeprefix(": "))
    return out


def _time(value: Any, at: Path_, report: Report) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_utc(str(value))
    except ValueError:
        report.error(at, f"'{value}' is not an ISO 8601 date-time (2026-11-18T10:00:00Z)")
        return None


# --- running -------------------------------------------------------------------------------


def run_scenario(
    scenario: Scenario,
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    barge_in: bool = True,
    **wiring: Any,
) -> Outcome:
    """Run one scenario on a private system built from `settings` (its plans folder), or
    serving `catalog`'s plans (the console's runs); `wiring` goes to the system."""
    started = time.perf_counter()
    directory = dict(settings.directory)
    for number, answer in scenario.dial.items():
        directory[str(number)] = Destination(answer=str(answer))
    http = None
    adapter = None
    answers: list[CannedAnswer] = []
    if scenario.services is not None:
        answers = [replace(a, used=0) for a in scenario.services]
        http, adapter = canned_session(answers)
    numbers = dict(settings.numbers)
    number = scenario.number
    if scenario.plan:  # a file may name the plan instead of a number: dial a stand-in number
        number = "+10000000000"
        numbers[number] = scenario.plan
    if catalog is not None:
        wiring["catalog"] = catalog.with_numbers(numbers)
    data = {**settings.data, **scenario.data}  # as an outbound call's case gives them
    phone = LocalPhone(
        replace(settings, directory=directory, numbers=numbers, data=data),
        http=http,
        start=scenario.start_time,
        **wiring,
    )
    if scenario.queue_result:
        phone.simulator.queue_result = scenario.queue_result
    phone.simulator.barge_in = barge_in
    try:
        report = phone.call(
            number, scenario.caller, list(scenario.keys), hangup_after=scenario.hangup_after
        )
    finally:
        phone.close()
    outcome = Outcome(scenario, report)
    catalog = phone.system.catalog
    if catalog.for_number(number) is None:
        outcome.failures.append(
            f"no plan answers {number}: the plans in {settings.callplans} answer "
            + (", ".join(sorted(settings.numbers) + _numbers(catalog)) or "no number")
        )
    outcome.failures += _unknown_applets(scenario.expect, report, catalog)
    outcome.failures += over_budget(_budget(scenario, report, catalog), report)
    outcome.failures += compare(scenario.expect, report)
    if adapter is not None and adapter.unanswered:
        outcome.failures.append("no canned answer for: " + ", ".join(adapter.unanswered))
    for given in answers[: scenario.own_services]:
        if given.used == 0:
            outcome.failures.append(
                f"service answer never used: {given.method} {given.url} (no request of the "
                "call matched its method and url)"
            )
    outcome.seconds = time.perf_counter() - started
    return outcome


def _budget(scenario: Scenario, report: CallReport, catalog: Catalog) -> dict[str, int]:
    """The budget a scenario's call is held to: the strictest of the plans it ran in (the
    one dialled and any it went on to), with the file's and then the scenario's over it."""
    plans = dict.fromkeys(p for p in [*report.path_plans, report.plan] if p and p in catalog)
    strictest: dict[str, int] = {}
    for plan_id in plans:
        budget = catalog.current(plan_id).plan.budget
        for key, value in vars(budget).items() if budget is not None else ():
            if value is not None:
                strictest[key] = min(value, strictest.get(key, value))
    return {**strictest, **scenario.budget}


def over_budget(budget: dict[str, int], report: CallReport) -> list[str]:
    """What the call cost the caller beyond its budget."""
    r = report.result
    out = []
    limit = budget.get("max_seconds")
    if limit is not None and r.duration > limit:
        out.append(
            f"over budget: the call took {r.duration}s, max_seconds is {limit} "
            f"({int(r.prompt_seconds)}s of prompts)"
        )
    limit = budget.get("max_entries")
    if limit is not None and r.entries > limit:
        out.append(f"over budget: the caller made {r.entries} entries, max_entries is {limit}")
    return out


def _numbers(catalog: Catalog) -> list[str]:
    return sorted(n for pid in catalog.plan_ids for n in catalog.current(pid).plan.numbers)


def _unknown_applets(expect: dict[str, Any], report: CallReport, catalog: Catalog) -> list[str]:
    """Applet ids in `path` that no plan the call ran has (a typo would only show as a diff)."""
    plans = {p for p in [report.plan, *report.path_plans] if p and p in catalog}
    if not plans or not expect.get("path"):
        return []
    known = {a for p in plans for a in catalog.current(p).plan.applets}
    return [
        f"path: no applet '{a}' in {', '.join(sorted(plans))}{did_you_mean(str(a), known)}"
        for a in dict.fromkeys(expect["path"])
        if str(a) not in known
    ]


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
            hint = ""
            if isinstance(value, float) and isinstance(actual, str):
                hint = f' (quote it to compare text exactly: {name}: "{actual}")'
            failures.append(f"data {name}: expected {value!r}, got {actual!r}{hint}")
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
