"""The billing service as collections use it (docs/demo-billing-api.md): the account's
collections flag, set and removed (`PUT`/`DELETE /accounts/NUMBER/collections-flag`), and what
the account owes now (`GET /accounts/NUMBER`: `total_due`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import quote

import requests

from ivr.errors import CollectionsError

TIMEOUT = 5.0  # seconds for one request to the billing service


class FlagProblem(CollectionsError):
    """The billing service did not set or remove a flag (or say what an account owes); the
    message says what it answered."""


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

    def owed_minor(self, account: str) -> int:
        """What the account owes now, in minor units."""
        url = f"{self.base_url}/accounts/{quote(account, safe='')}"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            answer = self.http.get(url, headers=headers, timeout=TIMEOUT)
            total = Decimal(str(answer.json()["account"]["total_due"]))
        except requests.RequestException as exc:
            raise FlagProblem(
                f"could not read what {account} owes: the billing service at {self.base_url} "
                f"did not answer ({type(exc).__name__})"
            ) from None
        except (ValueError, KeyError, TypeError, InvalidOperation):
            raise FlagProblem(
                f"could not read what {account} owes: the billing service answered "
                f"{answer.status_code} without an account's total_due"
            ) from None
        return int(total.scaleb(2))

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
