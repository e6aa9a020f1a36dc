"""Canned web service answers for scenario tests: a `requests` session whose answers come from
a list (method + URL), so a call plan can be tested without the services it calls."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from foundation.documents import check, validator

# A service answer in a scenario file (docs: README "Test"; ivr/app/scenarios.py).
SERVICE_ANSWER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {"type": "string"},
        "url": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "json": {},
        "body": {"type": ["string", "number", "null"]},
        "xml": {"type": ["string", "null"]},
        "headers": {"type": ["object", "null"]},
        "error": {"enum": ["timeout", "refused", None]},
        "times": {"type": ["integer", "null"], "minimum": 1},
    },
    "required": ["url"],
    "additionalProperties": False,
    "x-messages": {
        "required": "a service answer needs url:",
        "type": "a service answer should be a map, found {value!r}",
    },
}
_ANSWER = validator(SERVICE_ANSWER)


@dataclass
class CannedAnswer:
    method: str
    url: str
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # "timeout" | "refused"
    times: int | None = None  # answer only this many times (then the next match answers)
    used: int = 0

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str) -> CannedAnswer:
        """One answer from a scenario file or the pytest plugin; DocumentError (a ValueError)
        names what is wrong at `where`."""
        check(raw, _ANSWER, where)
        headers = {str(k): str(v) for k, v in (raw.get("headers") or {}).items()}
        if "json" in raw:
            body = json.dumps(raw["json"], default=str).encode()
            headers.setdefault("Content-Type", "application/json")
        elif "xml" in raw:
            body = str(raw["xml"]).encode()
            headers.setdefault("Content-Type", "application/xml")
        else:
            body = str(raw.get("body", "")).encode()
        error = raw.get("error")
        return cls(
            str(raw.get("method", "GET")).upper(),
            str(raw["url"]),
            int(raw.get("status", 200)),
            body,
            headers,
            error,
            raw.get("times"),
        )

    def matches(self, method: str, url: str) -> bool:
        if self.method != method or (self.times is not None and self.used >= self.times):
            return False
        want, got = urlsplit(self.url), urlsplit(url)
        if (want.scheme, want.netloc, want.path.rstrip("/")) != (
            got.scheme,
            got.netloc,
            got.path.rstrip("/"),
        ):
            return False
        return not want.query or want.query == got.query


class CannedAdapter(BaseAdapter):
    """Answers from the canned list; a request nobody answers is refused (and recorded)."""

    def __init__(self, answers: list[CannedAnswer]):
        super().__init__()
        self.answers = answers
        self.requests: list[tuple[str, str]] = []
        self.unanswered: list[str] = []
        self.fallback: tuple[str, BaseAdapter] | None = None  # (URL prefix, adapter)

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        **kwargs: Any,
    ) -> requests.Response:
        method, url = request.method or "GET", request.url or ""
        self.requests.append((method, url))
        for answer in self.answers:
            if answer.matches(method, url):
                answer.used += 1
                if answer.error == "timeout":
                    raise requests.ReadTimeout(f"canned timeout for {method} {url}")
                if answer.error == "refused":
                    raise requests.ConnectionError("Connection refused (canned)")
                return _response(request, answer)
        if self.fallback is not None and url.startswith(self.fallback[0]):
            return self.fallback[1].send(request, **kwargs)  # the app's own services
        self.unanswered.append(f"{method} {url.split('?')[0]}")
        raise requests.ConnectionError(
            f"Connection refused: no canned answer for {method} {url.split('?')[0]}"
        )

    def close(self) -> None:
        pass


def _response(request: requests.PreparedRequest, answer: CannedAnswer) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status
    response.headers = CaseInsensitiveDict(answer.headers)
    response._content = answer.body
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    response.raw = BodyRaw(answer.body)
    response._content_consumed = True  # type: ignore[attr-defined]
    return response


class BodyRaw(io.BytesIO):
    """A pre-read body that reads like urllib3's response (read, read1, stream)."""

    def stream(self, chunk_size: int = 65536, decode_content: bool = True):
        while chunk := self.read(chunk_size):
            yield chunk

    def release_conn(self) -> None:
        pass


def canned_session(answers: list[CannedAnswer]) -> tuple[requests.Session, CannedAdapter]:
    session = requests.Session()
    adapter = CannedAdapter(answers)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter
