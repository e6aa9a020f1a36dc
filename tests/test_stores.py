"""The session store contract (memory and a real Redis), and the engine running on each."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ivr.engine.loader import load_file
from ivr.engine.records import CallRecord
from ivr.engine.stores import CALL_KEY, LOCK_KEY, PLAN_KEY, MemoryStore, open_store
from ivr.engine.stores.redis_store import RedisStore
from ivr.engine.turns import PLAN_SOURCE_TTL, Engine
from ivr.errors import LockTimeout, StoreError
from tests.conftest import PLANS, free_port
from tests.driver import CallDriver, spoken

SID = "CA" + "1" * 32
OTHER = "CA" + "2" * 32
CALL_PLAN = "store_call.yaml"


class Monotonic:
    """A settable stand-in for time.monotonic (MemoryStore's clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def raw_keys(store: Any) -> set[str]:
    """Every key the store holds, read from the backend itself."""
    if isinstance(store, RedisStore):
        return {k.decode() for k in store.client.keys("*")}  # type: ignore[union-attr]
    return set(store.keys())


def raw_text(store: RedisStore, key: str) -> str:
    """The value of `key` as Redis holds it, decoded as UTF-8 (fails on anything else)."""
    value = store.client.get(key)
    assert isinstance(value, bytes), f"{key}: {value!r}"
    return value.decode("utf-8")


@pytest.fixture
def down_store() -> Iterator[RedisStore]:
    """A Redis store pointed at a loopback port where nothing listens."""
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    yield store
    store.client.close()


# --- the store contract, both stores -------------------------------------------------------


def test_key_templates() -> None:
    assert CALL_KEY.format(sid=SID) == f"ivr:call:{SID}"
    assert PLAN_KEY.format(version="abc123") == "ivr:plan:abc123"
    assert LOCK_KEY.format(sid=SID) == f"ivr:lock:{SID}"


def test_get_put_delete_round_trip(store: Any) -> None:
    assert store.get(SID) is None
    store.put(SID, '{"turn":1}', 60)
    assert store.get(SID) == '{"turn":1}'
    store.put(SID, '{"turn":2}', 60)  # a put replaces the value
    assert store.get(SID) == '{"turn":2}'
    assert store.get(OTHER) is None  # calls are kept apart
    store.delete(SID)
    assert store.get(SID) is None
    store.delete(SID)  # deleting a missing call is not an error


def test_values_are_json_text(store: Any) -> None:
    value = {
        "data": {"Amount": "42.50", "Name": "Zoë £ €"},
        "history": [["a", "next"]],
        "turn": 3,
        "ended_at": None,
    }
    store.put(SID, json.dumps(value), 60)
    text = store.get(SID)
    assert isinstance(text, str)
    assert json.loads(text) == value


def test_plan_sources(store: Any) -> None:
    source = (PLANS / CALL_PLAN).read_text(encoding="utf-8")
    assert store.get_plan("96ee528ce78e") is None
    store.put_plan("96ee528ce78e", source, 60)
    assert store.get_plan("96ee528ce78e") == source
    assert store.get_plan("000000000000") is None
    # plans and calls are separate namespaces
    store.put_plan(SID, "plan text", 60)
    assert store.get(SID) is None
    store.put(OTHER, "{}", 60)
    assert store.get_plan(OTHER) is None


def test_keys_follow_the_templates(store: Any) -> None:
    store.put(SID, '{"turn":1}', 60)
    store.put_plan("96ee528ce78e", "plan: x\n", 60)
    assert raw_keys(store) == {f"ivr:call:{SID}", "ivr:plan:96ee528ce78e"}
    store.delete(SID)
    assert raw_keys(store) == {"ivr:plan:96ee528ce78e"}


def test_ping(store: Any) -> None:
    assert store.ping() is True


# --- TTL -----------------------------------------------------------------------------------


def test_memory_store_expires_values_after_their_ttl() -> None:
    clock = Monotonic()
    store = MemoryStore(clock=clock)
    store.put(SID, "{}", 10)
    store.put(OTHER, "{}", 100)
    store.put_plan("v1", "plan: x\n", 10)
    clock.now += 9.9
    assert store.get(SID) == "{}"
    assert store.get_plan("v1") == "plan: x\n"
    clock.now += 0.1
    assert store.get(SID) is None
    assert store.get_plan("v1") is None
    assert store.get(OTHER) == "{}"
    assert raw_keys(store) == {f"ivr:call:{OTHER}"}


def test_memory_store_put_renews_the_ttl() -> None:
    clock = Monotonic()
    store = MemoryStore(clock=clock)
    store.put(SID, '{"turn":1}', 10)
    clock.now += 8
    store.put(SID, '{"turn":2}', 10)
    clock.now += 8
    assert store.get(SID) == '{"turn":2}'
    clock.now += 2
    assert store.get(SID) is None


def test_redis_store_sets_a_ttl_and_redis_expires_the_keys(redis_store: RedisStore) -> None:
    client = redis_store.client
    redis_store.put(SID, '{"turn":1}', 1)
    redis_store.put_plan("v1", "plan: x\n", 1)
    redis_store.put(OTHER, '{"turn":1}', 3600)
    assert 0 < client.pttl(f"ivr:call:{SID}") <= 1000
    assert 0 < client.pttl("ivr:plan:v1") <= 1000
    assert 3590 < client.ttl(f"ivr:call:{OTHER}") <= 3600
    time.sleep(1.1)
    assert redis_store.get(SID) is None
    assert redis_store.get_plan("v1") is None
    assert client.exists(f"ivr:call:{SID}", "ivr:plan:v1") == 0
    assert redis_store.get(OTHER) == '{"turn":1}'


def test_redis_values_are_plain_json_text_not_pickles(redis_store: RedisStore) -> None:
    value = {"call_sid": SID, "data": {"Amount": "42.50", "Name": "Zoë"}, "turn": 2}
    redis_store.put(SID, json.dumps(value), 60)
    redis_store.put_plan("v1", "plan: x\n", 60)
    raw = redis_store.client.get(f"ivr:call:{SID}")
    assert isinstance(raw, bytes) and not raw.startswith(b"\x80")  # pickle protocol 2+
    assert json.loads(raw.decode("utf-8")) == value
    assert redis_store.client.get("ivr:plan:v1") == b"plan: x\n"
    assert redis_store.client.type(f"ivr:call:{SID}") == b"string"


# --- the per-call lock: `lock()`, and `session()` (lock + read, write + unlock) ------------

LOCKS = pytest.mark.parametrize("how", ["lock", "session"])


def enter(store: Any, how: str, sid: str, timeout: float) -> Any:
    """The per-call lock taken either way; both must exclude each other."""
    return store.lock(sid, timeout=timeout) if how == "lock" else store.session(sid, timeout)


class Holder:
    """A thread holding `sid`'s lock until `release` is set."""

    def __init__(self, store: Any, sid: str, how: str = "lock"):
        self.release = threading.Event()
        self.released: list[float] = []  # when it let go (monotonic)
        held = threading.Event()

        def run() -> None:
            with enter(store, how, sid, 5):
                held.set()
                self.release.wait(10)
                self.released.append(time.monotonic())

        self.thread = threading.Thread(target=run)
        self.thread.start()
        assert held.wait(5)

    def join(self) -> None:
        self.release.set()
        self.thread.join()


@pytest.mark.parametrize(
    "holder, waiter",
    [("lock", "lock"), ("session", "session"), ("lock", "session"), ("session", "lock")],
)
def test_lock_is_exclusive_and_a_second_acquirer_waits(
    store: Any, holder: str, waiter: str
) -> None:
    holding = Holder(store, SID, holder)
    released = holding.released
    threading.Timer(0.1, holding.release.set).start()  # lets go while the waiter waits
    try:
        with enter(store, waiter, OTHER, 0.05):  # another call is not blocked
            pass
        with enter(store, waiter, SID, 5):
            acquired = time.monotonic()
            assert released, "the second acquirer got the lock while the first held it"
        assert acquired >= released[0]
    finally:
        holding.join()


@LOCKS
def test_lock_times_out_with_lock_timeout_while_held(store: Any, how: str) -> None:
    holding = Holder(store, SID, how)
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeout) as info, enter(store, how, SID, 0.1):
            pytest.fail("acquired a lock that another thread holds")
        waited = time.monotonic() - started
        assert 0.08 <= waited < 2
        assert not holding.released, "the holder let go before the waiter gave up"
        assert isinstance(info.value, StoreError)
        assert SID in str(info.value)
    finally:
        holding.join()
    with enter(store, how, SID, 0.1):  # free again once the holder left
        pass


