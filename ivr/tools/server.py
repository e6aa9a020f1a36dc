"""`ivr serve`: the webhook app on a threaded WSGI server, with call plan hot reload.

Plans reload when a file in the plans folder changes (checked every second) or on SIGHUP.
A valid edit replaces the old version for new calls; calls in progress finish on the version
they started with; a plan with errors is refused and logged while the old version serves.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
from pathlib import Path

from werkzeug.serving import make_server

from ivr.app.settings import Settings
from ivr.app.system import System
from ivr.engine.loader import MAX_PLAN_BYTES

log = logging.getLogger("ivr.server")


def snapshot(folder: Path, max_bytes: int = MAX_PLAN_BYTES) -> dict[str, str]:
    """A content hash per plan file (a change means: reload). Hashes rather than modification
    times, which may not change for an edit within the same timestamp tick; a file over the
    size limit (refused unread by the loader) is not read here either."""
    out: dict[str, str] = {}
    if not folder.exists():
        return out
    for path in folder.rglob("*.y*ml"):
        try:
            stat = path.stat()
            if stat.st_size > max_bytes:
                out[str(path)] = f"size {stat.st_size} mtime {stat.st_mtime_ns}"
                continue
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue  # removed or unreadable while listing: the next pass sees it again
    return out


class PlanWatcher(threading.Thread):
    """Polls the plans folder and reloads on change."""

    def __init__(self, system: System, interval: float = 1.0):
        super().__init__(name="plan-watcher", daemon=True)
        self.system = system
        self.interval = interval
        self.stop = threading.Event()
        self.seen = self.snapshot()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # keep watching: the next edit may be fine
                log.exception("reloading call plans failed; the loaded versions keep serving")

    def snapshot(self) -> dict[str, str]:
        settings = self.system.settings
        return snapshot(settings.callplans, settings.max_plan_bytes)

    def check(self) -> bool:
        current = self.snapshot()
        if current == self.seen:
            return False
        self.seen = current
        log.info("call plans changed; reloading")
        self.system.reload_plans()
        return True


def _reload_logged(system: System) -> None:
    try:
        system.reload_plans()
    except Exception:
        log.exception("reloading call plans failed; the loaded versions keep serving")


def configure_logging(level: str) -> None:
    from ivr.adapters.logs import install

    install(level)


def run(settings: Settings, host: str, port: int) -> None:
    from ivr.app import create_app

    configure_logging(settings.log_level)
    app = create_app(settings)
    system: System = app.extensions["ivr"]
    if settings.watch_plans:
        PlanWatcher(system).start()
    if hasattr(signal, "SIGHUP"):
        # Reload on a thread: a second SIGHUP during a reload must not re-enter it here.
        signal.signal(
            signal.SIGHUP,
            lambda *_: threading.Thread(target=_reload_logged, args=(system,), daemon=True).start(),
        )
    server = make_server(host, port, app, threaded=True)
    log.info(
        "serving on http://%s:%d (plans: %s; store: %s)",
        host,
        port,
        settings.callplans,
        settings.store_url,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
