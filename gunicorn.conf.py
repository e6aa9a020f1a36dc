"""gunicorn settings for the IVR engine (operations.md): `gunicorn -c gunicorn.conf.py
'ivr.app:create_app()'`. Values can be overridden on the command line or by GUNICORN_CMD_ARGS;
WEB_CONCURRENCY sets the number of workers."""

import os
import tempfile
from pathlib import Path

# Prometheus multiprocess mode: each worker writes its metrics to files here and a scrape of
# /metrics on any worker sums them. Set PROMETHEUS_MULTIPROC_DIR to keep them somewhere chosen.
# Counters start from zero with the server: what an earlier run left is cleared here, before
# the app is loaded (with --preload it is loaded before gunicorn's on_starting hook).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-metrics-")
for _stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
    _stale.unlink()

# The engine's modules and its applet plugins are imported here, once, in the master: every
# worker forked from it starts with them loaded, so a worker's start (and each recycle under
# load, see max_requests) costs create_app() alone, about 0.15 s of CPU instead of 0.6 s, and
# the pages the modules occupy stay mostly shared between workers (frozen: the collector never
# writes to them). Importing starts nothing (no thread, connection or plan: create_app does
# that in each worker), so the fork is as safe as without it. New code on disk therefore takes
# a restart of the master (a HUP starts workers with the code the master holds).
# IVR_IMPORT_IN_MASTER=0 turns it off.
if os.environ.get("IVR_IMPORT_IN_MASTER", "1") != "0":
    import ivr.app  # noqa: F401
    from foundation.gc_pause import settle_heap
    from ivr.engine.registry import REGISTRY

    list(REGISTRY)  # the applet plugins (entry points) loaded too: old and new code never mix
    settle_heap()

bind = os.environ.get("IVR_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "sync"  # a turn is short CPU work plus Redis and SQL round trips
# Twilio gives up on a webhook after 15 s; a turn answers within 12 s (its budget). A worker
# stuck well past that is killed and replaced.
timeout = 30
graceful_timeout = 20  # calls in progress are in Redis: a restarted worker picks them up
keepalive = 5
# Recycle a worker after this many webhooks (jittered, so not all at once; 0: never). While one
# starts again the others carry its callers: under load that is a burst of queueing, so it is
# rare (every 200,000 webhooks: about 10 minutes of a busy worker), a guard against slow growth.
# IVR_MAX_REQUESTS sets both (a --max-requests given to gunicorn keeps this jitter).
_recycle = os.environ.get("IVR_MAX_REQUESTS", "200000").strip()
if not _recycle.isdigit():
    raise ValueError(
        f"IVR_MAX_REQUESTS must be a whole number of webhooks (0: never), not {_recycle!r}"
    )
max_requests = int(_recycle)
max_requests_jitter = max_requests // 10
# Access lines without query strings or bodies: webhooks carry phone numbers in their forms.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms pid=%(p)s'


def post_worker_init(worker):
    """Start the worker's plan watcher (it follows published plan versions). create_app
    starts it in each worker already; with --preload the app was built before the fork, and
    the thread must be started again in the worker: start_background() does it once. Then
    settle the worker's heap: what it built at start is never scanned again by the garbage
    collector (a full collection of it took longer than a turn: foundation/gc_pause.py)."""
    from foundation.gc_pause import settle_heap

    app = worker.wsgi
    system = getattr(app, "extensions", {}).get("ivr")
    if system is not None:
        system.start_background()
    settle_heap()


def child_exit(server, worker):
    """Prometheus multiprocess mode: drop the live gauges of a worker that exited."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
