"""The PCI bridge's session API as collections use it: read a session (the one that saved a
plan's card during the call), find the sessions taken for a plan, and charge a saved card
token for a scheduled payment, with an idempotency key of the payment's own (one charge
whatever the retries)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import requests

from ivr.errors import CollectionsError

TIMEOUT = 12.0  # seconds: a stored-card charge answers within `wait` (8 s) and a margin
WAIT = 8  # seconds the bridge waits for the gateway before answering "in progress"


class BridgeProblem(CollectionsError):
    """The bridge could not be asked (down, answered nonsense): try again later."""


class BridgeRefused(CollectionsError):
    """The bridge refused the request itself (4xx other than 409 and 429): trying again with
    the same request would be refused again."""


class BridgeClient:
    def __init__(self, http: requests.Session, url: str, key: str | None):
        self.http = http
        self.url = url.rstrip("/")
        self.key = key

    def session(self, session_id: str) -> dict[str, Any]:
        return self._send("GET", f"/sessions/{quote(session_id, safe='')}")

    def payments(self, reference: str) -> list[dict[str, Any]]:
        """Ended sessions taken for exactly `reference`, newest first (each with its
        `outcome`)."""
        view = self._send("GET", "/payments?" + urlencode({"q": reference, "limit": "20"}))
        found = view.get("payments")
        if not isinstance(found, list):
            raise BridgeProblem("the PCI bridge answered a listing without payments")
        return [p for p in found if isinstance(p, dict)]

    def charge(
        self,
        card_token: str,
        amount: str,
        currency: str,
        reference: str,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """Charge a saved card; the session's public view (its `result` is None while the
        gateway has not answered)."""
        body = {
            "amount": amount,
            "currency": currency,
            "reference": reference,
            "description": "Scheduled payment",
            "card_token": card_token,
            "wait": WAIT,
        }
        return self._send("POST", "/sessions", body, {"Idempotency-Key": idempotency_key})

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        sent = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        try:
            answer = self.http.request(
                method, self.url + path, json=body, headers=sent, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise BridgeProblem(f"the PCI bridge did not answer ({type(exc).__name__})") from None
        if 400 <= answer.status_code < 500 and answer.status_code not in (409, 429):
            raise BridgeRefused(
                f"the PCI bridge refused {method} {path} ({answer.status_code}: "
                f"{answer.text[:200]})"
            )
        if answer.status_code >= 300:
            raise BridgeProblem(f"the PCI bridge answered {answer.status_code} to {method} {path}")
        try:
            view = answer.json()
        except ValueError:
            raise BridgeProblem("the PCI bridge answered without JSON") from None
        if not isinstance(view, dict):
            raise BridgeProblem("the PCI bridge answered something other than a session")
        return view
