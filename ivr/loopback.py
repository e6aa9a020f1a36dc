"""In-process HTTP: a `requests` adapter that hands requests for the app's own base URL straight
to its WSGI application. Simulated calls run embedded (no port to open) while the plans' web
service calls still go through the full HTTP stack of the app: routing, JSON, status codes."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client

from ivr.canned import BodyRaw


class WsgiAdapter(BaseAdapter):
    def __init__(self, app: Any, base: str):
        super().__init__()
        self.client = Client(app)
        self.base = base.rstrip("/")

    def send(self, request: requests.PreparedRequest,  # type: ignore[override]
             **kwargs: Any) -> requests.Response:
        url = request.url or ""
        path = url[len(self.base):] or "/"
        body = request.body.encode() if isinstance(request.body, str) else request.body
        result = self.client.open(path, method=request.method or "GET",
                                  headers=dict(request.headers), data=body or b"")
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


def mount(session: requests.Session, app: Any, base: str) -> None:
    """Serve `base` from `app` in-process; canned answers, when mounted, still come first."""
    from ivr.canned import CannedAdapter

    prefix = base.rstrip("/") + "/"
    adapter = WsgiAdapter(app, base)
    canned = session.get_adapter(prefix)
    if isinstance(canned, CannedAdapter):
        canned.fallback = (prefix, adapter)
    else:
        session.mount(prefix, adapter)
