"""Collections' periodic work as RQ jobs over Redis (collections.md "Jobs"): `ivr worker`
processes, on any number of hosts, run the `tick` job (the inbox, flags, contact rounds,
placed calls, scheduled payments) every `collections.interval` seconds. The next tick is
scheduled with RQ's scheduler under a job id of its time slot, so however many processes
schedule it there is one tick per slot; each tick may run on any worker, and every piece of
work in it is claimed in SQL before it is done (a payment is charged once, a notice sent once,
whatever the workers). With the embedded memory store the same work runs in a thread of the
serving process instead (ivr/collections/periodic.py)."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime

import redis
from rq import Queue, SimpleWorker

from ivr.app.collections import Collections, open_collections
from ivr.app.settings import Settings

log = logging.getLogger("ivr.collections")

QUEUE = "ivr-collections"
TICK_ID = "ivr-collections-tick-{slot}"  # one tick per time slot of `interval` seconds
JOB_TIMEOUT = 600  # seconds one tick may take

_opened: Collections | None = None
_opened_lock = threading.Lock()


def queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE, connection=connection)


def schedule_tick(connection: redis.Redis, interval: float, now: float | None = None) -> str:
    """Schedule the tick of the next time slot (the same job id for every process that asks,
    so it is scheduled once); its job id."""
    now = time.time() if now is None else now
    slot = int(now // interval) + 1
    job_id = TICK_ID.format(slot=slot)
    at = datetime.fromtimestamp(slot * interval, tz=UTC)
    queue(connection).enqueue_at(
        at, tick, job_id=job_id, job_timeout=JOB_TIMEOUT, result_ttl=60, failure_ttl=86_400
    )
    return job_id


def tick() -> None:
    """The RQ job: the periodic work once, then the next tick scheduled."""
    settings, collections = _collections()
    try:
        collections.tick()
    finally:
        connection = redis.Redis.from_url(settings.store_url)
        try:
            schedule_tick(connection, collections.config.interval)
        finally:
            connection.close()


def _collections() -> tuple[Settings, Collections]:
    """This worker process's settings (IVR_CONFIG) and collections, built on first use."""
    global _opened
    with _opened_lock:
        settings = Settings.load()
        if _opened is None:
            _opened = open_collections(settings)
        return settings, _opened


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """`ivr worker`: run collections jobs from the settings' Redis until stopped (jobs run in
    this process, one at a time: a worker keeps its connections between ticks)."""
    connection = redis.Redis.from_url(settings.store_url)
    _, collections = _collections()
    if collections.bridge is None:
        log.warning(
            "ivr worker: no PCI bridge API key (PCI_API_KEY or PCI_API_KEYS): scheduled "
            "payments will not be charged by this worker"
        )
    schedule_tick(connection, collections.config.interval)
    worker = SimpleWorker(
        [queue(connection)], connection=connection, name=f"ivr-worker-{os.getpid()}"
    )
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
