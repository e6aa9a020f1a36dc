"""`ivr write-records`: a fleet's dedicated call record writer (docs/operations.md)."""

from __future__ import annotations

import signal
import threading

import click

from ivr.tools.settings_option import CONFIG, load_settings


@click.command("write-records")
@CONFIG
def write_records(config: str | None) -> None:
    """Write the fleet's queued call records to the database, as its dedicated writer. The
    gunicorn workers queue each call's record in Redis; while this runs they leave the
    writing to it (it never competes with a caller's turn for their CPU), and they take it
    back within 5 s of it stopping. Run one (a second stands by: one writes at a time). Needs
    `store: redis://...`; stop it with SIGTERM or Ctrl-C (it finishes its batch)."""
    from ivr.adapters.logs import install
    from ivr.adapters.record_queue import QueuedRecorder
    from ivr.adapters.records_sql import SqlRecorder
    from ivr.app.service_keys import is_shared
    from ivr.engine.stores.redis_store import RedisStore

    settings = load_settings(config)
    if not is_shared(settings.store_url):
        raise click.ClickException(
            f"ivr write-records needs a Redis store (store: redis://...), not "
            f"{settings.store_url}: with the embedded store each call is recorded as it ends"
        )
    install(settings.log_level, settings.log_format)
    store = RedisStore.from_url(settings.store_url)  # the client the workers queue through
    queue = QueuedRecorder(SqlRecorder(settings.database_url), store.client, start=False)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    where = settings.store_url.split("@")[-1]
    click.echo(f"ivr write-records: call records from {where} to the database")
    try:
        queue.run_dedicated(stop)
    finally:
        queue.close()  # what is still queued is written first
    click.echo("ivr write-records: stopped; the workers write the records again")
