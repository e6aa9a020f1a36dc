"""A whole collections campaign on simulated time (`ivr collections simulate`, collections.md):
50 accounts with 3 bad rows, notices, outbound calls answered by scripted customers who pay,
promise, set up 1/2/3-month plans, decline, let a machine answer or never answer; three months
later every case is where it should be, every scheduled payment was charged once on its date,
no notice carried card data, and the same file again changes nothing."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from ivr.app.campaign_sim import BEHAVIOURS, Customer, simulate
from ivr.collections.cases import Cases
from ivr.collections.intake import Intake
from ivr.collections.plans import Plans
from ivr.collections.rows import Defaults
from ivr.tools.cli import main
from pci_bridge.ledger import sessions
from tests.conftest import ROOT

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CARD = "4242424242424242"


# Where each kind of customer's case ends (a failing plan: tried, failed, contacted again; a
# promise not kept: contacted again, and the customer declines).
EXPECTED = {
    "pays": "resolved", "promises": "closed", "plan_1": "resolved", "plan_2": "resolved",
    "plan_3": "resolved", "declines": "closed", "voicemail": "closed",
    "never_answers": "closed", "busy": "closed", "plan_2_card_fails": "closed",
    "plan_2_later": "resolved",
}  # fmt: skip


def campaign_file(tmp_path: Path) -> tuple[Path, dict[str, Customer]]:
    lines = ["account,phone,amount_due,due_date,name,email"]
    customers = {}
    for n in range(1, 48):
        account = f"4000{n:04d}"
        lines.append(f"{account},+4477009{30000 + n:05d},{20 + n}.10,2026-11-15,Customer {n},"
                     f"c{n}@example.com")  # fmt: skip
        customers[account] = Customer(BEHAVIOURS[n % len(BEHAVIOURS)])
    lines.insert(10, "40009991,,12.00,2026-11-15,No Phone,")
    lines.insert(20, "40009992,+447700939992,-3,2026-11-15,Negative,")
    lines.insert(30, "40009993,+447700939993,12.00,15/11/2026,Bad Date,")
    path = tmp_path / "arrears.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, customers


def test_a_three_month_campaign_ends_every_case_where_it_should(tmp_path: Path) -> None:
    csv_file, customers = campaign_file(tmp_path)
    world = tmp_path / "world"
    world.mkdir()
    result = simulate(
        csv_file, customers, days=92, start=START, callplans=ROOT / "callplans", folder=world
    )
    assert result.report[-1] == "arrears.csv: 47 cases opened, 3 rows refused"
    assert [line.split(": ")[0] for line in result.report[:3]] == [
        "arrears.csv:11", "arrears.csv:21", "arrears.csv:31",
    ]  # fmt: skip
    for story in result.stories:
        does = customers[story.account].does
        assert story.state == EXPECTED[does], (story, does)
        assert story.flagged == (EXPECTED[does] != "resolved"), story
        if does == "promises":  # checked the day after its date: not kept
            assert len(story.promises) == 1 and story.promises[0].endswith(" broken"), story
        if does == "plan_2_card_fails":  # tried 3 times, the plan failed, contacted again
            assert story.payments == ["plan of 2 failed (1 taken)"], story
        elif does.startswith("plan_"):
            months = int(does.removesuffix("_later")[-1])
            assert story.payments == [f"plan of {months} resolved ({months} taken)"], story
    assert not any(CARD in m or CARD[-4:] + " " in m for m in result.messages)
    assert result.texts == result.emails  # every round texted and emailed each customer
    # each text's delivery was reported by (simulated) Twilio and kept on its case
    assert all(
        c.endswith("delivered") for s in result.stories for c in s.contacts if c.startswith("sms")
    )
    assert any(c == "sms delivered" for s in result.stories for c in s.contacts)
    failing = sum(1 for c in customers.values() if c.does == "plan_2_card_fails")
    retried = [m for m in result.messages if "could not take payment 2" in m and "try again" in m]
    stopped = [m for m in result.messages if "after 3 tries" in m]
    assert failing and len(retried) == 2 * 2 * failing  # texted and emailed, two retries each
    assert len(stopped) == 2 * failing

    cases = Cases(f"sqlite:///{world}/ivr.sqlite3")
    try:
        plans = Plans(cases.db, cases.clock)
        charged: Counter[str] = Counter()
        first_try: dict[str, date] = {}
        verified: dict[int, date] = {}  # plan → the day its card was saved, nothing taken
        ledger_db = f"sqlite:///{world}/pci.sqlite3"
        from foundation.db import open_engine

        ledger = open_engine(ledger_db)
        with ledger.connect() as conn:
            for reference, created, amount in conn.execute(
                select(sessions.c.reference, sessions.c.created_at, sessions.c.amount).where(
                    sessions.c.reference.like("%/plan-%")
                )
            ):
                day = date.fromisoformat(created[:10])
                if amount == "0.00":
                    verified[int(reference.split("/plan-")[1])] = day
                    continue
                charged[reference] += 1
                first_try[reference] = min(first_try.get(reference, day), day)
        for reference, day in first_try.items():
            n = int(reference.rsplit("/", 1)[1]) if reference.count("/") == 2 else 1
            plan_id = int(reference.split("/plan-")[1].split("/")[0])
            assert day == plans.get(plan_id).instalments[n - 1].due_date, reference  # its date
        ledger.dispose()
        later = [c for c in customers.values() if c.does == "plan_2_later"]
        assert later and len(verified) == len(later)
        for plan_id, day in verified.items():  # nothing taken that day; both paid later
            plan = plans.get(plan_id)
            assert plan.instalments[0].due_date > day and plan.state.value == "resolved"
            assert all(f"{plan.id}/{n}" in " ".join(charged) for n in (1, 2)), plan
        # each payment charged once, a declined one once per try (its own key per attempt)
        tries = Counter(charged.values())
        assert set(charged.values()) <= {1, 3} and tries[3] == failing
        again = Intake(cases, None, Defaults()).take(csv_file.read_bytes(), "arrears.csv")
        assert again.first_seen is not None and again.opened == []
        config = tmp_path / "config.yaml"
        config.write_text(f"database: sqlite:///{world}/ivr.sqlite3\n", encoding="utf-8")
        listed = CliRunner().invoke(main, ["collections", "cases", "--json", "--config",
                                           str(config)])  # fmt: skip
        assert listed.exit_code == 0, listed.output
        plan_3 = next(c for c in json.loads(listed.output)
                      if customers[c["account"]].does == "plan_3")  # fmt: skip
        assert [(p["n"], p["state"]) for p in plan_3["payments"]] == [
            (1, "taken"), (2, "taken"), (3, "taken"),
        ]  # fmt: skip
    finally:
        cases.close()


def test_ivr_collections_simulate_prints_what_happened(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [
        "collections", "simulate", str(ROOT / "demo/collections/campaign.csv"),
        "--customers", str(ROOT / "demo/collections/customers.yaml"), "--days", "92",
        "--callplans", str(ROOT / "callplans"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "campaign.csv: 13 cases opened, 2 rows refused" in result.output
    assert "30000001       resolved        not flagged" in result.output
    assert "plan of 3 resolved (3 taken)" in result.output
    bad = CliRunner().invoke(main, [
        "collections", "simulate", str(ROOT / "demo/collections/campaign.csv"),
        "--customers", str(ROOT / "demo/collections/campaign.csv"),
    ])  # fmt: skip
    assert bad.exit_code == 1 and "expected a map of accounts" in bad.output
