"""`/health` and `/ready` (operations.md "Probes"): liveness touches no dependency; readiness
asks the store, the database, the bridge's state and ledger and whether a plan is loaded, within
a short budget, and names what failed; neither reveals a secret."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy
from flask import Flask

from ivr.app import create_app
from ivr.app.settings import Settings
from ivr.engine.stores import MemoryStore
from tests.conftest import ROOT

SECRET_TOKEN = "twilio-token-never-shown-0123"


def serving_app(tmp_path: Path, *, plans: bool = True, pci: bool = False) -> Flask:
    folder = tmp_path / "callplans"
    folder.mkdir(exist_ok=True)
    if plans:
        shutil.copy(ROOT / "tests" / "plans" / "reload_line.yaml", folder)
    settings = Settings(
        callplans=folder,
        database_url=f"sqlite:///{tmp_path}/ivr.sqlite3",
        watch_plans=False,
        auth_token=SECRET_TOKEN,
        pci={"enabled": pci, "database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
    )
    return create_app(settings, store=MemoryStore())


def test_ready_when_everything_answers_and_says_what_serves(tmp_path: Path) -> None:
    app = serving_app(tmp_path, pci=True)
    answer = app.test_client().get("/ready")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "store": "ok",
        "database": "ok",
        "bridge_state": "ok",
        "bridge_ledger": "ok",
        "plans": "ok",
    }
    plan = body["plans"]["reload_line"]
    assert plan["number"] == 1 and len(plan["version"]) == 12 and plan["published_at"]
    assert answer.headers["Cache-Control"] == "no-store"
    app.extensions["ivr"].bridge.close()


def test_no_plan_loaded_is_not_ready(tmp_path: Path) -> None:
    answer = serving_app(tmp_path, plans=False).test_client().get("/ready")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "unavailable",
        "checks": {"store": "ok", "database": "ok", "plans": "no plan loaded"},
    }


def test_a_database_that_is_down_is_named(tmp_path: Path) -> None:
    app = serving_app(tmp_path)
    system = app.extensions["ivr"]
    system.plans.db = sqlalchemy.create_engine(
        "postgresql+psycopg://ivr:secret-password@127.0.0.1:1/ivr",
        connect_args={"connect_timeout": 1},
    )
    answer = app.test_client().get("/ready")
    assert answer.status_code == 503
    checks = answer.get_json()["checks"]
    assert checks["database"].startswith("OperationalError")
    assert checks["store"] == "ok" and checks["plans"] == "ok"
    assert "secret-password" not in answer.get_data(as_text=True)


def test_bridge_state_that_is_down_is_named(tmp_path: Path) -> None:
    app = serving_app(tmp_path, pci=True)
    bridge = app.extensions["ivr"].bridge
    bridge.state.client = redis.Redis(port=1, socket_connect_timeout=0.5)
    answer = app.test_client().get("/ready")
    assert answer.status_code == 503
    checks = answer.get_json()["checks"]
    # redis-py retries a refused connection, so the answer may be the budget running out
    said = checks.get("bridge_state") or checks["bridge"]
    assert said.startswith("ConnectionError") or said == "no answer within 2 s", checks
    assert checks["store"] == "ok" and checks["database"] == "ok"
    bridge.close()


def test_a_check_that_hangs_answers_503_within_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = serving_app(tmp_path)
    monkeypatch.setattr(app.extensions["ivr"].store, "ping", lambda: time.sleep(5) or True)
    started = time.monotonic()
    answer = app.test_client().get("/ready")
    assert time.monotonic() - started < 3
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["store"] == "no answer within 2 s"


def test_health_touches_no_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = serving_app(tmp_path)

    def broken() -> bool:
        raise AssertionError("/health touched the store")

    monkeypatch.setattr(app.extensions["ivr"].store, "ping", broken)
    answer = app.test_client().get("/health")
    assert answer.status_code == 200 and answer.get_json()["status"] == "ok"
    assert SECRET_TOKEN not in answer.get_data(as_text=True)
