"""`ivr serve`: the webhook app on a threaded WSGI server.

Plans are published and followed as in any serving process (ivr/app/fleet.py): a changed file
in the plans folder is published within a second (or at once on SIGHUP) and served to new
calls; calls in progress finish on the version they started with; a plan with errors is
refused and logged while the published version serves.
"""

from __future__ import annotations

import logging
import signal
import threading

from werkzeug.serving import make_server

from ivr.app.settings import Settings
from ivr.app.system import System

log = logging.getLogger("ivr.server")


def _reload_logged(system: System) -> None:
    try:
        system.reload_plans()
    except Exception:
        log.exception("reloading call plans failed; the loaded versions keep serving")


def configure_logging(level: str, fmt: str = "text") -> None:
    from ivr.adapters.logs import install

    install(level, fmt)


def run(settings: Settings, host: str, port: int) -> None:
    from foundation.gc_pause import settle_heap
    from ivr.app import create_app

    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    system: System = app.extensions["ivr"]
    if hasattr(signal, "SIGHUP"):
        # Reload on a thread: a second SIGHUP during a reload must not re-enter it here.
        signal.signal(
            signal.SIGHUP,
            lambda *_: threading.Thread(target=_reload_logged, args=(system,), daemon=True).start(),
        )
    server = make_server(host, port, app, threaded=True)
    settle_heap()  # what the server keeps for its life is not scanned by each collection
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
