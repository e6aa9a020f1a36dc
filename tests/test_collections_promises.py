"""Promises to pay made on collections calls (collections.md): kept, and checked against the
billing service from 09:00 the day after their date. Kept in full resolves the case and removes
the flag; kept in part, or broken, sends the case back to contacting with the contact policy
started again, the cause saying which."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ivr.collections.cases import CaseState
from ivr.phone.rest import Answer
from tests.collections_world import Campaign
from tests.conftest import Clock
from tests.test_collections_intake import campaign_csv


def promise(amount: str) -> Answer:
    """It's me; postcode; promise; on 8 December; the amount; confirm it."""
    return Answer("human", ("1", "11#", "2", "0812", amount.replace(".", "*") + "#", "1"))


def pay_in_billing(campaign: Campaign, account: str, amount: str, code: str) -> None:
    """The customer pays some other way (the billing service takes it)."""
    token = campaign.app.extensions["ivr"].keys.billing_token
    paid = campaign.app.test_client().post(
        f"/demo/billing/accounts/{account}/payments",
        json={"amount": amount, "confirmation_code": code},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert paid.status_code == 201, paid.get_json()


def test_promises_are_checked_the_day_after_their_date(campaign: Campaign, clock: Clock) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=3).encode(), "promises.csv")  # 11.25, 12.25, 13.25
    campaign.rest.answers("+447700900001", promise("11.25"))  # and pays it all
    campaign.rest.answers("+447700900002", promise("12.25"))  # and pays nothing
    campaign.rest.answers("+447700900003", promise("5.00"))  # and pays that much
    collections.tick()
    assert len(campaign.rest.run_calls(campaign.voice)) == 3
    collections.tick()
    cases = {n: collections.cases.for_account(f"2000000{n}") for n in (1, 2, 3)}
    for n, case in cases.items():
        assert case is not None and case.state is CaseState.PROMISED, n
        [made] = collections.promises.for_case(case.id)
        assert made.promised_for == date(2026, 12, 8) and made.state == "open"
        assert made.check_at == datetime(2026, 12, 9, 9, 0, tzinfo=UTC)  # 09:00 London
    pay_in_billing(campaign, "20000001", "11.25", "11111111")
    pay_in_billing(campaign, "20000003", "5.00", "33333333")

    clock.set(datetime(2026, 12, 9, 8, 59, tzinfo=UTC))
    assert collections.promises.run_due() == 0  # not before its time
    clock.set(datetime(2026, 12, 9, 9, 0, tzinfo=UTC))
    collections.tick()

    kept = collections.cases.get(cases[1].id)
    assert kept.state is CaseState.RESOLVED and not kept.flagged
    assert not campaign.flags()["20000001"]
    assert "the promise of 11.25 by 2026-12-08 was kept" in [
        e.cause for e in collections.cases.events(kept.id)
    ]
    broken = collections.cases.get(cases[2].id)
    assert broken.state is CaseState.CONTACTING and broken.flagged
    assert collections.cases.events(broken.id)[-1].cause == (
        "the promise of 12.25 by 2026-12-08 was not kept"
    )
    part = collections.cases.get(cases[3].id)
    assert part.state is CaseState.CONTACTING
    assert "was kept, 8.25 still owed" in collections.cases.events(part.id)[-1].cause
    # the contact policy started again: the next round is a new call to each of them
    assert broken.attempts == 0 and part.attempts == 0
    assert [p.state for n in (1, 2, 3) for p in collections.promises.for_case(cases[n].id)] == [
        "kept", "broken", "kept",
    ]  # fmt: skip
    calls_before = len(campaign.rest.calls)
    collections.tick()
    assert {c.call.to for c in campaign.rest.calls[calls_before:]} == {
        "+447700900002", "+447700900003",
    }  # fmt: skip
    assert collections.promises.run_due() == 0  # each promise is checked once
