"""How the simulator reaches the webhooks: the Flask app in-process, or a server over HTTP."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests


class Transport(Protocol):
    def post(self, url: str, params: dict[str, str], headers: dict[str, str]
             ) -> tuple[int, str]: ...

    def absolute(self, url: str, public_base: str | None = None) -> str: ...


class FlaskTransport:
    """Calls a Flask app through its test client (no sockets, same code path)."""

    base = "http://localhost"

    def __init__(self, app: Any):
        self.client = app.test_client()

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]
             ) -> tuple[int, str]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.post(path, data=params, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    def absolute(self, url: str, public_base: str | None = None) -> str:
        return urljoin((public_base or self.base).rstrip("/") + "/", url.lstrip("/"))


class HttpTransport:
    """Calls a running server (`ivr call --url http://host:port`)."""

    def __init__(self, base: str, *, timeout: float = 15.0):
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]
             ) -> tuple[int, str]:
        try:
            response = self.session.post(self.absolute(url), data=params, headers=headers,
                                         timeout=self.timeout)
        except requests.Timeout:
            return 504, ""  # Twilio gives up after 15 s: an application error
        except requests.ConnectionError:
            return 502, ""
        return response.status_code, response.text

    def absolute(self, url: str, public_base: str | None = None) -> str:
        if urlsplit(url).scheme:
            return url
        return urljoin((public_base or self.base).rstrip("/") + "/", url.lstrip("/"))
