"""Scheduled plan payments (collections.md): a plan of 1, 2 or 3 monthly payments set up on an
outbound call (the first taken on the PCI bridge with the card saved as a token), the others
charged on their dates through the bridge's API with the token, each once whatever the
retries, workers or crashes; a receipt each time; a declined payment tried again and the
customer told; all taken resolves the plan and the case and removes the flag."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from ivr.collections.cases import CaseState
from ivr.collections.plans import PaymentState, PlanState
from ivr.collections.schedules import monthly, split
from ivr.phone.rest import Answer
from pci_bridge.ledger import sessions
from tests.collections_world import Campaign
from tests.conftest import Clock
from tests.test_collections_intake import campaign_csv

CARD = "4242424242424242"
# me; postcode; a plan; of three payments; the first on a new card; expiry; code; pay
PLAN_OF_THREE = ("1", "11#", "3", "3", "1", CARD + "#", "1230", "123", "1")


def test_an_amount_is_split_into_monthly_payments() -> None:
    assert split(7250, 3) == [2417, 2417, 2416]
    assert split(100, 3) == [34, 33, 33]
    assert split(7250, 1) == [7250]
    assert monthly(date(2026, 11, 30), 3) == [date(2026, 11, 30), date(2026, 12, 30),
                                              date(2027, 1, 30)]  # fmt: skip
    assert monthly(date(2027, 1, 31), 2) == [date(2027, 1, 31), date(2027, 2, 28)]


def charges(campaign: Campaign, reference: str) -> int:
    """Sessions the bridge has for a reference (each a charge attempt)."""
    ledger = campaign.app.extensions["ivr"].bridge.ledger
    with ledger.db.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(sessions.c.reference.like(reference + "%"))
            ).scalar_one()
        )


def set_up_plan(campaign: Campaign) -> tuple[int, int]:
    """Customer 1 agrees a plan of three on an outbound call: (case id, plan id)."""
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "plan.csv")
    campaign.rest.answers("+447700900001", Answer("human", PLAN_OF_THREE))
    collections.tick()
    [ran] = campaign.rest.run_calls(campaign.voice)
    assert ran.result is not None
    heard = " ".join(ran.result.heard())
    assert "Your plan is set up. Your confirmation code is" in heard, heard
    collections.tick()
    case = collections.cases.for_account("20000001")
    [plan] = collections.plans.for_case(case.id)
    return case.id, plan.id


def test_a_plan_agreed_on_a_call_is_charged_on_its_dates_and_resolves_the_case(
    campaign: Campaign, clock: Clock
) -> None:
    collections = campaign.collections
    case_id, plan_id = set_up_plan(campaign)
    case = collections.cases.get(case_id)
    assert case.state is CaseState.PLAN_SCHEDULED and case.flagged
    plan = collections.plans.get(plan_id)
    assert plan.state is PlanState.ACTIVE and plan.card_token
    assert [(i.amount, i.due_date, i.state) for i in plan.instalments] == [
        (Decimal("3.75"), date(2026, 12, 1), PaymentState.TAKEN),
        (Decimal("3.75"), date(2027, 1, 1), PaymentState.SCHEDULED),
        (Decimal("3.75"), date(2027, 2, 1), PaymentState.SCHEDULED),
    ]
    first_code = plan.instalments[0].confirmation_code
    assert first_code and first_code.isdigit()
    assert plan.card_token not in repr(plan.as_dict())  # the token never leaves the tables
    # nothing is charged before 09:00 on its date where the customer lives (London)
    assert plan.instalments[1].next_try_at == datetime(2027, 1, 1, 9, 0, tzinfo=UTC)
    clock.set(datetime(2027, 1, 1, 8, 59, tzinfo=UTC))
    assert collections.instalments.run_due() == []
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=UTC))
    [second] = collections.instalments.run_due()
    assert second.outcome == "success"
    assert collections.plans.get(plan_id).instalments[1].state is PaymentState.TAKEN
    texts = campaign.rest.sent_to("+447700900001")
    assert "we took payment 2 of 3 of your plan, £3.75" in texts[-1].body
    assert CARD not in texts[-1].body and CARD[-4:] not in texts[-1].body
    clock.set(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    collections.tick()
    done = collections.plans.get(plan_id)
    assert done.state is PlanState.RESOLVED
    assert all(i.state is PaymentState.TAKEN for i in done.instalments)
    resolved = collections.cases.get(case_id)
    assert resolved.state is CaseState.RESOLVED and not resolved.flagged
    assert not campaign.flags()["20000001"]
    assert charges(campaign, "20000001/plan-") == 3  # one charge per payment
    clock.set(datetime(2027, 3, 1, 8, 0, tzinfo=UTC))
    assert collections.instalments.run_due() == []


def test_a_declined_payment_is_tried_again_then_fails_the_plan(
    campaign: Campaign, clock: Clock
) -> None:
    collections = campaign.collections
    case_id, plan_id = set_up_plan(campaign)
    gateway = campaign.app.extensions["ivr"].bridge.gateway
    refused = gateway.mint_token(
        brand="visa", last4="9995", exp_month=12, exp_year=2030, behaviour="insufficient_funds"
    )
    from sqlalchemy import update

    from ivr.collections.tables import collections_plans

    with collections.cases.db.begin() as conn:  # the saved card can no longer pay
        conn.execute(
            update(collections_plans)
            .where(collections_plans.c.id == plan_id)
            .values(card_token=refused)
        )
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=UTC))
    [first_try] = collections.instalments.run_due()
    assert first_try.outcome == "declined"
    payment = collections.plans.get(plan_id).instalments[1]
    assert payment.state is PaymentState.SCHEDULED and payment.attempts == 1
    assert payment.next_try_at == datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    told = campaign.rest.sent_to("+447700900001")[-1].body
    assert "could not take payment 2" in told and "try again on 4 January" in told
    clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    collections.instalments.run_due()
    clock.set(datetime(2027, 1, 7, 9, 0, tzinfo=UTC))
    collections.instalments.run_due()
    failed = collections.plans.get(plan_id)
    assert failed.state is PlanState.FAILED
    assert failed.instalments[1].state is PaymentState.FAILED
    assert failed.instalments[1].attempts == 3
    case = collections.cases.get(case_id)
    assert case.state is CaseState.CONTACTING and case.attempts == 0
    assert "failed 3 times" in collections.cases.events(case_id)[-1].cause
    assert "Please call us to pay" in campaign.rest.sent_to("+447700900001")[-1].body
    assert charges(campaign, "20000001/plan-") == 4  # the first, then three tries
    clock.set(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    assert collections.instalments.run_due() == []  # a failed plan charges nothing more


def test_a_payment_is_charged_once_by_several_workers_and_after_a_crash(
    campaign: Campaign, clock: Clock
) -> None:
    collections = campaign.collections
    _, plan_id = set_up_plan(campaign)
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=UTC))
    results: list[list[object]] = []
    threads = [
        threading.Thread(target=lambda: results.append(collections.instalments.run_due()))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r) for r in results) == 1
    assert charges(campaign, "20000001/plan-") == 2
    # a worker claims the third payment, charges it and stops before writing the result
    clock.set(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))
    [due] = collections.plans.due(clock())
    claimed = collections.plans.claim(due)
    assert claimed is not None
    plan = collections.plans.get(plan_id)
    collections.bridge.charge(
        str(plan.card_token), "3.75", "GBP", f"20000001/plan-{plan_id}/3",
        str(claimed.charge_key),
    )  # fmt: skip
    # the key was recorded at the claim, and carries this deployment's id (two deployments
    # sharing one bridge never share a key)
    deployment = collections.plans.deployment
    assert len(deployment) == 16 and claimed.charge_key == (
        f"collections-{deployment}-payment-{claimed.id}-{claimed.attempts}"
    )
    assert collections.instalments.run_due() == []  # claimed a moment ago: left alone
    clock.set(datetime(2027, 2, 1, 9, 5, tzinfo=UTC))
    [again] = collections.instalments.run_due()
    assert again.outcome == "success"
    assert charges(campaign, "20000001/plan-") == 3  # the same key: the first charge's result
    assert collections.plans.get(plan_id).state is PlanState.RESOLVED


def test_the_plans_api_needs_its_key_and_refuses_what_is_not_a_first_payment(
    campaign: Campaign,
) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "api.csv")
    case = collections.cases.for_account("20000001")
    client = campaign.app.test_client()
    path = f"/collections/v1/cases/{case.id}/plans"
    assert client.post(path, json={"months": 2}).status_code == 401
    key = campaign.app.extensions["ivr"].keys.collections_api_key
    auth = {"Authorization": f"Bearer {key}"}
    assert client.post(path, json={"months": 4}, headers=auth).status_code == 400
    assert client.post(path, json={"months": "two"}, headers=auth).status_code == 400
    assert client.post("/collections/v1/cases/999/plans", json={"months": 2},
                       headers=auth).status_code == 404  # fmt: skip
    made = client.post(path, json={"months": 2}, headers=auth)
    assert made.status_code == 201, made.get_json()
    plan = made.get_json()["plan"]
    assert [p["amount"] for p in plan["schedule"]] == ["5.63", "5.62"]
    bridge = campaign.app.extensions["ivr"].bridge
    token = bridge.gateway.mint_token(brand="visa", last4="4242", exp_month=12, exp_year=2030)
    pci = {"Authorization": "Bearer " + campaign.app.extensions["ivr"].keys.pci_api_keys[0]}
    paid = client.post("/pci/v1/sessions", headers=pci, json={
        "amount": "5.63", "currency": "GBP", "reference": "20000001", "card_token": token,
    })  # fmt: skip
    assert paid.status_code == 201, paid.get_json()
    start = f"/collections/v1/plans/{plan['id']}/card"
    refused = client.post(start, json={"session_id": paid.get_json()["session_id"]},
                          headers=auth)  # fmt: skip
    assert refused.status_code == 409 and "not taken for this plan" in refused.get_json()["error"]
    assert collections.cases.get(case.id).state is CaseState.OPEN
