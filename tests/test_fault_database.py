"""The database stops answering under gunicorn (two workers, Redis, PostgreSQL): calls go on
(the plans are loaded, the sessions are in Redis), no webhook answers 5xx or silence, `/ready`
says 503 naming the database on every worker and 200 once it is back, the outage is logged
once per worker at most (no traceback per call), and every call record made meanwhile is
written once the database answers again (operations.md "Faults the service survives")."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy
import yaml
from sqlalchemy.engine import make_url

from tests.test_fleet_plans import Fleet, fleet_config


@pytest.fixture
def fault_database(postgres_server: str) -> Iterator[tuple[str, sqlalchemy.Engine, str]]:
    """A database of this test's own: (URL, admin engine, name), dropped afterwards."""
    name = f"ivr_fault_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url, admin, name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def stop(admin: sqlalchemy.Engine, name: str) -> None:
    """The database refuses new connections and drops the ones it has (as when it stops)."""
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )


def start(admin: sqlalchemy.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def recorded(url: str) -> set[str]:
    db = sqlalchemy.create_engine(url)
    try:
        with db.connect() as conn:
            return {row[0] for row in conn.exec_driver_sql("SELECT call_sid FROM call_records")}
    finally:
        db.dispose()


def test_the_database_stops_and_comes_back(
    tmp_path: Path, redis_url: str, fault_database: tuple[str, sqlalchemy.Engine, str]
) -> None:
    url, admin, name = fault_database
    config = fleet_config(tmp_path, redis_url)
    settings = yaml.safe_load(config.read_text())
    settings["database"] = url
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    fleet = Fleet("gunicorn", config, tmp_path / "server.log")
    fleet.start()
    try:
        # the database stops while both workers run (one still booting would fail its boot:
        # docs/operations.md says how a worker starting with the database down behaves)
        deadline = time.monotonic() + 20
        while fleet.log.read_text(errors="replace").count("INFO ivr.plans: serving") < 2:
            assert time.monotonic() < deadline, "the workers did not both start"
            time.sleep(0.1)
        before = {fleet.whole_call() for _ in range(2)}
        stop(admin, name)
        for _ in range(6):  # both workers (sync workers take turns on the listening socket)
            ready = requests.get(fleet.url + "/ready", timeout=10)
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] != "ok"
            assert ready.json()["checks"]["store"] == "ok"
        during = {fleet.whole_call() for _ in range(6)}  # calls go on
        # their records wait in Redis; the writer finds the database down (and says so once)
        deadline = time.monotonic() + 10
        while "the call records database is unavailable" not in fleet.log.read_text(
            errors="replace"
        ):
            assert time.monotonic() < deadline, "no writer noticed the database was down"
            time.sleep(0.1)
        start(admin, name)
        deadline = time.monotonic() + 15
        while requests.get(fleet.url + "/ready", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "/ready did not recover with the database"
            time.sleep(0.2)
        after = {fleet.whole_call()}
        # every record kept meanwhile is written (each worker retries in its background round)
        deadline = time.monotonic() + 10
        while recorded(url) != before | during | after:
            assert time.monotonic() < deadline, (recorded(url), before | during | after)
            time.sleep(0.3)
        # and the worker that found it down says it is back (its writer looks again soon)
        deadline = time.monotonic() + 10
        while "the call records database is back" not in fleet.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, "no worker said the database was back"
            time.sleep(0.1)
    finally:
        fleet.stop()
    log = fleet.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
    assert 1 <= log.count("the call records database is unavailable") <= 2, log[-4000:]
    assert log.count("the call records database is back") >= 1
