"""Turns of one call never interleave: threads, two engines on one Redis, a second process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from ivr.engine.actions import Turn, to_dict
from ivr.engine.catalog import Catalog
from ivr.engine.loader import load_file, load_text
from ivr.engine.records import MemoryRecorder
from ivr.engine.stores import MemoryStore
from ivr.engine.stores.redis_store import RedisStore
from ivr.engine.turns import Engine
from tests.conftest import PLANS, ROOT, Clock, LoopbackServer, Seen
from tests.driver import CallDriver, spoken

SID = "CA" + "7" * 32
PLAN = "store_connector.yaml"
SERVICE_DELAY = 0.3


@dataclass
class Window:
    who: str
    start: float
    end: float


class RecordingStore:
    """Wraps a store and notes, per thread, when a turn held a call's lock (wall clock).

    Everything else is passed through, so the wrapper follows the store API as it grows.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.held: list[Window] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextmanager
    def _held(self, manager: Any) -> Iterator[Any]:
        with manager as value:
            start = time.time()
            try:
                yield value
            finally:
                self.held.append(Window(threading.current_thread().name, start, time.time()))

    def lock(self, call_sid: str, timeout: float = 10.0) -> Any:
        return self._held(self.inner.lock(call_sid, timeout))

    def session(self, call_sid: str, timeout: float = 10.0) -> Any:
        return self._held(self.inner.session(call_sid, timeout))


@dataclass
class Service:
    """The loopback web service: how long it takes, and each request's (start, end)."""

    delay: float = SERVICE_DELAY
    windows: list[Window] = field(default_factory=list)


@pytest.fixture
def service(http_server: LoopbackServer) -> Service:
    """POST /lookup answers after `delay` with a balance and the number of lookups so far."""
    state = Service()
    lock = threading.Lock()

    def lookup(seen: Seen) -> tuple[int, dict[str, str], str]:
        start = time.time()
        time.sleep(state.delay)
        with lock:
            state.windows.append(Window(seen.json()["reference"], start, time.time()))
            count = len(state.windows)
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"balance": "42.50", "lookups": count}),
        )

    http_server.handle("POST", "/lookup", lookup)
    return state


@pytest.fixture
def engines(
    make_engine: Callable[..., Engine], http_server: LoopbackServer
) -> Iterator[Callable[..., Engine]]:
    """Engines on the connector plan, pointed at the loopback service; closed afterwards."""
    built: list[Engine] = []

    def build(store: Any, *plans: str) -> Engine:
        engine = make_engine(
            *(plans or (PLAN,)), store=store, secrets={"SERVICE_URL": http_server.url}
        )
        built.append(engine)
        return engine

    yield build
    for engine in built:
        engine.http.close()


