"""A dependency that is down is said twice — once when it fails, once when it is back with a
count — not a traceback per request (operations.md "Logs"); call records made while the
database is down are kept and written when it answers again, never silently dropped."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import sqlalchemy

from ivr.adapters.records_sql import SqlRecorder
from ivr.app import create_app
from ivr.app.settings import Settings
from ivr.engine.records import CallRecord
from ivr.engine.stores.redis_store import RedisStore
from tests.conftest import ROOT, free_port

NUMBER = "+441000000301"


def call_record(n: int) -> CallRecord:
    return CallRecord(
        call_sid=f"CA{n:032d}",
        plan_id="reload_line",
        plan_version="v1",
        clid="",
        ddi=NUMBER,
        started_at="2026-11-30T10:00:00+00:00",
        ended_at="2026-11-30T10:01:00+00:00",
        outcome="ReloadDone",
        end_status="completed",
    )


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_records_wait_while_the_database_is_down_and_are_written_after(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    url = (
        f"sqlite:///{tmp_path}/calls.sqlite3"
        if kind == "sqlite"
        else request.getfixturevalue("postgresql_url")
    )
    recorder = SqlRecorder(url)
    working = recorder.db
    recorder.record(call_record(1))
    recorder.db = sqlalchemy.create_engine(
        "postgresql+psycopg://ivr@127.0.0.1:1/ivr", connect_args={"connect_timeout": 1}
    )
    with caplog.at_level(logging.INFO):
        for n in (2, 3, 4):
            recorder.record(call_record(n))  # never raises
        assert len(recorder.pending) == 3
        recorder.db = working
        recorder.record(call_record(5))
    assert [r.call_sid for r in recorder.recent(10)] and len(recorder.recent(10)) == 5
    assert not recorder.pending
    errors = messages(caplog, logging.ERROR)
    assert len(errors) == 1 and "the call records database is unavailable" in errors[0]
    back = messages(caplog, logging.WARNING)
    assert back == [back[0]] and "is back after" in back[0]
    assert "3 call records kept for later" in back[0]
    assert "Traceback" not in caplog.text
    recorder.close()


def test_a_store_outage_is_said_once_and_its_end_with_a_count(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    plans = tmp_path / "callplans"
    plans.mkdir()
    shutil.copy(ROOT / "tests" / "plans" / "reload_line.yaml", plans)
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    settings = Settings(
        callplans=plans,
        database_url=f"sqlite:///{tmp_path}/ivr.sqlite3",
        watch_plans=False,
        pci={"enabled": False},
        emergency_number="+442071230999",
    )
    app = create_app(settings, store=down)
    client = app.test_client()
    system = app.extensions["ivr"]
    with caplog.at_level(logging.INFO):
        for n in range(4):
            answer = client.post(
                "/voice", data={"CallSid": f"CA{n:032d}", "From": "", "To": NUMBER}
            )
            assert answer.status_code == 200
            assert "<Dial" in answer.get_data(as_text=True)  # the emergency line, no silence
        up = RedisStore.from_url(redis_url)
        system.store = system.engine.store = up
        answer = client.post("/voice", data={"CallSid": "CA" + "9" * 32, "From": "", "To": NUMBER})
        assert "Reload test, version one" in answer.get_data(as_text=True)
    errors = [m for m in messages(caplog, logging.ERROR) if "session store" in m]
    assert len(errors) == 1 and "the session store is unavailable (" in errors[0]
    back = [m for m in messages(caplog, logging.WARNING) if "session store is back" in m]
    assert len(back) == 1 and "4 webhooks answered with the apology" in back[0]
    assert "Traceback" not in caplog.text
    down.client.close()
    up.client.close()