@LOCKS
def test_lock_is_released_when_the_body_raises(store: Any, how: str) -> None:
    with pytest.raises(ValueError), enter(store, how, SID, 1):
        raise ValueError("applet blew up")
    with enter(store, how, SID, 0.1):
        pass


def test_session_reads_under_the_lock_and_writes_when_it_ends(store: Any) -> None:
    with store.session(SID) as slot:
        assert slot.value is None
        slot.put('{"turn":1}', 60)
        assert store.get(SID) is None  # written when the turn ends, not before
    assert store.get(SID) == '{"turn":1}'
    with store.session(SID) as slot:
        assert slot.value == '{"turn":1}'  # nothing written: the value stays
    assert store.get(SID) == '{"turn":1}'
    with store.session(SID) as slot:
        slot.delete()
    assert store.get(SID) is None
    assert raw_keys(store) == set()  # and no lock key is left behind


def test_a_failed_turn_writes_nothing(store: Any) -> None:
    """Both stores must agree on what an exception inside `session()` does to the value."""
    store.put(SID, '{"turn":1}', 60)
    with pytest.raises(ValueError), store.session(SID) as slot:
        slot.put('{"turn":2,"half":"done"}', 60)
        raise ValueError("the turn failed after it wrote")
    assert store.get(SID) == '{"turn":1}'


