"""How a payment plan comes into force (collections.md): from a day of the month the customer
keys or as a custom schedule within the configured limits; with nothing due on the day of the
call the card is saved by a zero-amount verification session and every payment is charged on
its date; and a first payment the call failed to report is found on the bridge, so the plan
starts and the customer is never asked to pay it twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ivr.collections.cases import CaseState
from ivr.collections.plans import PaymentState, PlanState
from ivr.collections.schedules import (
    BadSchedule,
    PlanLimits,
    custom_schedule,
    monthly_schedule,
    next_day_of_month,
)
from ivr.phone import KeySource
from ivr.phone.rest import Answer
from ivr.phone.transport import FlaskTransport
from ivr.phone.twilio import TwilioSimulator
from tests.collections_world import ACCOUNT, PUBLIC, TOKEN, Campaign
from tests.conftest import Clock
from tests.test_collections_intake import campaign_csv
from tests.test_collections_plans import charges

CARD = "4242424242424242"
NEW_CARD = (CARD + "#", "1230", "123", "1")


def test_the_next_payment_day_of_a_month() -> None:
    assert next_day_of_month(date(2026, 12, 1), 1) == date(2026, 12, 1)  # today
    assert next_day_of_month(date(2026, 12, 1), 28) == date(2026, 12, 28)
    assert next_day_of_month(date(2026, 12, 29), 5) == date(2027, 1, 5)
    with pytest.raises(BadSchedule, match="from 1 to 28, not 31"):
        next_day_of_month(date(2026, 12, 1), 31)


@pytest.mark.parametrize(
    ("payments", "problem"),
    [
        ([], "expected a list"),
        ([{"amount": "50.00", "due_date": "2026-11-30"}], "in the past"),
        (
            [
                {"amount": "25.00", "due_date": "2026-12-10"},
                {"amount": "25.00", "due_date": "2026-12-10"},
            ],
            "not after the payment before",
        ),
        ([{"amount": "49.99", "due_date": "2026-12-10"}], "add up to 49.99, not the amount due"),
        (
            [
                {"amount": "0.50", "due_date": "2026-12-10"},
                {"amount": "49.50", "due_date": "2026-12-11"},
            ],
            "at least 1.00",
        ),
        ([{"amount": "50.00", "due_date": "2027-01-15"}], "at most 31 days ahead"),
        (
            [
                {"amount": "25.00", "due_date": "2026-12-10"},
                {"amount": "25.00", "due_date": "2027-06-10"},
            ],
            "at most 92 days ahead",
        ),
        ([{"amount": "ten", "due_date": "2026-12-10"}], "not an amount"),
        ([{"amount": "50.00", "due_date": "10/12/2026"}], "not a date"),
        ([{"amount": "5.00", "due_date": f"2026-12-{d:02d}"} for d in range(1, 11)], "at most 6"),
    ],  # fmt: skip
)
def test_a_custom_schedule_outside_the_limits_is_refused(
    payments: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(BadSchedule, match=problem):
        custom_schedule(payments, 5000, date(2026, 12, 1), PlanLimits())


def agree_plan_from_day(campaign: Campaign, day: int) -> tuple[int, int]:
    """Customer 1 agrees two payments from `day` of the month on an outbound call."""
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "plan.csv")
    keys = ("1", "11#", "3", "2", "2", f"{day}#", *NEW_CARD)
    campaign.rest.answers("+447700900001", Answer("human", keys))
    collections.tick()
    [ran] = campaign.rest.run_calls(campaign.voice)
    assert ran.result is not None
    heard = " ".join(ran.result.heard())
    assert "Nothing is taken today" in heard and "No money was taken" in heard, heard
    assert "Your plan is set up" in heard, heard
    case = collections.cases.for_account("20000001")
    [plan] = collections.plans.for_case(case.id)
    return case.id, plan.id


def test_a_plan_from_a_later_day_saves_the_card_and_charges_every_payment_on_its_date(
    campaign: Campaign, clock: Clock
) -> None:
    collections = campaign.collections
    case_id, plan_id = agree_plan_from_day(campaign, 20)  # the call is on 1 December
    plan = collections.plans.get(plan_id)
    assert plan.state is PlanState.ACTIVE and plan.card_token and plan.card_session_id
    assert [(i.amount, i.due_date, i.state) for i in plan.instalments] == [
        (Decimal("5.63"), date(2026, 12, 20), PaymentState.SCHEDULED),
        (Decimal("5.62"), date(2027, 1, 20), PaymentState.SCHEDULED),
    ]
    assert plan.instalments[0].next_try_at == datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
    case = collections.cases.get(case_id)
    assert case.state is CaseState.PLAN_SCHEDULED
    assert "card saved, the first due 2026-12-20" in collections.cases.events(case_id)[-1].cause
    assert charges(campaign, "20000001/plan-") == 1  # the verification, which took nothing
    clock.set(datetime(2026, 12, 20, 9, 0, tzinfo=UTC))
    [first] = collections.instalments.run_due()
    assert first.outcome == "success"
    clock.set(datetime(2027, 1, 20, 9, 0, tzinfo=UTC))
    collections.tick()
    assert collections.plans.get(plan_id).state is PlanState.RESOLVED
    assert collections.cases.get(case_id).state is CaseState.RESOLVED
    assert charges(campaign, "20000001/plan-") == 3


def api(campaign: Campaign) -> tuple[Any, dict[str, str], dict[str, str]]:
    keys = campaign.app.extensions["ivr"].keys
    return (
        campaign.app.test_client(),
        {"Authorization": f"Bearer {keys.collections_api_key}"},
        {"Authorization": f"Bearer {keys.pci_api_keys[0]}"},
    )


def take_first_payment(campaign: Campaign, plan: dict[str, Any]) -> str:
    """The plan's card session on the bridge, paid on its payment leg as the call's transfer
    would (a new card, saved): its id."""
    client, _, pci = api(campaign)
    made = client.post("/pci/v1/sessions", headers=pci, json={
        "amount": plan["session_amount"], "currency": "GBP", "reference": plan["reference"],
        "caller_clid": "+447700900001", "save_card": True,
    })  # fmt: skip
    assert made.status_code == 201, made.get_json()
    session = made.get_json()
    bridge_line = TwilioSimulator(
        FlaskTransport(campaign.app), voice_url="/pci/voice", status_url="/pci/voice/status",
        auth_token=TOKEN, sign_base=PUBLIC, account_sid=ACCOUNT,
    )  # fmt: skip
    leg = bridge_line.call(session["transfer_number"], session["clid"], KeySource(NEW_CARD))
    assert "successful" in " ".join(leg.heard()), leg.heard()
    view = client.get(f"/pci/v1/sessions/{session['session_id']}", headers=pci).get_json()
    assert view["result"]["outcome"] == "success" and view["result"]["card_token"]
    return str(session["session_id"])


def test_a_custom_plan_over_the_api(campaign: Campaign) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "api.csv")
    case = collections.cases.for_account("20000001")  # 11.25 due
    client, auth, _ = api(campaign)
    path = f"/collections/v1/cases/{case.id}/plans"
    payments = [{"amount": "5.00", "due_date": "2026-12-01"},
                {"amount": "6.25", "due_date": "2026-12-24"}]  # fmt: skip
    made = client.post(path, json={"payments": payments}, headers=auth)
    assert made.status_code == 201, made.get_json()
    plan = made.get_json()["plan"]
    assert plan["session_amount"] == "5.00" and plan["months"] == 2
    assert plan["reference"] == f"20000001/plan-{plan['id']}"
    wrong = client.post(path, json={"payments": payments[:1]}, headers=auth)
    assert wrong.status_code == 400 and "not the amount due 11.25" in wrong.get_json()["error"]
    session_id = take_first_payment(campaign, plan)
    started = client.post(f"/collections/v1/plans/{plan['id']}/card",
                          json={"session_id": session_id}, headers=auth)  # fmt: skip
    assert started.status_code == 201, started.get_json()
    assert [p["state"] for p in started.get_json()["plan"]["schedule"]] == ["taken", "scheduled"]


def test_a_first_payment_the_call_did_not_report_starts_the_plan_and_is_not_taken_again(
    campaign: Campaign, clock: Clock
) -> None:
    """The call took the first payment, then its report to the collections API was lost. The
    customer calls again and asks for a plan: the bridge is asked first, the plan already
    paid for starts and a second plan is refused (no second first payment)."""
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "api.csv")
    case = collections.cases.for_account("20000001")
    client, auth, _ = api(campaign)
    path = f"/collections/v1/cases/{case.id}/plans"
    plan = client.post(path, json={"months": 3}, headers=auth).get_json()["plan"]
    take_first_payment(campaign, plan)  # ... and POST /plans/ID/card never arrives
    again = client.post(path, json={"months": 2}, headers=auth)
    assert again.status_code == 409, again.get_json()
    assert f"already has plan {plan['id']} in force" in again.get_json()["error"]
    started = collections.plans.get(plan["id"])
    assert started.state is PlanState.ACTIVE
    assert started.instalments[0].state is PaymentState.TAKEN
    assert collections.cases.get(case.id).state is CaseState.PLAN_SCHEDULED
    assert charges(campaign, "20000001/plan-") == 1


def test_waiting_plans_are_started_from_the_bridge_or_given_up(
    campaign: Campaign, clock: Clock
) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=2).encode(), "api.csv")
    client, auth, _ = api(campaign)
    paid_case = collections.cases.for_account("20000001")
    unpaid_case = collections.cases.for_account("20000002")
    paid = client.post(f"/collections/v1/cases/{paid_case.id}/plans", json={"months": 2},
                       headers=auth).get_json()["plan"]  # fmt: skip
    unpaid = client.post(f"/collections/v1/cases/{unpaid_case.id}/plans", json={"months": 2},
                         headers=auth).get_json()["plan"]  # fmt: skip
    take_first_payment(campaign, paid)
    collections.starts.run_pending()  # a call may still be under way: left alone
    assert collections.plans.get(paid["id"]).state is PlanState.PENDING_CARD
    clock.advance(minutes=20)
    collections.tick()
    assert collections.plans.get(paid["id"]).state is PlanState.ACTIVE
    assert collections.plans.get(unpaid["id"]).state is PlanState.PENDING_CARD
    clock.advance(hours=2)
    collections.tick()
    assert collections.plans.get(unpaid["id"]).state is PlanState.FAILED
    # a new plan can then be agreed for that case
    made = client.post(f"/collections/v1/cases/{unpaid_case.id}/plans", json={"months": 1},
                       headers=auth)  # fmt: skip
    assert made.status_code == 201
    assert clock() - datetime(2026, 12, 1, 10, 0, tzinfo=UTC) > timedelta(hours=2)


def test_a_card_saved_after_the_case_is_over_starts_no_plan_and_says_what_to_refund(
    campaign: Campaign, clock: Clock
) -> None:
    """The call's report was lost, and the customer paid in full some other way before the
    bridge was asked: the plan is given up, never charged, and the case says what to refund."""
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "over.csv")
    case = collections.cases.for_account("20000001")
    client, auth, _ = api(campaign)
    plan = client.post(f"/collections/v1/cases/{case.id}/plans", json={"months": 3},
                       headers=auth).get_json()["plan"]  # fmt: skip
    take_first_payment(campaign, plan)
    collections.cases.move(case.id, CaseState.PAID, "paid at the counter (test)")
    collections.cases.move(case.id, CaseState.RESOLVED, "paid in full")
    clock.advance(minutes=20)
    collections.tick()
    given_up = collections.plans.get(plan["id"])
    assert given_up.state is PlanState.FAILED and given_up.card_token is None
    note = collections.cases.events(case.id)[-1].cause
    assert "came after the case was resolved" in note and "refund it" in note, note
    clock.set(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    collections.tick()
    assert charges(campaign, "20000001/plan-") == 1  # the first only: nothing scheduled ran


def test_a_plan_still_taking_its_card_is_not_replaced(campaign: Campaign, clock: Clock) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "twice.csv")
    case = collections.cases.for_account("20000001")
    client, auth, _ = api(campaign)
    path = f"/collections/v1/cases/{case.id}/plans"
    first = client.post(path, json={"months": 2}, headers=auth)
    assert first.status_code == 201
    again = client.post(path, json={"months": 3}, headers=auth)
    assert again.status_code == 409 and "still waiting for its card" in again.get_json()["error"]
    clock.advance(minutes=16)  # longer than a card session: replaced
    assert client.post(path, json={"months": 3}, headers=auth).status_code == 201
    assert [p.state for p in collections.plans.for_case(case.id)] == [
        PlanState.FAILED, PlanState.PENDING_CARD,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"months": "²"}, "months: expected a whole number"),
        ({"months": "9" * 5000}, "months: expected a whole number"),
        ({"months": 3, "day": "1.5"}, "day: expected a whole number"),
        ({"payments": [{"amount": "1E+999999", "due_date": "2026-12-10"}]}, "not an amount"),
        ({"payments": [{"amount": True, "due_date": "2026-12-10"}]}, "not an amount"),
    ],
)
def test_the_plans_api_answers_bad_input_with_400(
    campaign: Campaign, body: dict[str, Any], problem: str
) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "bad.csv")
    case = collections.cases.for_account("20000001")
    client, auth, _ = api(campaign)
    answer = client.post(f"/collections/v1/cases/{case.id}/plans", json=body, headers=auth)
    assert answer.status_code == 400 and problem in answer.get_json()["error"], answer.get_json()


def test_monthly_payments_below_the_smallest_payment_are_refused() -> None:
    with pytest.raises(BadSchedule, match="less than 1.00 each"):
        monthly_schedule(250, 3, date(2026, 12, 1))
    assert monthly_schedule(250, 1, date(2026, 12, 1)) == [(250, date(2026, 12, 1))]
