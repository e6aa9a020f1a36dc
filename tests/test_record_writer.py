"""A fleet's dedicated call record writer (`ivr write-records`): while it runs the workers'
writer threads stand by, so writing records never competes with a caller's turn for a worker's
CPU; when it stops, or dies and its heartbeat lapses, the workers write again; nothing queued
is lost either way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from ivr.adapters import record_queue
from ivr.adapters.record_queue import DEDICATED_KEY, QUEUE_KEY, QueuedRecorder
from ivr.adapters.records_sql import SqlRecorder
from ivr.tools.cli import main
from tests.test_record_queue import record, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/calls.sqlite3"


class CountingRecorder(QueuedRecorder):
    """A worker's recorder that counts the batches its own writer thread writes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.wrote = 0

    def flush(self) -> int:
        written = super().flush()
        if threading.current_thread() is self._thread:
            self.wrote += written
        return written


@pytest.fixture
def worker(database: str, redis_client: redis.Redis, monkeypatch) -> Iterator[CountingRecorder]:
    monkeypatch.setattr(record_queue, "STANDBY_WAIT", 0.05)  # the test need not wait 1 s
    queued = CountingRecorder(SqlRecorder(database), redis_client)
    yield queued
    queued.close()


@pytest.fixture
def dedicated(database: str, redis_client: redis.Redis) -> Iterator[threading.Event]:
    """A dedicated writer running beside the worker (on a thread here; a process in a
    fleet); set the event to stop it."""
    queued = QueuedRecorder(SqlRecorder(database), redis_client, start=False)
    stop = threading.Event()
    thread = threading.Thread(target=queued.run_dedicated, args=(stop,), daemon=True)
    thread.start()
    wait_until(lambda: queued.dedicated_writer() is not None)
    yield stop
    stop.set()
    thread.join(10)
    queued.close()


def test_with_a_dedicated_writer_the_workers_stand_by(
    worker: CountingRecorder, dedicated: threading.Event, redis_client: redis.Redis, database: str
) -> None:
    for n in range(300):
        worker.record(record(n))
    wait_until(lambda: redis_client.llen(QUEUE_KEY) == 0)
    assert len(SqlRecorder(database).recent(1000)) == 300
    assert worker.wrote == 0  # all written by the dedicated writer


def test_the_workers_write_again_once_it_stops(
    worker: CountingRecorder, dedicated: threading.Event, redis_client: redis.Redis, database: str
) -> None:
    worker.record(record(1))
    wait_until(lambda: redis_client.llen(QUEUE_KEY) == 0)
    dedicated.set()
    wait_until(lambda: redis_client.get(DEDICATED_KEY) is None)  # it takes its heartbeat away
    for n in range(2, 12):
        worker.record(record(n))
    # the worker counts a batch once its flush returns, just after the queue empties
    wait_until(lambda: redis_client.llen(QUEUE_KEY) == 0 and worker.wrote == 10)
    assert len(SqlRecorder(database).recent(100)) == 11


def test_the_workers_write_again_when_a_dead_writers_heartbeat_lapses(
    worker: CountingRecorder, redis_client: redis.Redis, database: str
) -> None:
    redis_client.set(DEDICATED_KEY, "gone-host:1234", px=400)  # killed: no goodbye
    for n in range(5):
        worker.record(record(n))
    time.sleep(0.2)
    assert redis_client.llen(QUEUE_KEY) == 5  # still standing by for it
    wait_until(lambda: redis_client.llen(QUEUE_KEY) == 0 and worker.wrote == 5)
    assert len(SqlRecorder(database).recent(100)) == 5


def test_write_records_needs_a_redis_store(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"database: sqlite:///{tmp_path}/calls.sqlite3\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["write-records", "--config", str(config)])
    assert result.exit_code == 1
    assert "needs a Redis store (store: redis://...)" in result.output


def test_the_command_writes_the_queue_and_hands_back_on_sigterm(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, database: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"store: {redis_url}\ndatabase: {database}\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ivr.tools.cli", "write-records", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: redis_client.get(DEDICATED_KEY) is not None, timeout=30)
        queue = QueuedRecorder(SqlRecorder(database), redis_client, start=False)
        for n in range(50):
            queue.record(record(n))
        wait_until(lambda: redis_client.llen(QUEUE_KEY) == 0)
        assert len(SqlRecorder(database).recent(100)) == 50
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "the workers write the records again" in output
    assert redis_client.get(DEDICATED_KEY) is None
