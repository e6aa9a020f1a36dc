"""The console's view of payments: read through the PCI bridge's authenticated payments API
(GET /pci/v1/payments), never its database, so the engine stays out of PCI scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

TIMEOUT = 5.0  # seconds: a console page waits at most this for the bridge


class PaymentsUnavailable(Exception):
    """The bridge did not answer as its API says; the message says what happened."""


class PaymentNotFound(Exception):
    pass


@dataclass
class PaymentsApi:
    base_url: str  # .../pci/v1
    key: str
    http: requests.Session

    def listing(self, **query: str) -> dict[str, Any]:
        """{"payments": [...], "next_cursor"} for ?q=&status=&from=&to=&limit=&cursor=."""
        return self._get("/payments", {k: v for k, v in query.items() if v})

    def find(self, code_or_id: str) -> dict[str, Any]:
        return self._get(f"/payments/{quote(code_or_id, safe='')}", {})

    def _get(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        try:
            answer = self.http.get(
                self.base_url.rstrip("/") + path,
                params=query,
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise PaymentsUnavailable(
                f"the payments API did not answer ({type(exc).__name__})"
            ) from None
        if answer.status_code == 404:
            raise PaymentNotFound(path)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code == 400 and isinstance(body, dict):
            raise ValueError(str(body.get("error", "a search field is wrong")))
        if answer.status_code != 200 or not isinstance(body, dict):
            raise PaymentsUnavailable(f"the payments API answered {answer.status_code}")
        return body
