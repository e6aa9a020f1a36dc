"""Collections jobs on two `ivr worker` processes over a real Redis, on real time (collections.md
"Jobs"): a file dropped in the inbox becomes cases, one notice per customer and channel and one
outbound call each, answered over HTTP by scripted customers (pay, promise, a plan, decline,
no answer) and settled into the cases; scheduled payments due seconds apart are each charged
once, with one receipt, and resolve their plans; nothing is done twice whatever the workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from ivr.collections.cases import Cases, CaseState
from ivr.collections.plans import PaymentState, Plans, PlanState
from ivr.collections.schedules import monthly_schedule
from ivr.collections.tables import collections_payments
from ivr.phone.rest import Answer, TwilioRestSimulator
from pci_bridge.ledger import sessions
from tests.collections_fleet import Fleet, Mailbox, running_fleet, wait_for
from tests.collections_world import customer
from tests.test_collections_intake import campaign_csv

CUSTOMERS = 8


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str) -> Iterator[Fleet]:
    with running_fleet(tmp_path, redis_url, [customer(n) for n in range(1, CUSTOMERS + 1)]) as f:
        yield f


def test_two_workers_take_a_file_notify_once_and_charge_each_payment_once(fleet: Fleet) -> None:
    inbox = fleet.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "arrears.csv").write_text(campaign_csv(count=CUSTOMERS), encoding="utf-8")
    cases = Cases(fleet.database)
    try:
        rest: TwilioRestSimulator = fleet.rest
        mailbox: Mailbox = fleet.mailbox
        wait_for("the notices", lambda: len(rest.messages) >= CUSTOMERS
                 and len(mailbox.to) >= CUSTOMERS)  # fmt: skip
        time.sleep(3)  # several more ticks on both workers: nothing is sent again
        numbers = [m.to for m in rest.messages]
        assert sorted(numbers) == sorted(f"+4477009{n:05d}" for n in range(1, CUSTOMERS + 1))
        assert sorted(mailbox.to) == sorted(f"c{n}@example.com" for n in range(1, CUSTOMERS + 1))
        assert (inbox / "processed" / "arrears.csv").exists()
        assert all(c.state is CaseState.CONTACTING and c.flagged for c in cases.cases())

        # the calls: answered over HTTP through the serving app's webhooks, as Twilio would
        wait_for("the calls", lambda: len(rest.calls) >= CUSTOMERS)
        voice = fleet.voice()
        scripts = {
            1: Answer("human", ("1", "11#", "1", "1", "2")),  # pays with the card on file
            2: Answer(
                "human",
                ("1", "11#", "2", f"{datetime.now(UTC) + timedelta(days=7):%d%m}", "12*25#", "1"),
            ),  # promises  # fmt: skip
            3: Answer(
                "human", ("1", "11#", "3", "2", "1", "4242424242424242#", "1230", "123", "1")
            ),
            4: Answer("human", ("2",)),  # declines
        }
        for n, answer in scripts.items():
            rest.answers(f"+4477009{n:05d}", answer)
        rest.run_calls(voice)
        assert len(rest.calls) == CUSTOMERS  # one call each, whatever the workers
        wait_for("the calls to be settled", lambda: not cases.placed_calls())
        states = {c.account: c.state for c in cases.cases()}
        assert states["20000001"] is CaseState.RESOLVED
        assert states["20000002"] is CaseState.PROMISED
        assert states["20000003"] is CaseState.PLAN_SCHEDULED
        assert states["20000004"] is CaseState.CONTACTING
        results = sorted(k.result for c in cases.cases() for k in cases.contacts(c.id)
                         if k.channel == "call")  # fmt: skip
        assert results == sorted(["answered"] * 4 + ["no_answer"] * (CUSTOMERS - 4))

        # three customers agreed plans of three; payments 2 and 3 fall due seconds apart
        bridge = fleet.app.extensions["ivr"].bridge
        token = bridge.gateway.mint_token(brand="visa", last4="4242", exp_month=12, exp_year=2030)
        plans = Plans(cases.db, cases.clock)
        made = []
        now = datetime.now(UTC)
        for case in [c for c in cases.cases() if c.state is CaseState.CONTACTING][:3]:
            plan = plans.create(case, monthly_schedule(case.amount_minor, 3, now.date()))
            plans.start(plan.id, token, f"first-{plan.id}", "00000000")
            cases.move(case.id, CaseState.PLAN_SCHEDULED, "plan agreed (test)")
            for payment, seconds in zip(plan.instalments[1:], (2, 4), strict=True):
                with cases.db.begin() as conn:
                    conn.execute(
                        update(collections_payments)
                        .where(collections_payments.c.id == payment.id)
                        .values(next_try_at=now + timedelta(seconds=seconds))
                    )
            made.append(plan.id)
        wait_for(
            "the plans to be paid",
            lambda: all(plans.get(p).state is PlanState.RESOLVED for p in made),
        )
        time.sleep(2)
        for plan_id in made:
            plan = plans.get(plan_id)
            assert [p.state for p in plan.instalments] == [PaymentState.TAKEN] * 3
            assert [p.attempts for p in plan.instalments] == [1, 1, 1]
            case = cases.get(plan.case_id)
            assert case.state is CaseState.RESOLVED and not case.flagged
        with bridge.ledger.db.connect() as conn:
            charged = conn.execute(
                select(func.count()).where(sessions.c.reference.like("%/plan-%/%"))
            ).scalar_one()
        assert charged == 6  # two scheduled payments for each of three plans, once each
        receipts = [m.to for m in rest.messages if "we took payment" in m.body]
        assert len(receipts) == 6 and len(set(receipts)) == 3
    finally:
        cases.close()
