"""The account's collections flag, set and removed through the billing service's API
(`PUT`/`DELETE /accounts/NUMBER/collections-flag`, docs/demo-billing-api.md)."""

from __future__ import annotations

from urllib.parse import quote

import requests

from ivr.errors import CollectionsError

TIMEOUT = 5.0  # seconds for one request to the billing service


class FlagProblem(CollectionsError):
    """The billing service did not set or remove a flag; the message says what it answered."""


class BillingFlags:
    """The billing service at `base_url` (bearer `token`), reached through `http` (which may
    carry the in-process services of this app)."""

    def __init__(self, http: requests.Session, base_url: str, token: str | None):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.token = token

    def set(self, account: str) -> None:
        self._send("PUT", account, True)

    def remove(self, account: str) -> None:
        self._send("DELETE", account, False)

    def _send(self, method: str, account: str, flagged: bool) -> None:
        url = f"{self.base_url}/accounts/{quote(account, safe='')}/collections-flag"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        what = "set" if flagged else "remove"
        try:
            answer = self.http.request(method, url, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise FlagProblem(
                f"could not {what} the collections flag of {account}: the billing service "
                f"at {self.base_url} did not answer ({type(exc).__name__})"
            ) from None
        if answer.status_code >= 300:
            try:
                said = str(answer.json().get("error", ""))[:200]
            except ValueError:
                said = answer.text[:200]
            raise FlagProblem(
                f"could not {what} the collections flag of {account}: the billing service "
                f"answered {answer.status_code}" + (f" ({said})" if said else "")
            )
