"""The turn budget: everything one webhook does fits inside Twilio's 15 s, whatever the plan's
web services do. A connector's timeout includes its retries and is cut to what is left of the
turn; with under a second left a service is not called and the connector takes its failure
route. And `ivr validate` warns where a turn's worst case is over the budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.app import create_app
from ivr.app.settings import Settings
from ivr.app.system import System
from ivr.engine.catalog import Catalog
from ivr.engine.loader import load_text
from ivr.engine.protocol import TURN_BUDGET
from ivr.engine.records import MemoryRecorder
from ivr.engine.stores import MemoryStore
from ivr.engine.turns import Engine
from tests.conftest import PLANS, LoopbackServer, Reply, Seen
from tests.driver import CallDriver

SID = "CA" + "b2" * 16


@pytest.fixture
def hanging(http_server: LoopbackServer) -> Iterator[LoopbackServer]:
    """Every /slow/N request hangs until the test ends (a web service that never answers)."""
    release = threading.Event()

    def hang(_: Seen) -> Reply:
        release.wait(60)
        return 200, {}, "{}"

    for n in (1, 2, 3):
        http_server.handle("GET", f"/slow/{n}", hang)
    yield http_server
    release.set()


def plan(url: str) -> Any:
    text = (PLANS / "budget_three_slow.yaml").read_text().replace("http://api.invalid", url)
    return load_text(text, "budget_three_slow.yaml")[0]


def test_three_slow_connectors_end_the_turn_within_the_budget(
    hanging: LoopbackServer, call: Callable[..., CallDriver]
) -> None:
    engine = Engine(
        Catalog([plan(hanging.url)]), MemoryStore(), recorder=MemoryRecorder(), turn_budget=3.0
    )
    started = time.monotonic()
    driver = call(engine, plan_id="budget_three_slow")
    elapsed = time.monotonic() - started
    assert elapsed < 3.0 + 0.5, f"the turn took {elapsed:.2f} s"
    # the first connector had the whole 3 s cut from its 10; nothing left for the others
    assert driver.path == [
        ("first", "failure"),
        ("second", "failure"),
        ("third", "failure"),
        ("failed", "end"),
    ]
    assert hanging.count("GET", "/slow/1") == 1
    assert hanging.count("GET", "/slow/2") == 0 and hanging.count("GET", "/slow/3") == 0
    assert driver.heard == [
        f"Sorry, not called: 0.0s left of the turn's budget for {hanging.url}/slow/3."
    ]


def test_a_webhook_never_takes_longer_than_the_budget(
    hanging: LoopbackServer, tmp_path: Path
) -> None:
    """Over the web app with the production budget (12 s): the answer to Twilio comes in time,
    and it is TwiML that ends the call properly, not an application error."""
    store = MemoryStore()
    catalog = Catalog([plan(hanging.url)], numbers={"+441000000777": "budget_three_slow"})
    engine = Engine(catalog, store, recorder=MemoryRecorder())
    settings = Settings(callplans=tmp_path, pci={"enabled": False})
    app: Flask = create_app(
        settings, system=System(settings, catalog, store, engine.recorder, engine)
    )
    started = time.monotonic()
    answer = app.test_client().post(
        "/voice", data={"CallSid": SID, "From": "+447700900123", "To": "+441000000777"}
    )
    elapsed = time.monotonic() - started
    assert TURN_BUDGET == 12.0
    assert elapsed < TURN_BUDGET + 0.5 < 15, f"the webhook took {elapsed:.2f} s"
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<Hangup" in text and "left of the turn" in text


def test_a_fast_service_leaves_time_for_the_next(
    http_server: LoopbackServer, call: Callable[..., CallDriver]
) -> None:
    for n in (1, 2, 3):
        http_server.route("GET", f"/slow/{n}", body={"ok": True}, delay=0.2)
    engine = Engine(
        Catalog([plan(http_server.url)]), MemoryStore(), recorder=MemoryRecorder(), turn_budget=3.0
    )
    driver = call(engine, plan_id="budget_three_slow")
    assert driver.path == [
        ("first", "next"),
        ("second", "next"),
        ("third", "next"),
        ("done", "end"),
    ]
