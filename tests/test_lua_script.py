"""The session store's Lua calls on connections it keeps (`LuaConnections`, `LuaScript` in
ivr/engine/stores/redis_store.py): a script Redis lost is loaded again, a connection Redis
dropped is made again, a call cut short never leaves a connection out of step, and a forked
process never uses its parent's sockets. Against the real redis-server the tests start."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
import redis

from ivr.engine.stores.redis_store import LuaConnections, LuaScript, RedisStore
from ivr.errors import StoreError

ECHO = "return {KEYS[1], ARGV[1]}"
SID = "CA" + "7" * 32


def test_a_script_redis_lost_is_loaded_again(redis_store: RedisStore) -> None:
    script = lua(redis_store, ECHO)
    assert script(["k"], ["v"]) == [b"k", b"v"]
    redis_store.client.script_flush()  # as after a restart of Redis
    assert script(["k"], ["w"]) == [b"k", b"w"]
    with redis_store.session(SID) as slot:  # the store's own scripts too
        slot.put("{}", 60)
    redis_store.client.script_flush()
    with redis_store.session(SID) as slot:
        assert slot.value == "{}"


def test_a_connection_redis_dropped_is_made_again(redis_store: RedisStore) -> None:
    script = lua(redis_store, ECHO)
    script(["k"], ["v"])
    (conn,) = script.connections.idle
    redis_store.client.client_kill_filter(_id=_client_id(conn))
    assert script(["k"], ["again"]) == [b"k", b"again"]  # retried on a new socket
    assert script.connections.idle == [conn]


def test_an_error_reply_keeps_the_connection_in_step(redis_store: RedisStore) -> None:
    failing = lua(redis_store, "return redis.error_reply('refused here')")
    with pytest.raises(redis.ResponseError, match="refused here"):
        failing([], [])
    (conn,) = failing.connections.idle
    assert conn._sock is not None  # still connected: an error reply is a whole answer
    assert lua(redis_store, ECHO)(["a"], ["b"]) == [b"a", b"b"]


def test_a_call_cut_short_closes_its_connection(
    redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = lua(redis_store, ECHO)
    script(["k"], ["v"])
    (conn,) = script.connections.idle

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # between sending and reading: the answer is still coming

    monkeypatch.setattr(conn, "read_response", interrupted)
    with pytest.raises(KeyboardInterrupt):
        script(["k"], ["v"])
    monkeypatch.undo()
    assert conn._sock is None  # its unread answer went with it
    assert script(["k"], ["next"]) == [b"k", b"next"]


def test_redis_gone_is_a_store_error_and_no_connection_piles_up(redis_url: str) -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    for _ in range(5):
        with pytest.raises(StoreError, match="Redis session store failed"):
            with store.session(SID):
                pass
    assert not store.client.connection_pool._in_use_connections
    assert store._acquire.connections.idle == []


def test_a_connection_kept_through_an_outage_comes_back(redis_store: RedisStore) -> None:
    script = lua(redis_store, ECHO)
    script(["k"], ["v"])
    (conn,) = script.connections.idle
    conn.port = 1  # as if Redis went away: every connect now fails
    redis_store.client.client_kill_filter(_id=_client_id(conn))
    for _ in range(3):
        with pytest.raises(redis.ConnectionError):
            script(["k"], ["v"])
    assert script.connections.idle == [conn]  # the same one each time, not a new one per failure
    conn.port = redis_store.client.connection_pool.connection_kwargs["port"]
    assert script(["k"], ["back"]) == [b"k", b"back"]


def test_threads_never_share_a_connection(redis_store: RedisStore) -> None:
    script = lua(redis_store, "redis.call('incr', KEYS[1]) return ARGV[1]")
    errors: list[BaseException] = []

    def calls(n: int) -> None:
        try:
            for i in range(200):
                assert script(["count"], [f"{n}:{i}"]) == f"{n}:{i}".encode()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=calls, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert int(redis_store.client.get("count") or 0) == 1600
    pool = redis_store.client.connection_pool
    assert len(pool._in_use_connections) == len(script.connections.idle) <= 8


def test_at_most_keep_connections_are_kept_the_rest_go_back_to_the_pool(
    redis_store: RedisStore,
) -> None:
    connections = LuaConnections(redis_store.client, keep=4)
    taken = [connections.take() for _ in range(6)]  # six calls at once
    for conn in taken:
        connections.give_back(conn, in_step=True)
    pool = redis_store.client.connection_pool
    assert connections.idle == taken[:4]
    assert len(pool._in_use_connections) == 4
    assert set(pool._available_connections) >= set(taken[4:])


def test_an_answer_nobody_read_is_never_read_as_the_next_calls(redis_store: RedisStore) -> None:
    script = lua(redis_store, ECHO)
    script(["k"], ["v"])
    (conn,) = script.connections.idle
    conn.send_command("PING")  # as if a call had gone away before reading its answer
    time.sleep(0.05)  # the PONG is waiting on the socket
    assert script(["k"], ["mine"]) == [b"k", b"mine"]
    assert script(["k"], ["again"]) == [b"k", b"again"]


def test_both_scripts_of_a_store_share_its_connections(redis_store: RedisStore) -> None:
    for n in range(20):
        with redis_store.session(f"CA{n:032d}") as slot:
            slot.put("{}", 60)
    assert redis_store._acquire.connections is redis_store._release.connections
    assert len(redis_store._acquire.connections.idle) == 1  # one thread: one connection


def test_a_lock_taken_again_after_a_lost_answer_is_ours(redis_store: RedisStore) -> None:
    """The retry policy sends a call again when its answer was lost (a timeout): the lock the
    first send took has the turn's own token, so the second finds it is already held by us."""
    keys = ["ivr:lock:" + SID, "ivr:call:" + SID]
    redis_store.client.set(keys[1], "{}")
    assert redis_store._acquire(keys, ["token-1", 60000]) == [1, b"{}"]
    assert redis_store._acquire(keys, ["token-1", 60000]) == [1, b"{}"]  # the same turn again
    assert redis_store._acquire(keys, ["token-2", 60000]) == [0, None]  # another turn waits


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_makes_its_own_connections(redis_store: RedisStore) -> None:
    script = lua(redis_store, ECHO)
    script(["k"], ["parent"])
    (parent_conn,) = script.connections.idle
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answers on a connection of its own
        try:
            answer = script(["k"], ["child"])
            ok = answer == [b"k", b"child"] and parent_conn not in script.connections.idle
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(read)
    assert script(["k"], ["parent"]) == [b"k", b"parent"]  # the parent's socket is intact
    assert script.connections.idle == [parent_conn]


def lua(store: RedisStore, source: str) -> LuaScript:
    return LuaScript(LuaConnections(store.client), source)


def _client_id(conn: Any) -> int:
    conn.send_command("CLIENT", "ID")
    return int(conn.read_response())
