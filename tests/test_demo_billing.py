"""The demo billing service over HTTP: look-ups, verification, bills, payments, promises, plans."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from demo.billing import Billing, register
from tests.conftest import BILLING_KEY

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def client() -> FlaskClient:
    app = Flask("test")
    register(app, Billing.from_file(), token=BILLING_KEY, clock=lambda: NOW)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {BILLING_KEY}"
    return client


def test_lookup_by_phone_and_number(client: FlaskClient) -> None:
    by_phone = client.get("/demo/billing/accounts?phone=%2B447700900123").get_json()["account"]
    assert by_phone["id"] == "A1001" and by_phone["name"] == "Sam Taylor"
    assert by_phone["open_count"] == 2 and by_phone["total_due"] == "72.50"
    assert [b["status"] for b in by_phone["bills"]] == ["overdue", "overdue"]  # due 15 Nov
    assert by_phone["card"] == {
        "token": "tok_demo_sam_visa",
        "brand": "visa",
        "last4": "4242",
        "label": "Visa",
    }
    by_number = client.get("/demo/billing/accounts/10012345").get_json()["account"]
    assert by_number == by_phone
    assert client.get("/demo/billing/accounts?phone=%2B449999").status_code == 404
    assert client.get("/demo/billing/accounts/99999999").status_code == 404


@pytest.mark.parametrize(
    ("digits", "verified"),
    [("11", True), ("15031985", True), ("12", False), ("", False), ("1985", False)],
)
def test_verification_by_postcode_numbers_or_date_of_birth(
    client: FlaskClient, digits: str, verified: bool
) -> None:
    answer = client.post("/demo/billing/accounts/A1001/verify", json={"digits": digits})
    assert answer.get_json() == {"verified": verified}


def test_bill_by_position_in_due_date_order(client: FlaskClient) -> None:
    first = client.get("/demo/billing/accounts/A1001/bills/1").get_json()["bill"]
    assert first["id"] == "B-1001-09" and first["amount"] == "30.00"
    assert client.get("/demo/billing/accounts/A1001/bills/3").status_code == 404


def test_a_payment_settles_bills_oldest_first_and_is_posted_once(client: FlaskClient) -> None:
    body = {"amount": "40.00", "confirmation_code": "ABC234", "pci_session_id": "ps_1"}
    first = client.post("/demo/billing/accounts/A1001/payments", json=body)
    again = client.post("/demo/billing/accounts/A1001/payments", json=body)
    assert first.status_code == 201 and again.get_json() == first.get_json()
    account = client.get("/demo/billing/accounts/A1001").get_json()["account"]
    assert account["total_due"] == "32.50" and account["open_count"] == 1
    status = client.get("/demo/billing/payments/ABC234").get_json()["payment"]
    assert status["status"] == "posted" and status["amount"] == "40.00"
    assert client.get("/demo/billing/payments/NOPE12").status_code == 404


def test_a_payment_for_one_bill_pays_that_bill(client: FlaskClient) -> None:
    client.post(
        "/demo/billing/accounts/A1001/payments",
        json={"amount": "42.50", "bill_id": "B-1001-10", "confirmation_code": "XYZ789"},
    )
    bills = client.get("/demo/billing/accounts/A1001").get_json()["account"]["bills"]
    assert [b["id"] for b in bills] == ["B-1001-09"]


@pytest.mark.parametrize(
    ("when", "amount", "status", "field"),
    [
        ("2026-11-25", "20.00", 201, None),
        ("2026-12-02", "72.50", 201, None),  # the last day of the 14-day window
        ("2026-11-18", "20.00", 422, "date"),  # today is not a promise
        ("2026-12-03", "20.00", 422, "date"),
        ("2026-11-25", "4.99", 422, "amount"),  # below the minimum
        ("2026-11-25", "72.51", 422, "amount"),  # more than is due
        ("25/11", "20.00", 400, "date"),
        ("2026-11-25", "abc", 400, "amount"),
    ],
)
def test_promise_rules(
    client: FlaskClient, when: str, amount: str, status: int, field: str | None
) -> None:
    answer = client.post(
        "/demo/billing/accounts/A1001/promises", json={"date": when, "amount": amount}
    )
    assert answer.status_code == status
    if field:
        assert answer.get_json()["field"] == field


@pytest.mark.parametrize(
    ("months", "amounts"),
    [(1, ["72.50"]), (2, ["36.25", "36.25"]), (3, ["24.18", "24.16", "24.16"])],
)
def test_plan_schedules_monthly_with_pennies_first(
    client: FlaskClient, months: int, amounts: list[str]
) -> None:
    plan = client.post("/demo/billing/accounts/A1001/plans", json={"months": months}).get_json()[
        "plan"
    ]
    assert [p["amount"] for p in plan["schedule"]] == amounts
    assert [p["date"] for p in plan["schedule"]] == ["2026-11-18", "2026-12-18", "2027-01-18"][
        :months
    ]
    assert plan["first_amount"] == amounts[0]


def test_plan_refuses_other_lengths_and_nothing_due(client: FlaskClient) -> None:
    assert client.post("/demo/billing/accounts/A1001/plans", json={"months": 4}).status_code == 400
    assert client.post("/demo/billing/accounts/A1003/plans", json={"months": 2}).status_code == 422


# --- SQL: what every worker of a fleet sees ----------------------------------------------------


def test_two_workers_share_accounts_and_payments_without_losing_one(tmp_path: Path) -> None:
    """Two Billing instances on one SQLite file (two gunicorn workers): payments made through
    both at once all count, and the same payment posted by both is kept once."""
    url = f"sqlite:///{tmp_path}/billing.sqlite3"
    workers = [Billing.from_file(database_url=url) for _ in range(2)]
    try:
        errors: list[BaseException] = []

        def pay(worker: Billing, code: str) -> None:
            try:
                account = worker.by_number("A1001")
                worker.pay(account, {"amount": "1.00", "confirmation_code": code}, NOW.date())
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=pay, args=(workers[i % 2], f"CODE{i:02d}")) for i in range(10)
        ]
        threads += [threading.Thread(target=pay, args=(workers[i % 2], "SAME")) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        for worker in workers:
            codes = sorted(p["confirmation_code"] for p in worker.payments)
            assert codes == sorted([f"CODE{i:02d}" for i in range(10)] + ["SAME"])
            summary = worker.summary(worker.by_number("A1001"), NOW.date())
            assert summary["total_due"] == "61.50"  # 72.50 less eleven payments of £1
        restarted = Billing.from_file(database_url=url)  # the seed does not undo them
        assert restarted.summary(restarted.by_number("A1001"), NOW.date())["total_due"] == "61.50"
        restarted.close()
    finally:
        for worker in workers:
            worker.close()