def test_memory_session_write_has_its_ttl() -> None:
    clock = Monotonic()
    store = MemoryStore(clock=clock)
    with store.session(SID) as slot:
        slot.put("{}", 10)
    clock.now += 10
    assert store.get(SID) is None


def test_redis_session_write_has_its_ttl(redis_store: RedisStore) -> None:
    with redis_store.session(SID) as slot:
        slot.put("{}", 120)
    assert 110 < redis_store.client.ttl(f"ivr:call:{SID}") <= 120


def test_redis_turn_that_outlived_its_lock_does_not_overwrite(
    redis_url: str, redis_store: RedisStore
) -> None:
    """A turn slower than lock_ttl lost the call to the next turn: its write must not land."""
    slow = RedisStore.from_url(redis_url, lock_ttl=0.1)
    try:
        redis_store.put(SID, '{"turn":1}', 60)
        with pytest.raises(StoreError, match="expired"), slow.session(SID) as slot:
            time.sleep(0.15)  # the lock expires; another worker takes the call
            with redis_store.session(SID, timeout=0.1) as newer:
                newer.put('{"turn":2}', 60)
            slot.put('{"turn":2,"stale":true}', 60)
        assert redis_store.get(SID) == '{"turn":2}'
    finally:
        slow.client.close()


@LOCKS
def test_lock_serializes_read_modify_write(store: Any, how: str) -> None:
    store.put(SID, json.dumps({"n": 0}), 60)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(5):
                if how == "lock":
                    with store.lock(SID, timeout=5):
                        n = json.loads(store.get(SID))["n"]
                        time.sleep(0.002)
                        store.put(SID, json.dumps({"n": n + 1}), 60)
                else:
                    with store.session(SID, 5) as slot:
                        n = json.loads(slot.value)["n"]
                        time.sleep(0.002)
                        slot.put(json.dumps({"n": n + 1}), 60)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(store.get(SID)) == {"n": 20}


