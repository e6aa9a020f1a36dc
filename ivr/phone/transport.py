"""How the simulator reaches the webhooks: the Flask app in-process, or a server over HTTP."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlsplit

import requests


class Transport(Protocol):
    """POSTs to a path (with query) of the app, or to an absolute URL elsewhere."""

    base: str

    def post(
        self, url: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, str]: ...


class FlaskTransport:
    """Calls a Flask app through its test client (no sockets, same code path)."""

    base = "http://localhost"

    def __init__(self, app: Any):
        self.client = app.test_client()

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(path, data=params, headers=headers)
        return response.status_code, response.get_data(as_text=True)


class HttpTransport:
    """Calls a running server (`ivr call --url http://host:port`)."""

    def __init__(self, base: str, *, timeout: float = 15.0):
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        target = url if urlsplit(url).scheme else self.base + url
        try:
            response = self.session.post(target, data=params, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            return 504, ""  # Twilio gives up after 15 s: an application error
        except requests.ConnectionError:
            return 502, ""
        return response.status_code, response.text