def together(*calls: Callable[[], Turn]) -> list[Turn]:
    """Run the calls in threads released at the same instant; re-raise the first error."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"turn-{i}") for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def disjoint(windows: list[Window]) -> bool:
    ordered = sorted(windows, key=lambda w: w.start)
    return all(a.end <= b.start for a, b in zip(ordered, ordered[1:], strict=False))


# --- threads -------------------------------------------------------------------------------


def test_two_deliveries_of_one_turn_are_serialized(
    engines: Callable[..., Engine], store: Any, service: Service, http_server: LoopbackServer
) -> None:
    recording = RecordingStore(store)
    engine = engines(recording)
    call = CallDriver(engine, SID, called="+442071230902")
    turn = call.last.turn
    recording.held.clear()

    first, second = together(
        lambda: engine.keys(SID, turn, "1234"), lambda: engine.keys(SID, turn, "1234")
    )

    assert http_server.count("POST", "/lookup") == 1, "the web service was called twice"
    assert first == second
    assert first.turn == turn + 1 and not first.ended
    assert spoken(first.actions) == [
        "Your balance is £42.50. Press 1 to finish, or 2 to look it up again."
    ]
    # the two turns held the call one after the other, the web service inside the first
    assert len(recording.held) == 2
    assert disjoint(recording.held)
    winner = min(recording.held, key=lambda w: w.start)
    assert winner.start <= service.windows[0].start and service.windows[0].end <= winner.end
    session = engine.session(SID)
    assert session is not None and session.turn == turn + 1
    assert [(step[0], step[1]) for step in session.history] == [
        ("ask_account", "next"),
        ("lookup", "next"),
    ]
    assert session.data["Lookups"] == 1
    assert engine.keys(SID, turn, "1234") == first  # a late third delivery: same answer


def test_different_calls_are_not_serialized(
    engines: Callable[..., Engine], store: Any, service: Service
) -> None:
    engine = engines(store)
    one = CallDriver(engine, "CA" + "8" * 32, called="+442071230902")
    two = CallDriver(engine, "CA" + "9" * 32, called="+442071230902")
    a, b = together(lambda: one.press("1234"), lambda: two.press("5678"))
    assert not a.ended and not b.ended
    assert len(service.windows) == 2
    assert not disjoint(service.windows), "turns of different calls waited for each other"


# --- two engines, one Redis ----------------------------------------------------------------


def balance_call(first: Engine, second: Engine, sid: str = SID) -> CallDriver:
    """Turns alternate between the engines: start, account, look up again, finish, hang up."""
    call = CallDriver(first, sid, caller="+447700900123", called="+442071230902")
    for engine, keys in ((second, "1234"), (first, "2"), (second, "1")):
        call.engine = engine
        call.press(keys)
    call.engine = first
    call.hangup()
    return call


def test_two_engines_sharing_redis_alternate_turns(
    engines: Callable[..., Engine], redis_url: str, redis_store: RedisStore, service: Service
) -> None:
    service.delay = 0.0  # only the alternation matters here
    a_store, b_store = RedisStore.from_url(redis_url), RedisStore.from_url(redis_url)
    try:
        engine_a, engine_b = engines(a_store), engines(b_store)
        assert engine_a.catalog is not engine_b.catalog
        call = balance_call(engine_a, engine_b)
    finally:
        a_store.client.close()
        b_store.client.close()

    single = engines(MemoryStore())
    reference = balance_call(single, single)
    assert call.turns == reference.turns
    assert [spoken(t.actions) for t in call.turns] == [
        ["Please enter your account number, then press hash."],
        ["Your balance is £42.50. Press 1 to finish, or 2 to look it up again."],
        ["Your balance is £42.50. Press 1 to finish, or 2 to look it up again."],
        ["Thank you. Goodbye."],
    ]
    assert call.ended
    record = engine_b.recorder.find(SID)  # type: ignore[attr-defined]
    assert record is not None and record.outcome == "BalanceHeard"
    assert [(s.applet, s.outcome) for s in record.path] == [
        ("ask_account", "next"),
        ("lookup", "next"),
        ("tell", "2"),
        ("lookup", "next"),
        ("tell", "1"),
        ("goodbye", "end"),
    ]
    assert engine_a.recorder.find(SID) is None  # type: ignore[attr-defined]
    assert len(service.windows) == 4  # two lookups per call, this one and the reference
    assert redis_store.client.keys("ivr:lock:*") == []


def test_a_worker_without_the_pinned_version_reads_it_from_redis(
    engines: Callable[..., Engine],
    redis_url: str,
    redis_store: RedisStore,
    service: Service,
    clock: Clock,
    http_server: LoopbackServer,
) -> None:
    """Worker B was reloaded with a newer version; the call keeps the version it started on."""
    service.delay = 0.0
    b_store = RedisStore.from_url(redis_url)
    try:
        engine_a = engines(redis_store)
        source = (PLANS / PLAN).read_text(encoding="utf-8")
        newer, _ = load_text(source.replace("Thank you. Goodbye.", "Bye now."), "<newer>")
        engine_b = Engine(
            Catalog([newer]),
            b_store,
            clock=clock,
            secrets={"SERVICE_URL": http_server.url}.get,
            recorder=MemoryRecorder(),
        )
        try:
            call = CallDriver(engine_a, SID, called="+442071230902")
            call.engine = engine_b
            call.press("1234")
            call.press("1")
        finally:
            engine_b.http.close()
    finally:
        b_store.client.close()
    assert call.heard == ["Thank you. Goodbye."]
    record = engine_b.recorder.find(SID)  # type: ignore[attr-defined]
    assert record is not None
    assert record.plan_version == load_file(PLANS / PLAN)[0].version != newer.version


# --- a second process ----------------------------------------------------------------------

WORKER = r"""
import json, sys, time
from ivr.engine.actions import to_dict
from ivr.engine.catalog import Catalog
from ivr.engine.turns import Engine
from ivr.engine.loader import load_file
from ivr.engine.records import MemoryRecorder
from ivr.engine.stores.redis_store import RedisStore

redis_url, plan_file, service_url, sid, turn, digits = sys.argv[1:7]
store = RedisStore.from_url(redis_url)
engine = Engine(Catalog([load_file(plan_file)[0]]), store,
                secrets={"SERVICE_URL": service_url}.get, recorder=MemoryRecorder())
store.ping()
print("ready", flush=True)
sys.stdin.readline()
start = time.time()
result = engine.keys(sid, int(turn), digits)
end = time.time()
print(json.dumps({"turn": result.turn, "ended": result.ended, "start": start, "end": end,
                  "actions": [to_dict(a) for a in result.actions]}), flush=True)
engine.http.close()
store.client.close()
"""


def test_a_second_process_races_for_the_same_turn(
    engines: Callable[..., Engine],
    redis_url: str,
    redis_store: RedisStore,
    service: Service,
    http_server: LoopbackServer,
) -> None:
    engine = engines(redis_store)
    call = CallDriver(engine, SID, called="+442071230902")
    turn = call.last.turn
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER,
            redis_url,
            str(PLANS / PLAN),
            http_server.url,
            SID,
            str(turn),
            "1234",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdin is not None
        ready = worker.stdout.readline()
        if ready.strip() != "ready":
            _, err = worker.communicate(timeout=10)
            pytest.fail(f"worker did not start: {ready!r} {err}")
        worker.stdin.write("go\n")
        worker.stdin.flush()
        start = time.time()
        mine = engine.keys(SID, turn, "1234")
        end = time.time()
        out, err = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, err
    theirs = json.loads(out)

    assert http_server.count("POST", "/lookup") == 1, "both processes called the web service"
    assert theirs["turn"] == mine.turn == turn + 1
    assert theirs["actions"] == [to_dict(a) for a in mine.actions]
    assert spoken(mine.actions) == [
        "Your balance is £42.50. Press 1 to finish, or 2 to look it up again."
    ]
    # the two deliveries really were in flight at the same time
    assert theirs["start"] < end and start < theirs["end"]
    call.last = mine
    call.press("1")
    assert call.heard == ["Thank you. Goodbye."]
    assert [(step[0], step[1]) for step in call.session.history].count(("lookup", "next")) == 1
