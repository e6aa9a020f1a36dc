"""In-process HTTP: a `requests` adapter that hands requests for the app's own base URL straight
to its WSGI application. Simulated calls run embedded (no port to open), and a serving worker
never waits on another worker (or itself) over the network for a service it mounts, while the
plans' web service calls still go through the full HTTP stack of the app: routing, JSON,
status codes, authentication.

The caller's timeout holds as it would over a socket: the application runs on a thread of its
own, and an answer later than the timeout is a `requests.Timeout` (the work itself goes on, as
a server's would after the client gave up)."""

from __future__ import annotations

import threading
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client

from ivr.adapters.canned import BodyRaw


class WsgiAdapter(BaseAdapter):
    def __init__(self, app: Any, base: str):
        super().__init__()
        self.app = app
        self.base = base.rstrip("/")

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        **kwargs: Any,
    ) -> requests.Response:
        url = request.url or ""
        path = url[len(self.base) :] or "/"
        body = request.body.encode() if isinstance(request.body, str) else request.body
        timeout = _seconds(kwargs.get("timeout"))

        def call() -> Any:
            return Client(self.app).open(
                path,
                method=request.method or "GET",
                headers=dict(request.headers),
                data=body or b"",
            )

        if timeout is None:
            result = call()
        else:
            result = _within(call, timeout, url)
        response = requests.Response()
        response.status_code = result.status_code
        response.headers = CaseInsensitiveDict(dict(result.headers))
        response._content = result.get_data()
        response._content_consumed = True  # type: ignore[attr-defined]
        response.encoding = "utf-8" if (result.mimetype or "").startswith("text/") else None
        response.url = url
        response.request = request
        response.raw = BodyRaw(response._content)
        result.close()
        return response

    def close(self) -> None:
        pass


def _seconds(timeout: Any) -> float | None:
    """requests' timeout: a number, or (connect, read) where the read part bounds the answer."""
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else timeout[0]
    return None if timeout is None else float(timeout)


def _within(call: Any, timeout: float, url: str) -> Any:
    done = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="loopback", daemon=True).start()
    if not done.wait(timeout):
        raise requests.ReadTimeout(f"in-process call to {url} took over {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box["result"]


def mount(session: requests.Session, app: Any, base: str) -> None:
    """Serve `base` from `app` in-process; canned answers, when mounted, still come first."""
    from ivr.adapters.canned import CannedAdapter

    prefix = base.rstrip("/") + "/"
    adapter = WsgiAdapter(app, base)
    canned = session.get_adapter(prefix)
    if isinstance(canned, CannedAdapter):
        canned.fallback = (prefix, adapter)
    else:
        session.mount(prefix, adapter)


def mount_services(session: requests.Session, app: Any, base: str, paths: list[str]) -> None:
    """Serve only the services `app` mounts (`paths`, e.g. /pci/) under `base` in-process;
    everything else under `base` still goes over the network (it may be another server)."""
    adapter = WsgiAdapter(app, base)
    for path in paths:
        session.mount(base.rstrip("/") + path, adapter)
