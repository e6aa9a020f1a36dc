"""`ivr serve`: the webhook app on a threaded WSGI server, with call plan hot reload.

Plans reload when a file in the plans folder changes (checked every second) or on SIGHUP.
A valid edit replaces the old version for new calls; calls in progress finish on the version
they started with; a plan with errors is refused and logged while the old version serves.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from werkzeug.serving import make_server

from ivr.settings import Settings
from ivr.system import System

log = logging.getLogger("ivr.server")


def snapshot(folder: Path) -> dict[str, float]:
    """Modification times of the plan files (a change means: reload)."""
    if not folder.exists():
        return {}
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*.y*ml") if p.is_file()}


class PlanWatcher(threading.Thread):
    """Polls the plans folder and reloads on change."""

    def __init__(self, system: System, interval: float = 1.0):
        super().__init__(name="plan-watcher", daemon=True)
        self.system = system
        self.interval = interval
        self.stop = threading.Event()
        self.seen = snapshot(system.settings.callplans)

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.check()

    def check(self) -> bool:
        current = snapshot(self.system.settings.callplans)
        if current == self.seen:
            return False
        self.seen = current
        log.info("call plans changed; reloading")
        self.system.reload_plans()
        return True


def configure_logging(level: str) -> None:
    from ivr.logs import install

    install(level)


def run(settings: Settings, host: str, port: int) -> None:
    from ivr.web import create_app

    configure_logging(settings.log_level)
    app = create_app(settings)
    system: System = app.extensions["ivr"]
    if settings.watch_plans:
        PlanWatcher(system).start()
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: system.reload_plans())
    server = make_server(host, port, app, threaded=True)
    log.info("serving on http://%s:%d (plans: %s; store: %s)", host, port,
             settings.callplans, settings.store_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
