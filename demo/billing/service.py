"""The demo billing back office: accounts, bills, cards on file, payments, promises to pay and
payment plans. Kept in SQL (demo/billing/store.py), seeded from a YAML file; money is
Decimal."""

from __future__ import annotations

import calendar
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError

from demo.billing.store import MEMORY, BillingStore

SEED = Path(__file__).with_name("seed.yaml")
OPEN = ("open", "overdue")
BRAND_LABELS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express"}


class BillingError(ValueError):
    def __init__(self, status: int, message: str, field_name: str | None = None):
        self.status = status
        self.field = field_name
        super().__init__(message)


@dataclass
class Billing:
    store: BillingStore
    promise_window_days: int = 14
    minimum_promise: Decimal = Decimal("5.00")

    @classmethod
    def from_file(cls, path: Path = SEED, database_url: str = MEMORY) -> Billing:
        """The service on `database_url` (default: this process's own), with the accounts of
        `path` that the database does not have yet."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        store = BillingStore(database_url)
        store.seed(raw["accounts"])
        return cls(
            store,
            promise_window_days=int(raw.get("promise_window_days", 14)),
            minimum_promise=Decimal(str(raw.get("minimum_promise", "5.00"))),
        )

    def close(self) -> None:
        self.store.close()

    @property
    def accounts(self) -> list[dict[str, Any]]:
        return self.store.accounts()

    @property
    def payments(self) -> list[dict[str, Any]]:
        return self.store.all("payment")

    @property
    def promises(self) -> list[dict[str, Any]]:
        return self.store.all("promise")

    @property
    def plans(self) -> list[dict[str, Any]]:
        return self.store.all("plan")

    # -- look-ups -------------------------------------------------------------------------

    def by_phone(self, phone: str) -> dict[str, Any]:
        for account in self.accounts:
            if phone and phone in account.get("phones", []):
                return account
        raise BillingError(404, f"no account for phone {phone or '(withheld)'}")

    def by_number(self, number: str) -> dict[str, Any]:
        for account in self.accounts:
            if account["number"] == number or account["id"] == number:
                return account
        raise BillingError(404, f"no account {number}")

    def verify(self, account: dict[str, Any], digits: str) -> bool:
        """Postcode numbers ("SW1A 1AA" → "11") or date of birth as DDMMYYYY."""
        postcode = "".join(re.findall(r"\d", account.get("postcode", "")))
        dob = account.get("date_of_birth", "")
        dob_digits = f"{dob[8:10]}{dob[5:7]}{dob[0:4]}" if dob else ""
        return bool(digits) and digits in (postcode, dob_digits)

    def summary(self, account: dict[str, Any], today: date) -> dict[str, Any]:
        bills = [self._bill_view(b, today) for b in account.get("bills", []) if b["status"] in OPEN]
        bills.sort(key=lambda b: b["due_date"])
        total = sum((Decimal(b["amount"]) for b in bills), Decimal("0"))
        card = account.get("card")
        return {
            "id": account["id"],
            "number": account["number"],
            "name": account["name"],
            "bills": bills,
            "open_count": len(bills),
            "total_due": f"{total:.2f}",
            "collections_flag": bool(account.get("collections_flag")),
            "card": (
                {
                    "token": card["token"],
                    "brand": card["brand"],
                    "last4": card["last4"],
                    "label": BRAND_LABELS.get(card["brand"], card["brand"]),
                }
                if card
                else None
            ),
        }

    def bill_at(self, account: dict[str, Any], position: int, today: date) -> dict[str, Any]:
        bills = self.summary(account, today)["bills"]
        if not 1 <= position <= len(bills):
            raise BillingError(404, f"no open bill number {position}")
        return bills[position - 1]

    def _bill_view(self, bill: dict[str, Any], today: date) -> dict[str, Any]:
        status = bill["status"]
        if status == "open" and date.fromisoformat(bill["due_date"]) < today:
            status = "overdue"
        return {
            "id": bill["id"],
            "period": bill["period"],
            "due_date": bill["due_date"],
            "status": status,
            "amount": f"{Decimal(str(bill['amount'])):.2f}",
        }

    # -- changes --------------------------------------------------------------------------

    def set_collections_flag(self, account: dict[str, Any], flagged: bool) -> bool:
        """Mark the account as in collections (or no longer); the same call again changes
        nothing."""

        def apply(doc: dict[str, Any]) -> bool:
            if flagged:
                doc["collections_flag"] = True
            else:
                doc.pop("collections_flag", None)
            return flagged

        return bool(self.store.change(account["id"], apply))

    def pay(self, account: dict[str, Any], body: dict[str, Any], today: date) -> dict[str, Any]:
        amount = _amount(body.get("amount"))
        code = str(body.get("confirmation_code") or "")
        if not code:
            raise BillingError(400, "confirmation_code is required", "confirmation_code")
        if len(code) > 64:
            raise BillingError(
                400, "confirmation_code is at most 64 characters", "confirmation_code"
            )
        # One payment per bridge session (the outcome webhook and the plan's own post tell of
        # the same one, in either order), else per confirmation code.
        key = str(body.get("pci_session_id") or "")[:64] or code
        existing = self.store.find("payment", key)
        if existing is not None:
            return existing  # a repeated post of the same payment
        bill_id = body.get("bill_id") or None

        def apply(doc: dict[str, Any]) -> dict[str, Any]:
            remaining = amount
            for bill in sorted(doc.get("bills", []), key=lambda b: b["due_date"]):
                if bill["status"] not in OPEN or (bill_id and bill["id"] != bill_id):
                    continue
                due = Decimal(str(bill["amount"]))
                if remaining >= due:
                    bill["status"] = "paid"
                    remaining -= due
                elif remaining > 0:
                    bill["amount"] = f"{due - remaining:.2f}"
                    remaining = Decimal("0")
            return {
                "id": "PAY-" + secrets.token_hex(4).upper(),
                "account": doc["id"],
                "amount": f"{amount:.2f}",
                "bill_id": bill_id,
                "plan_id": body.get("plan_id") or None,
                "confirmation_code": code,
                "date": today.isoformat(),
                "pci_session_id": body.get("pci_session_id"),
                "status": "posted",
            }

        try:
            return self.store.change(account["id"], apply, lambda p: ("payment", key, p))
        except IntegrityError:  # posted by another process at the same moment
            found = self.store.find("payment", key)
            assert found is not None
            return found

    def promise(self, account: dict[str, Any], body: dict[str, Any], today: date) -> dict[str, Any]:
        amount = _amount(body.get("amount"))
        try:
            when = date.fromisoformat(str(body.get("date")))
        except ValueError:
            raise BillingError(400, "date must be YYYY-MM-DD", "date") from None
        total = Decimal(self.summary(account, today)["total_due"])
        if not today < when <= today + timedelta(days=self.promise_window_days):
            raise BillingError(
                422, f"the date must be within {self.promise_window_days} days", "date"
            )
        if amount < min(self.minimum_promise, total) or amount > total:
            raise BillingError(
                422, f"the amount must be between {self.minimum_promise} and {total}", "amount"
            )
        promise = {
            "id": "PTP-" + secrets.token_hex(4).upper(),
            "account": account["id"],
            "date": when.isoformat(),
            "amount": f"{amount:.2f}",
        }
        self.store.add("promise", promise["id"], account["id"], promise)
        return promise

    def plan(self, account: dict[str, Any], body: dict[str, Any], today: date) -> dict[str, Any]:
        months = body.get("months")
        if str(months) not in ("1", "2", "3"):
            raise BillingError(400, "months must be 1, 2 or 3", "months")
        count = int(str(months))
        total = Decimal(self.summary(account, today)["total_due"])
        if total <= 0:
            raise BillingError(422, "nothing is due", "months")
        share = (total / count).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        amounts = [share] * count
        amounts[0] += total - share * count  # the first instalment takes the pennies
        schedule = [
            {"n": i + 1, "date": _add_months(today, i).isoformat(), "amount": f"{a:.2f}"}
            for i, a in enumerate(amounts)
        ]
        plan = {
            "id": "PLAN-" + secrets.token_hex(4).upper(),
            "account": account["id"],
            "months": count,
            "total": f"{total:.2f}",
            "schedule": schedule,
            "first_amount": schedule[0]["amount"],
        }
        self.store.add("plan", plan["id"], account["id"], plan)
        return plan

    def payment_status(self, code: str) -> dict[str, Any]:
        for payment in self.payments:
            if payment["confirmation_code"] == code:
                return payment
        raise BillingError(404, f"no payment with confirmation code {code[:64]}")


AMOUNT = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,2})?")  # up to 9,999,999.99; no exponents


def _amount(value: Any) -> Decimal:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not AMOUNT.fullmatch(text):
        raise BillingError(
            400,
            'amount must be a decimal string like "42.50" (at most 9999999.99, at most 2 decimals)',
            "amount",
        )
    amount = Decimal(text)
    if amount <= 0:
        raise BillingError(400, "amount must be positive with at most 2 decimals", "amount")
    return amount


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