@LOCKS
def test_redis_lock_is_shared_by_separate_clients(
    redis_url: str, redis_store: RedisStore, how: str
) -> None:
    other = RedisStore.from_url(redis_url)  # another worker process's connection
    try:
        holding = Holder(redis_store, SID, how)
        try:
            ttl = other.client.pttl(f"ivr:lock:{SID}")
            assert 0 < ttl <= redis_store.lock_ttl * 1000  # a crashed holder cannot wedge a call
            with pytest.raises(LockTimeout), enter(other, how, SID, 0.05):
                pytest.fail("another client acquired a held lock")
        finally:
            holding.join()
        with enter(other, how, SID, 0.5):
            pass
        assert other.client.exists(f"ivr:lock:{SID}") == 0
    finally:
        other.client.close()


# --- Redis down ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.get(SID),
        lambda s: s.put(SID, "{}", 60),
        lambda s: s.delete(SID),
        lambda s: s.put_plan("v1", "plan: x\n", 60),
        lambda s: s.get_plan("v1"),
        lambda s: s.lock(SID, timeout=0.1).__enter__(),
        lambda s: s.session(SID, 0.1).__enter__(),
    ],
    ids=["get", "put", "delete", "put_plan", "get_plan", "lock", "session"],
)
def test_redis_outage_raises_store_error(
    down_store: RedisStore, operation: Callable[[Any], Any]
) -> None:
    with pytest.raises(StoreError, match="Redis") as info:
        operation(down_store)
    assert not isinstance(info.value, LockTimeout)


def test_ping_is_false_when_redis_is_down(down_store: RedisStore) -> None:
    assert down_store.ping() is False


def test_open_store(redis_url: str) -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory://"), MemoryStore)
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    try:
        assert store.ping() is True
    finally:
        store.client.close()
    with pytest.raises(ValueError, match="redis://"):
        open_store("mongodb://localhost")


# --- the engine on each store --------------------------------------------------------------


def pay_call(engine: Engine, sid: str = SID) -> tuple[CallDriver, CallRecord | None]:
    """welcome → menu (a wrong key, then 1) → amount 42*50 → goodbye, then the status callback."""
    call = CallDriver(engine, sid, caller="+447700900123", called="+442071230901")
    call.press("9")
    call.press("1")
    call.press("42*50")
    call.hangup()
    return call, call.record()


def test_a_call_runs_identically_on_memory_and_redis(
    make_engine: Callable[..., Engine], redis_store: RedisStore
) -> None:
    on_memory, memory_record = pay_call(make_engine(CALL_PLAN, store=MemoryStore()))
    on_redis, redis_record = pay_call(make_engine(CALL_PLAN, store=redis_store))

    assert [spoken(t.actions) for t in on_redis.turns] == [
        [
            "Welcome to the store test line.",
            "Press 1 to make a payment, or 2 to hear your balance.",
        ],
        ["That is not an option.", "Press 1 to make a payment, or 2 to hear your balance."],
        ["Enter the amount in pounds, then press hash."],
        ["You will pay £42.50. Goodbye."],
    ]
    assert [t.turn for t in on_redis.turns] == [1, 2, 3, 4]
    assert on_redis.ended
    assert on_redis.turns == on_memory.turns
    assert redis_record is not None
    assert redis_record == memory_record
    assert redis_record.outcome == "AmountTaken"
    assert [(s.applet, s.outcome) for s in redis_record.path] == [
        ("welcome", "next"),
        ("main", "1"),
        ("amount", "next"),
        ("thanks", "end"),
    ]


def test_the_session_is_removed_when_the_call_ends(
    make_engine: Callable[..., Engine], store: Any
) -> None:
    engine = make_engine(CALL_PLAN, store=store)
    call = CallDriver(engine, SID, called="+442071230901")
    call.press("2")
    assert call.ended
    tombstone = engine.session(SID)  # kept briefly so a repeated webhook gets the same answer
    assert tombstone is not None and tombstone.ended
    assert engine.keys(SID, 1, "2") == call.last

    engine.end_call(SID, "completed")  # the status callback: the call is over
    record = call.record()
    assert record is not None and record.outcome == "BalanceHeard"
    assert engine.session(SID) is None, "the ended call's session outlived the status callback"
    assert store.get(SID) is None
    assert not {k for k in raw_keys(store) if not k.startswith("ivr:plan:")}
    assert engine.end_call(SID, "completed") is None  # a repeated status callback
    assert len(engine.recorder.records) == 1  # type: ignore[attr-defined]


