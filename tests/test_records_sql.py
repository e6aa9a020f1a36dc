"""SQL call records (ivr/adapters/records_sql.py) on a SQLite file and on PostgreSQL, end to
end through a simulated call, and `ivr calls`.

PostgreSQL: IVR_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
Each test gets its own schema (dropped afterwards). Without the driver or the server the tests
are skipped locally, and fail when CI=true: CI must run them.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from ivr.adapters.records_sql import SqlRecorder
from ivr.app.local_phone import LocalPhone
from ivr.app.settings import Settings
from ivr.engine.records import CallRecord, Line, PathStep
from ivr.tools.cli import main
from tests.conftest import ROOT

OPEN = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday, 10:00 in London: open
MAIN_MENU = "+442071230100"
CALLER = "+447700900123"
AGENT_PATH = ["opening_hours", "welcome", "list_services", "main_menu", "agent", "goodbye"]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/calls.sqlite3"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def recorder(db_url: str) -> Iterator[SqlRecorder]:
    rec = SqlRecorder(db_url)
    yield rec
    rec.close()


def make_record(
    sid: str = "CA" + "1" * 32, started: str = "2026-11-20T10:00:00+00:00", **changes: object
) -> CallRecord:
    record = CallRecord(
        call_sid=sid,
        plan_id="pay_by_card",
        plan_version="3f9a2b7c1d4e",
        clid="+447700900123",
        ddi="+442071230001",
        started_at=started,
        ended_at="2026-11-20T10:03:12+00:00",
        outcome="PaymentTaken",
        end_status="completed",
        path=(
            PathStep("welcome", "next", "2026-11-20T10:00:01+00:00", "main_menu"),
            PathStep(
                "to_payments", "goto_plan:pay_by_card", "2026-11-20T10:00:09+00:00", "main_menu"
            ),
            PathStep("find_account", "status_404", "2026-11-20T10:00:10+00:00", "pay_by_card"),
            PathStep("goodbye", "end", "2026-11-20T10:03:12+00:00", "pay_by_card"),
        ),
        missing=("AccountName", "Balance"),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


# --- SqlRecorder -----------------------------------------------------------------------------


def test_fields_round_trip(recorder: SqlRecorder) -> None:
    record = make_record()
    recorder.record(record)
    assert recorder.find(record.call_sid) == record
    assert recorder.recent() == [record]
    found = recorder.find(record.call_sid)
    assert found is not None
    assert [s.plan for s in found.path] == ["main_menu", "main_menu", "pay_by_card", "pay_by_card"]
    assert found.missing == ("AccountName", "Balance")


def test_withheld_caller_and_empty_path_round_trip(recorder: SqlRecorder) -> None:
    record = make_record(clid="", path=(), missing=(), outcome="Abandoned", end_status="no-answer")
    recorder.record(record)
    assert recorder.find(record.call_sid) == record


def test_sip_addresses_and_long_values_round_trip(recorder: SqlRecorder) -> None:
    """Twilio's From/To are SIP URIs or client identities on SIP and WebRTC calls, and an
    outcome is whatever text a plan sets in InteractionOutcome: the record must keep them."""
    record = make_record(
        clid="sip:+447700900123@customer-pbx.example.co.uk;transport=tls",
        ddi="sip:+442071230001@example-telecom.sip.twilio.com",
        outcome="PaymentTakenAfterAgentCallbackAndTwoRetriesOfTheCardNumber" * 2,
    )
    recorder.record(record)
    assert recorder.find(record.call_sid) == record


def test_a_call_has_one_record_and_a_second_write_amends_it(recorder: SqlRecorder) -> None:
    """The engine writes a call's record once, and again only when a transfer's late action
    tells more after the status callback: the newer record replaces the first."""
    record = make_record()
    recorder.record(record)
    amended = replace(record, outcome="Delivered", ended_at="2026-11-20T10:09:00+00:00")
    recorder.record(amended)
    assert recorder.recent(100) == [amended]
    assert recorder.find(record.call_sid) == amended


def test_an_older_record_never_replaces_a_newer_one(recorder: SqlRecorder) -> None:
    """A record queued in Redis before an outage may reach the database after a newer one
    written directly while Redis was down: the newer stays."""
    newer = make_record(outcome="Delivered", ended_at="2026-11-20T10:09:00+00:00")
    recorder.record(newer)
    recorder.write_many([make_record(outcome="Abandoned", ended_at="2026-11-20T10:03:12+00:00")])
    assert recorder.find(newer.call_sid) == newer


def test_transcript_and_step_data_round_trip(recorder: SqlRecorder) -> None:
    record = make_record(
        path=(PathStep("ask", "next", "2026-11-20T10:00:01+00:00", "p", {"Amount": "42.50"}),),
        transcript=(Line("2026-11-20T10:00:00+00:00", "ivr", "Enter the amount."),
                    Line("2026-11-20T10:00:01+00:00", "caller", "pressed 4250")),
    )  # fmt: skip
    recorder.record(record)
    assert recorder.find(record.call_sid) == record


def test_figures_count_in_sql(recorder: SqlRecorder) -> None:
    day = "2026-11-20T10:00:00+00:00"
    rows = [("1", "PaymentTaken", False, 60), ("2", "Abandoned", False, 20),
            ("3", "Delivered", True, 100), ("4", "Completed", None, 40)]  # fmt: skip
    for n, outcome, agent, seconds in rows:
        ended = f"2026-11-20T10:{seconds // 60:02d}:{seconds % 60:02d}+00:00"
        recorder.record(make_record(sid="CA" + n * 32, started=day, ended_at=ended,
                                    outcome=outcome, reached_agent=agent))  # fmt: skip
    recorder.record(make_record(sid="CA" + "9" * 32, started="2026-11-22T10:00:00+00:00",
                                ended_at="2026-11-22T10:01:00+00:00"))  # fmt: skip
    counted = recorder.figures("2026-11-20", "2026-11-21")
    assert counted.calls == 4 and counted.per_day == {"2026-11-20": 4}
    assert counted.judged == 3 and counted.reached_agent == 1
    assert dict(counted.outcomes) == {"PaymentTaken": 1, "Abandoned": 1, "Delivered": 1,
                                      "Completed": 1}  # fmt: skip
    assert counted.seconds_median == 60
    assert counted.left_at == [("pay_by_card / goodbye", 1)]


def test_find_an_unknown_call(recorder: SqlRecorder) -> None:
    assert recorder.find("CA" + "9" * 32) is None
    assert recorder.recent() == []


def test_recent_newest_first_with_limit(recorder: SqlRecorder) -> None:
    starts = [
        "2026-11-20T10:00:00+00:00",
        "2026-11-20T09:00:00+00:00",
        "2026-11-21T08:00:00+00:00",
        "2026-11-20T10:00:00.250000+00:00",
        "2026-11-19T23:59:59+00:00",
    ]
    for i, start in enumerate(starts):
        recorder.record(make_record(f"CA{i:032d}", start))
    newest = sorted(starts, reverse=True)
    assert [r.started_at for r in recorder.recent()] == newest
    assert [r.started_at for r in recorder.recent(3)] == newest[:3]
    assert [r.started_at for r in recorder.recent(1)] == newest[:1]


def test_records_survive_a_restart(db_url: str) -> None:
    first = SqlRecorder(db_url)
    try:
        first.record(make_record())
    finally:
        first.close()
    second = SqlRecorder(db_url)  # a new process: the table exists already
    try:
        assert second.recent() == [make_record()]
        second.record(make_record("CA" + "2" * 32, "2026-11-21T10:00:00+00:00"))
        assert [r.call_sid for r in second.recent()] == ["CA" + "2" * 32, "CA" + "1" * 32]
    finally:
        second.close()


def test_relative_sqlite_folder_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    recorder = SqlRecorder("sqlite:///a/b/calls.sqlite3")
    try:
        recorder.record(make_record())
    finally:
        recorder.close()
    assert (tmp_path / "a" / "b" / "calls.sqlite3").is_file()


def ivr(*args: str) -> Result:
    """Run the `ivr` command line in process. Connections it leaves open are reported by the
    driver when collected (psycopg: ResourceWarning): collect now so the warning is raised in
    the test that caused it (pytest runs with filterwarnings = error)."""
    result = CliRunner().invoke(main, list(args))
    gc.collect()
    return result


# --- end to end ------------------------------------------------------------------------------


def test_simulated_call_writes_one_record(db_url: str) -> None:
    settings = Settings(callplans=ROOT / "callplans", database_url=db_url)
    phone = LocalPhone(settings, start=OPEN)
    try:
        report = phone.call(MAIN_MENU, CALLER, ["0"])
        version = phone.system.catalog.current("main_menu").version
        sid = report.result.call_sid
        assert report.outcome == "Delivered"
    finally:
        phone.system.recorder.close()

    reader = SqlRecorder(db_url)  # what another process (ivr calls) sees
    try:
        records = reader.recent(100)
    finally:
        reader.close()
    assert len(records) == 1
    record = records[0]
    assert (record.call_sid, record.plan_id, record.plan_version) == (sid, "main_menu", version)
    assert (record.clid, record.ddi) == (CALLER, MAIN_MENU)
    assert (record.outcome, record.end_status) == ("Delivered", "completed")
    assert [s.applet for s in record.path] == AGENT_PATH
    assert {s.plan for s in record.path} == {"main_menu"}
    assert record.path[3].outcome == "0"
    assert record.reached_agent is True  # the transfer applet hands callers to a person
    assert record.started_at.startswith("2026-11-18T10:00")
    assert record.started_at <= record.ended_at


def test_simulated_call_from_a_sip_address_writes_its_record(db_url: str) -> None:
    """A SIP trunk or SIP domain call: Twilio sends From as a SIP URI."""
    caller = "sip:+447700900123@customer-pbx.example.co.uk;transport=tls"
    settings = Settings(callplans=ROOT / "callplans", database_url=db_url)
    phone = LocalPhone(settings, start=OPEN)
    try:
        sid = phone.call(MAIN_MENU, caller, ["0"]).result.call_sid
        record = phone.system.recorder.find(sid)
    finally:
        phone.system.recorder.close()
    assert record is not None, "the call record was not written"
    assert record.clid == caller and record.outcome == "Delivered"


def test_ivr_calls_lists_the_call(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"callplans": str(ROOT / "callplans"), "database": db_url, "store": "memory://"}
        ),
        encoding="utf-8",
    )
    settings = Settings.load(config)
    phone = LocalPhone(settings, start=OPEN)
    try:
        sid = phone.call(MAIN_MENU, CALLER, ["0"]).result.call_sid
    finally:
        phone.system.recorder.close()

    result = ivr("calls", "--config", str(config))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()][1:]  # the header
    assert len(lines) == 1
    assert lines[0].startswith("2026-11-18T10:00")
    for part in (
        CALLER,
        MAIN_MENU,
        "main_menu",
        "Delivered",
        "opening_hours(open) → welcome(next)",
        "agent(",
        "goodbye(end)",
    ):
        assert part in lines[0], (part, lines[0])

    result = ivr("calls", "--config", str(config), "--json", "--limit", "5")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    assert record["call_sid"] == sid and record["outcome"] == "Delivered"
    assert [step["applet"] for step in record["path"]] == AGENT_PATH


def test_ivr_calls_with_no_records(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": db_url}), encoding="utf-8")
    result = ivr("calls", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "no calls recorded yet"
