"""Inbound callers with an open collections case (collections.md): the self-service plan says
the case once the caller has passed the identity check (what is overdue, or the next payment of
their plan), the call is kept on the case, and what the caller does on it moves the case as an
outbound call would: paying the amount due resolves it and removes the account's flag."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.collections.bridge import BridgeRefused
from ivr.collections.cases import CaseState
from ivr.collections.plans import PaymentState, PlanState
from ivr.phone import KeySource
from tests.collections_world import Campaign
from tests.conftest import Clock
from tests.test_collections_intake import campaign_csv

SELF_SERVICE = "+442071230001"
CUSTOMER_1 = "+447700900001"  # demo billing's customer 1: account 20000001, £11.25 due


def test_an_inbound_caller_hears_the_case_and_paying_it_resolves_it(campaign: Campaign) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "inbound.csv")
    case = collections.cases.for_account("20000001")
    assert case is not None and case.flagged
    # postcode; pay the total; with the card on file; no need to hear the code again
    call = campaign.voice.call(SELF_SERVICE, CUSTOMER_1, KeySource(["11#", "1", "1", "2"]))
    heard = " ".join(call.heard())
    assert "Our records show £11.25 overdue, and we have been trying to reach you" in heard, heard
    assert heard.index("Hello Customer 1") < heard.index("overdue")  # identity first
    assert "Your payment has been taken" in heard, heard
    [contact] = [k for k in collections.cases.contacts(case.id) if k.channel == "inbound"]
    assert contact.result == "placed" and contact.detail == call.call_sid
    collections.tick()  # the call's record settles it
    resolved = collections.cases.get(case.id)
    assert resolved.state is CaseState.RESOLVED and not resolved.flagged
    assert not campaign.flags()["20000001"]
    [settled] = [k for k in collections.cases.contacts(case.id) if k.channel == "inbound"]
    assert settled.result == "answered" and "PaymentTaken" in settled.detail


def test_an_inbound_caller_with_a_plan_hears_the_next_payment(campaign: Campaign) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "inbound.csv")
    case = collections.cases.for_account("20000001")
    assert case is not None
    # a plan of two agreed on the call itself: from the 20th, the card saved
    keys = ["11#", "5", "2", "2", "20#", "4242424242424242#", "1230", "123", "1"]
    first = campaign.voice.call(SELF_SERVICE, CUSTOMER_1, KeySource(keys))
    assert "Your plan is set up" in " ".join(first.heard()), first.heard()
    collections.tick()
    assert collections.cases.get(case.id).state is CaseState.PLAN_SCHEDULED
    again = campaign.voice.call(SELF_SERVICE, CUSTOMER_1, KeySource(["11#", "0"]))
    heard = " ".join(again.heard())
    assert "Your next payment, of £5.63, will be taken on Sunday 20 December" in heard, heard
    # nobody without a case hears anything of collections
    other = campaign.voice.call(SELF_SERVICE, "+447700900002", KeySource(["11#", "0"]))
    assert "overdue, and we" not in " ".join(other.heard())
    assert "payment plan with us" not in " ".join(other.heard())


def test_paying_in_full_while_a_plan_is_in_force_cancels_what_it_leaves(
    campaign: Campaign, clock: Clock
) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "inbound.csv")
    case = collections.cases.for_account("20000001")
    assert case is not None
    keys = ["11#", "5", "2", "2", "20#", "4242424242424242#", "1230", "123", "1"]
    campaign.voice.call(SELF_SERVICE, CUSTOMER_1, KeySource(keys))  # a plan from the 20th
    collections.tick()
    [plan] = collections.plans.for_case(case.id)
    assert plan.state is PlanState.ACTIVE
    # then pays the total on the card on file before any payment of the plan is due
    paid = campaign.voice.call(SELF_SERVICE, CUSTOMER_1, KeySource(["11#", "1", "1", "2"]))
    assert "Your payment has been taken" in " ".join(paid.heard())
    collections.tick()
    done = collections.plans.get(plan.id)
    assert done.state is PlanState.RESOLVED
    assert [p.state for p in done.instalments] == [PaymentState.CANCELLED] * 2
    resolved = collections.cases.get(case.id)
    assert resolved.state is CaseState.RESOLVED and not resolved.flagged
    assert "paid the 11.25 left of the plan in full" in collections.cases.events(case.id)[-2].cause
    clock.set(datetime(2026, 12, 20, 9, 0, tzinfo=UTC))
    assert collections.instalments is not None
    assert collections.instalments.run_due() == []  # nothing is charged on the 20th


def test_the_same_inbound_call_is_kept_once(campaign: Campaign) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "inbound.csv")
    case = collections.cases.for_account("20000001")
    assert case is not None
    keys = campaign.app.extensions["ivr"].keys
    auth = {"Authorization": f"Bearer {keys.collections_api_key}"}
    client = campaign.app.test_client()
    for _ in range(2):  # a webhook retried
        answer = client.post("/collections/v1/accounts/20000001/calls",
                             json={"call_sid": "CA" + "7" * 32}, headers=auth)  # fmt: skip
        assert answer.status_code == 200 and answer.get_json()["case"]["id"] == case.id
    inbound = [k for k in collections.cases.contacts(case.id) if k.channel == "inbound"]
    assert [k.detail for k in inbound] == ["CA" + "7" * 32]
    unknown = client.post("/collections/v1/accounts/99999999/calls",
                          json={"call_sid": "CA" + "7" * 32}, headers=auth)  # fmt: skip
    assert unknown.status_code == 404


def test_a_failing_step_of_the_periodic_work_does_not_hold_back_the_payments_due(
    campaign: Campaign, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=1).encode(), "inbound.csv")
    keys = ["11#", "5", "2", "2", "20#", "4242424242424242#", "1230", "123", "1"]
    campaign.voice.call(SELF_SERVICE, CUSTOMER_1, KeySource(keys))
    collections.tick()

    def refused() -> None:
        raise BridgeRefused("the PCI bridge refused GET /payments (401)")

    monkeypatch.setattr(collections.starts, "run_pending", refused)
    clock.set(datetime(2026, 12, 20, 9, 0, tzinfo=UTC))
    collections.tick()  # logged, and the rest of the work still runs
    case = collections.cases.for_account("20000001")
    assert case is not None
    [plan] = collections.plans.for_case(case.id)
    assert plan.instalments[0].state is PaymentState.TAKEN