def test_a_caller_hanging_up_mid_call_removes_the_session(
    make_engine: Callable[..., Engine], store: Any
) -> None:
    engine = make_engine(CALL_PLAN, store=store)
    call = CallDriver(engine, SID, called="+442071230901")
    call.press("1")
    record = call.hangup("completed")
    assert record is not None
    assert record.outcome == "Abandoned"
    assert record.path[-1].applet == "amount" and record.path[-1].outcome == "caller_hung_up"
    assert engine.session(SID) is None
    assert not {k for k in raw_keys(store) if not k.startswith("ivr:plan:")}


def test_a_session_in_redis_has_a_ttl(
    make_engine: Callable[..., Engine], redis_store: RedisStore
) -> None:
    engine = make_engine(CALL_PLAN, store=redis_store, session_ttl=3600, ended_ttl=120)
    client = redis_store.client
    call = CallDriver(engine, SID, called="+442071230901")
    version = call.session.plan_version
    assert 3590 < client.ttl(f"ivr:call:{SID}") <= 3600
    assert PLAN_SOURCE_TTL - 10 < client.ttl(f"ivr:plan:{version}") <= PLAN_SOURCE_TTL
    assert json.loads(raw_text(redis_store, f"ivr:call:{SID}"))["turn"] == 1
    call.press("2")
    assert call.ended
    assert 0 < client.ttl(f"ivr:call:{SID}") <= 120  # the ended call's tombstone goes soon
    assert raw_keys(redis_store) == {f"ivr:call:{SID}", f"ivr:plan:{version}"}
    assert all(client.ttl(k) > 0 for k in client.keys("*"))  # nothing lives forever


def test_every_key_the_engine_writes_is_templated_json(
    make_engine: Callable[..., Engine], redis_store: RedisStore
) -> None:
    engine = make_engine(CALL_PLAN, store=redis_store)
    call = CallDriver(engine, SID, called="+442071230901")
    call.press("1")
    version = call.session.plan_version
    assert raw_keys(redis_store) == {f"ivr:call:{SID}", f"ivr:plan:{version}"}
    session = json.loads(raw_text(redis_store, f"ivr:call:{SID}"))
    assert session["call_sid"] == SID and session["applet"] == "amount"
    assert session["data"]["Choice"] == "1"
    source = (PLANS / CALL_PLAN).read_text(encoding="utf-8")
    assert raw_text(redis_store, f"ivr:plan:{version}") == source
    assert load_file(PLANS / CALL_PLAN)[0].version == version


def test_the_plan_source_stays_published_while_calls_start(
    make_engine: Callable[..., Engine],
) -> None:
    """Other workers find a pinned version in the store: start_call must keep it there."""
    clock = Monotonic()
    store = MemoryStore(clock=clock)
    engine = make_engine(CALL_PLAN, store=store)
    first = CallDriver(engine, SID, called="+442071230901")
    version = first.session.plan_version
    assert store.get_plan(version) is not None
    clock.now += PLAN_SOURCE_TTL + 1  # the process stays up longer than the plan key's TTL
    second = CallDriver(engine, OTHER, called="+442071230901")
    assert second.session.plan_version == version
    assert store.get_plan(version) is not None, (
        "a new call started on a plan version whose source is no longer in the store"
    )


def test_engine_raises_store_error_when_redis_is_down(
    make_engine: Callable[..., Engine], down_store: RedisStore
) -> None:
    engine = make_engine(CALL_PLAN, store=down_store)
    with pytest.raises(StoreError, match="Redis"):
        engine.start_call(SID, caller="+447700900123", called="+442071230901")
    with pytest.raises(StoreError, match="Redis"):
        engine.keys(SID, 1, "1")
    with pytest.raises(StoreError, match="Redis"):
        engine.end_call(SID)
