"""The campaign of tests/test_collections_campaign.py (50 rows, 3 bad; customers who pay,
promise, set up 1/2/3-month plans, one whose card fails later, one from a later day, decline,
let a machine answer or never answer) on two `ivr worker` processes over a real Redis, on real
time: contact rounds seconds apart, every scheduled payment made due seconds apart as soon as
its plan is agreed (a promise checked seconds after it is made), a declined one tried again
seconds later. The cases end where the
simulated campaign ends them, nothing is charged twice and no notice is sent twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from ivr.app.campaign_sim import ScriptedCustomers, billing_account
from ivr.collections.cases import Cases, CaseState
from ivr.collections.plans import PaymentState, Plans, PlanState
from ivr.collections.rows import Defaults, read_rows
from ivr.collections.tables import collections_payments, collections_promises
from pci_bridge.ledger import sessions
from tests.collections_fleet import running_fleet
from tests.test_collections_campaign import EXPECTED, campaign_file

CAMPAIGN = (  # three rounds 5.4 s apart
    "    default: {channels: [sms, email, call], attempts: 3, gap_hours: 0.0015, "
    'calling_hours: "00:00-23:59"}\n'
)
PLANS = "  plans: {retry_gap_hours: 0.0015, max_tries: 3}\n"  # a declined payment: 5.4 s later
FINAL = {CaseState.RESOLVED, CaseState.CLOSED}


def test_the_campaign_on_two_workers_ends_as_simulated_charging_and_telling_once(
    tmp_path: Path, redis_url: str
) -> None:
    csv_file, customers = campaign_file(tmp_path)
    rows = read_rows(csv_file.read_bytes(), csv_file.name, Defaults()).rows
    accounts = [billing_account(row) for row in rows]
    with running_fleet(tmp_path, redis_url, accounts, CAMPAIGN, PLANS) as fleet:
        cases = Cases(fleet.database)
        plans = Plans(cases.db, cases.clock)
        try:
            fleet.inbox.mkdir(parents=True, exist_ok=True)
            (fleet.inbox / csv_file.name).write_bytes(csv_file.read_bytes())
            voice = fleet.voice()
            scripted = ScriptedCustomers(customers)
            brought_forward: set[int] = set()
            deadline = time.monotonic() + 240
            while True:
                assert time.monotonic() < deadline, Counter(c.state for c in cases.cases())
                fleet.rest.run_calls(voice, scripted.answer(fleet.rest, cases, datetime.now(UTC)))
                fleet.rest.report_deliveries(voice)
                bring_forward(plans, brought_forward)
                if is_over(cases, plans, fleet.rest.pending()):
                    break
                time.sleep(0.3)
            time.sleep(3)  # several more ticks of both workers: nothing more happens
            assert not fleet.rest.pending()
            fleet.rest.report_deliveries(voice)  # a text sent as the last round was claimed
            time.sleep(2)  # a report that came before its contact was recorded: applied
            assert fleet.rest.refused_reports == []

            report = (fleet.inbox / "processed" / f"{csv_file.name}.report.txt").read_text()
            assert "47 cases opened, 3 rows refused" in report, report
            every = cases.cases()
            assert len(every) == 47
            for case in every:
                does = customers[case.account].does
                assert case.state.value == EXPECTED[does], (case.account, does, case.state)
                assert case.flagged == (case.state is not CaseState.RESOLVED), case
                for plan in plans.for_case(case.id):
                    if does == "plan_2_card_fails":
                        assert plan.state is PlanState.FAILED
                    elif does.startswith("plan_"):
                        assert plan.state is PlanState.RESOLVED, (case.account, plan)
                        assert all(p.state is PaymentState.TAKEN for p in plan.instalments)

            # no double charge: one session per payment, a declined one once per try
            ledger = fleet.app.extensions["ivr"].bridge.ledger
            with ledger.db.connect() as conn:
                references = Counter(
                    r for (r,) in conn.execute(
                        select(sessions.c.reference).where(sessions.c.reference.like("%/plan-%"))
                    )
                )  # fmt: skip
            failing = [a for a, c in customers.items() if c.does == "plan_2_card_fails"]
            for reference, count in references.items():
                tries = 3 if reference.split("/")[0] in failing and reference.endswith("/2") else 1
                assert count == tries, (reference, count)
            # no double notice: one text and one email per round claimed, one call per round
            for case in every:
                contacts = Counter(k.channel for k in cases.contacts(case.id))
                texts = [m for m in fleet.rest.sent_to(case.phone) if "overdue" in m.body]
                emails = [b for to, b in zip(fleet.mailbox.to, fleet.mailbox.bodies, strict=True)
                          if to == case.email and "overdue" in b]  # fmt: skip
                calls = [c for c in fleet.rest.calls if c.call.to == case.phone]
                assert len(texts) == contacts["sms"], (case.account, contacts)
                assert len(emails) == contacts["email"], (case.account, contacts)
                assert len(calls) == contacts["call"], (case.account, contacts)
                assert contacts["sms"] <= 6  # three rounds (again after a plan failed)
                # Twilio's delivery reports reached the case (signed, over HTTP)
                assert {k.result for k in cases.contacts(case.id) if k.channel == "sms"} == {
                    "delivered"
                }, case.account
            # one receipt per payment taken after the call
            receipts = Counter(m.to for m in fleet.rest.messages if "we took payment" in m.body)
            for case in every:
                taken_later = sum(
                    1
                    for plan in plans.for_case(case.id)
                    for p in plan.instalments
                    if p.state is PaymentState.TAKEN and p.session_id != plan.card_session_id
                )
                assert receipts[case.phone] == taken_later, case.account
        finally:
            cases.close()


def bring_forward(plans: Plans, done: set[int]) -> None:
    """Payments of plans in force due on later dates: due a few seconds from now instead, two
    seconds apart (once each; a retry keeps the time it was given); promises checked a few
    seconds from now rather than the day after their date."""
    now = datetime.now(UTC)
    p = collections_promises.c
    with plans.db.begin() as conn:
        conn.execute(
            update(collections_promises)
            .where(p.state == "open", p.check_at > now + timedelta(minutes=1))
            .values(check_at=now + timedelta(seconds=2))
        )
    k = collections_payments.c
    with plans.db.connect() as conn:
        rows = conn.execute(
            select(k.id, k.n).where(
                k.state == PaymentState.SCHEDULED.value,
                k.next_try_at > now + timedelta(minutes=1),
            )
        ).all()
    for payment_id, n in rows:
        if payment_id in done:
            continue
        done.add(payment_id)
        with plans.db.begin() as conn:
            conn.execute(
                update(collections_payments)
                .where(k.id == payment_id)
                .values(next_try_at=now + timedelta(seconds=1 + 2 * n))
            )


def is_over(cases: Cases, plans: Plans, pending: Sequence[object]) -> bool:
    """Every case where it ends, no payment waiting, no call waiting to be answered."""
    if pending or cases.placed_calls():
        return False
    every = cases.cases()
    if len(every) < 47 or any(c.state not in FINAL for c in every):
        return False
    waiting = (PaymentState.SCHEDULED, PaymentState.CHARGING)
    return not any(
        p.state in waiting
        for c in every
        for plan in plans.for_case(c.id)
        if plan.state is PlanState.ACTIVE
        for p in plan.instalments
    )
