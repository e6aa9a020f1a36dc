"""Collections files (collections.md): strict CSV rows with every problem at FILE:LINE, cases
opened once per content and per account, the account's flag kept in the billing service, the
inbox emptied into processed/ and failed/ with reports, and `ivr collections`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from demo.billing import Billing
from ivr.app.collections import Collections, open_collections
from ivr.app.settings import Settings, SettingsError
from ivr.collections.cases import Cases, CaseState, NotAllowed
from ivr.collections.flags import BillingFlags
from ivr.collections.intake import Inbox, Intake
from ivr.collections.rows import Defaults, read_rows
from ivr.tools.cli import main
from tests.collections_world import seeded_billing
from tests.conftest import ROOT

HEADER = "account,phone,amount_due,currency,due_date,name,email,reference,timezone"


def account_doc(n: int) -> dict[str, Any]:
    return {
        "id": f"C{n:04d}",
        "number": f"2000{n:04d}",
        "name": f"Customer {n}",
        "phones": [f"+4477009{n:05d}"],
        "bills": [{"id": f"B-{n}", "period": "October 2026", "due_date": "2026-11-15",
                   "status": "open", "amount": f"{10 + n}.25"}],
    }  # fmt: skip


def campaign_csv(count: int = 50, bad: dict[int, str] | None = None) -> str:
    """`count` accounts (the billing service's C0001...), with the rows numbered in `bad`
    (1 = the first account) replaced by the text given."""
    lines = [HEADER]
    for n in range(1, count + 1):
        row = (
            f"2000{n:04d},+4477009{n:05d},{10 + n}.25,GBP,2026-11-15,"
            f'"Customer {n}, Esq.",c{n}@example.com,REF-{n},Europe/London'
        )
        lines.append((bad or {}).get(n, row))
    return "\n".join(lines) + "\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    billing_db = seeded_billing(tmp_path, [account_doc(n) for n in range(1, 51)])
    return Settings(
        callplans=ROOT / "callplans",
        database_url=f"sqlite:///{tmp_path}/ivr.sqlite3",
        demo_billing=True,
        demo_billing_database=billing_db,
        collections={"inbox": str(tmp_path / "inbox"), "interval": 1},
    )


@pytest.fixture
def collections(settings: Settings) -> Iterator[Collections]:
    opened = open_collections(settings)
    yield opened
    opened.close()


def billing_flags(settings: Settings) -> dict[str, bool]:
    """Account number → its collections flag, as the billing service keeps it."""
    service = Billing.from_file(database_url=str(settings.demo_billing_database))
    try:
        return {a["number"]: bool(a.get("collections_flag")) for a in service.accounts}
    finally:
        service.close()


# -- reading rows ------------------------------------------------------------------------------


def test_rows_are_read_strictly_and_every_problem_is_named_at_its_line() -> None:
    text = (
        "\ufeffAccount,PHONE,Amount_Due,Name,colour\n"
        '10012345,+447700900123,72.50,"Taylor, Sam",blue\n'
        "10067890,07700 900456,120,Alex,\n"  # national: read in the default region
        "10099999,not a phone,10.00,Bad,\n"
        "10088888,+447700900999,-5,Negative,\n"
        "10077777,+447700900888,12.345,Three places,\n"
        "10012345,+447700900123,1.00,Again,\n"
        '10066666,+447700900777,"5.00",'
        '"a name\nover two lines",\n'
        "\n"
        "10055555,+447700900789,0,Zero,\n"
    )
    parsed = read_rows(text.encode(), "arrears.csv", Defaults())
    assert not parsed.unreadable
    assert [(r.account, r.phone, r.amount_due, r.currency, r.timezone) for r in parsed.rows] == [
        ("10012345", "+447700900123", Decimal("72.50"), "GBP", "Europe/London"),
        ("10067890", "+447700900456", Decimal("120.00"), "GBP", "Europe/London"),
        ("10066666", "+447700900777", Decimal("5.00"), "GBP", "Europe/London"),
    ]
    assert parsed.rows[0].name == "Taylor, Sam"
    assert parsed.rows[2].name == "a name\nover two lines"
    assert [str(p) for p in parsed.problems] == [
        "arrears.csv:4: phone: 'not a phone' is not a phone number (E.164: +447700900123)",
        "arrears.csv:5: amount_due: '-5' is not an amount (a plain decimal: 72.50)",
        "arrears.csv:6: amount_due: '12.345' is not an amount (a plain decimal: 72.50)",
        "arrears.csv:7: account: account 10012345 is already on line 2",
        "arrears.csv:11: amount_due: '0' should be more than zero",
    ]
    assert parsed.warnings == ["arrears.csv:1: unknown columns ignored: colour"]
    assert parsed.refused_lines == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"account,amount_due\n1,2\n", "arrears.csv:1: phone: required column missing"),
        (b"\xff\xfeaccount\n", "arrears.csv:1: *: not UTF-8 text"),
        (b"", "arrears.csv:1: *: the file is empty: expected a header row"),
        (b"account,phone,Account,amount_due\n", "arrears.csv:1: account: the column is named"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(data: bytes, message: str) -> None:
    parsed = read_rows(data, "arrears.csv", Defaults())
    assert parsed.unreadable and parsed.rows == []
    assert str(parsed.problems[0]).startswith(message), parsed.problems


def test_each_column_is_checked() -> None:
    text = (
        "account,phone,amount_due,currency,due_date,email,timezone\n"
        "10012345,+447700900123,1.00,pounds,2026-11-15,a@example.com,Europe/London\n"
        "10012346,+447700900124,1.00,EUR,15/11/2026,a@example.com,Europe/London\n"
        "10012347,+447700900125,1.00,EUR,2026-11-15,not an email,Europe/London\n"
        "10012348,+447700900126,1.00,EUR,2026-11-15,a@example.com,Mars/Olympus\n"
        "bad account!,+447700900127,1.00,,,,\n"
        "10012349,+12025550143,1.00,usd,,,America/New_York\n"
    )
    parsed = read_rows(text.encode(), "f.csv", Defaults(currency="EUR"))
    assert [(p.line, p.column) for p in parsed.problems] == [
        (2, "currency"), (3, "due_date"), (4, "email"), (5, "timezone"), (6, "account"),
    ]  # fmt: skip
    [row] = parsed.rows
    assert (row.phone, row.currency, row.timezone) == ("+12025550143", "USD", "America/New_York")


# -- cases -----------------------------------------------------------------------------------------


def test_a_campaign_file_opens_47_cases_flags_them_and_names_the_3_bad_lines(
    collections: Collections, settings: Settings
) -> None:
    bad = {
        7: "20000007,+447700900007,ten pounds,GBP,,,,,",
        19: "20000019,,19.25,GBP,,,,,",
        33: "20000033,+447700900033,33.25,GBP,2026-13-01,,,,",
    }
    report = collections.intake.take(campaign_csv(bad=bad).encode(), "campaign.csv")
    assert len(report.opened) == 47 and report.refused == 3
    assert [str(p) for p in report.problems] == [
        "campaign.csv:8: amount_due: 'ten pounds' is not an amount (a plain decimal: 72.50)",
        "campaign.csv:20: phone: required, found nothing",
        "campaign.csv:34: due_date: '2026-13-01' is not a date (YYYY-MM-DD)",
    ]
    assert report.summary() == "campaign.csv: 47 cases opened, 3 rows refused"
    cases = collections.cases.cases()
    assert len(cases) == 47
    assert all(c.state is CaseState.OPEN and c.flagged for c in cases)
    first = cases[0]
    assert (first.account, first.amount_due, first.name, first.source) == (
        "20000001", Decimal("11.25"), "Customer 1, Esq.", "campaign.csv:2",
    )  # fmt: skip
    flags = billing_flags(settings)
    assert sum(flags.values()) == 47
    assert not flags["20000007"] and flags["20000008"]
    assert [e.cause for e in collections.cases.events(first.id)] == [
        "opened from campaign.csv:2",
        "collections flag set in billing",
    ]


def test_the_same_content_again_changes_nothing_and_an_open_account_is_not_opened_twice(
    collections: Collections,
) -> None:
    data = campaign_csv(count=5).encode()
    first = collections.intake.take(data, "monday.csv")
    assert len(first.opened) == 5
    again = collections.intake.take(data, "monday-copy.csv")
    assert again.first_seen is not None and again.opened == []
    assert "taken before" in again.summary() and "nothing changed" in again.summary()
    later = collections.intake.take(campaign_csv(count=7).encode(), "tuesday.csv")
    assert later.opened == ["20000006", "20000007"]
    assert later.already_open == ["20000001", "20000002", "20000003", "20000004", "20000005"]
    assert len(collections.cases.cases()) == 7
    # once resolved, a new file for the account opens a new case
    case = collections.cases.for_account("20000001")
    assert case is not None
    collections.cases.move(case.id, CaseState.PAID, "paid in full by phone")
    collections.cases.move(case.id, CaseState.RESOLVED, "payment posted")
    reopened = collections.intake.take(campaign_csv(count=1).encode() + b"\n", "wed.csv")
    assert reopened.opened == ["20000001"]
    newest = collections.cases.for_account("20000001")
    assert newest is not None and newest.id != case.id and newest.is_open


def test_cases_move_by_the_rules_and_every_change_is_recorded(collections: Collections) -> None:
    collections.intake.take(campaign_csv(count=1).encode(), "one.csv")
    [case] = collections.cases.cases()
    collections.cases.move(case.id, CaseState.CONTACTING, "SMS notice sent")
    collections.cases.move(case.id, CaseState.PROMISED, "promised 11.25 by 2026-12-10")
    with pytest.raises(NotAllowed, match="promised: it can go to .*not resolved"):
        collections.cases.move(case.id, CaseState.RESOLVED, "nothing was paid")
    assert collections.cases.get(case.id).state is CaseState.PROMISED
    collections.cases.move(case.id, CaseState.CLOSED, "closed by an operator")
    with pytest.raises(NotAllowed, match="closed: it can go to nothing"):
        collections.cases.move(case.id, CaseState.CONTACTING, "again")
    assert [(e.state_from, e.state_to, e.cause) for e in collections.cases.events(case.id)] == [
        ("", "open", "opened from one.csv:2"),
        ("open", "open", "collections flag set in billing"),
        ("open", "contacting", "SMS notice sent"),
        ("contacting", "promised", "promised 11.25 by 2026-12-10"),
        ("promised", "closed", "closed by an operator"),
    ]
    assert [c.account for c in collections.cases.cases(CaseState.CLOSED)] == ["20000001"]


def test_a_flag_the_billing_service_could_not_set_is_set_on_a_later_try(
    tmp_path: Path, refused_url: str, settings: Settings
) -> None:
    class Clock:
        now = datetime(2026, 12, 1, 9, tzinfo=UTC)

        def __call__(self) -> datetime:
            return self.now

    clock = Clock()
    cases = Cases(f"sqlite:///{tmp_path}/cases.sqlite3", clock=clock)
    http = requests.Session()
    down = Intake(cases, BillingFlags(http, refused_url, "token"), Defaults())
    report = down.take(campaign_csv(count=2).encode(), "f.csv")
    assert len(report.opened) == 2 and len(report.flag_problems) == 2
    assert "did not answer" in report.flag_problems[0]
    assert not any(c.flagged for c in cases.cases())
    assert "flag not set" in cases.events(1)[-1].cause

    served = open_collections(settings)  # the billing service is back (in-process)
    try:
        up = Intake(cases, served.intake.flags, Defaults())
        assert up.retry_flags() == 0  # tried a moment ago: not yet
        clock.now += timedelta(minutes=6)
        assert up.retry_flags() == 2
        assert all(c.flagged for c in cases.cases())
        assert billing_flags(settings)["20000001"]

        # resolved while the billing service is down: the flag stays, and is removed later
        cases.move(1, CaseState.PAID, "paid (test)")
        down.unflag(cases.move(1, CaseState.RESOLVED, "paid in full"))
        assert cases.get(1).flagged and "flag not removed" in cases.events(1)[-1].cause
        assert up.retry_flags() == 0  # tried a moment ago: not yet
        clock.now += timedelta(minutes=6)
        assert up.retry_flags() == 1
        assert not cases.get(1).flagged and cases.get(2).flagged
        assert not billing_flags(settings)["20000001"] and billing_flags(settings)["20000002"]
    finally:
        served.close()
        cases.close()
        http.close()


def test_cases_are_kept_in_postgresql_too(postgresql_url: str) -> None:
    cases = Cases(postgresql_url)
    try:
        intake = Intake(cases, None, Defaults())
        assert len(intake.take(campaign_csv(count=3).encode(), "pg.csv").opened) == 3
        assert intake.take(campaign_csv(count=3).encode(), "pg.csv").first_seen is not None
        assert [c.amount_due for c in cases.cases()] == [
            Decimal("11.25"), Decimal("12.25"), Decimal("13.25"),
        ]  # fmt: skip
    finally:
        cases.close()


# -- the inbox ---------------------------------------------------------------------------------


def test_the_inbox_moves_each_file_on_with_its_report(collections: Collections) -> None:
    assert collections.inbox is not None
    folder = collections.inbox.folder
    folder.mkdir(parents=True)
    (folder / "good.csv").write_text(campaign_csv(count=3, bad={2: "x,,,"}), encoding="utf-8")
    (folder / "broken.csv").write_text("account,amount_due\n1,2\n", encoding="utf-8")
    (folder / "upload.csv.tmp").write_text("still arriving", encoding="utf-8")
    reports = {r.file: r for r in collections.inbox.poll()}
    assert set(reports) == {"good.csv", "broken.csv"}
    assert (folder / "processed" / "good.csv").exists()
    assert (folder / "failed" / "broken.csv").exists()
    assert (folder / "upload.csv.tmp").exists()  # not a file to take yet
    good = (folder / "processed" / "good.csv.report.txt").read_text(encoding="utf-8")
    assert "good.csv:3: phone: required, found nothing" in good
    assert good.splitlines()[-1] == "good.csv: 2 cases opened, 1 rows refused"
    broken = (folder / "failed" / "broken.csv.report.txt").read_text(encoding="utf-8")
    assert "broken.csv:1: phone: required column missing from the header" in broken
    # the same file dropped again: moved on beside the first, nothing changed
    (folder / "good.csv").write_text(campaign_csv(count=3, bad={2: "x,,,"}), encoding="utf-8")
    [again] = collections.inbox.poll()
    assert again.first_seen is not None
    assert (folder / "processed" / "good-2.csv").exists()
    assert len(collections.cases.cases()) == 2


def test_two_listeners_on_one_inbox_take_each_file_once(
    collections: Collections, settings: Settings
) -> None:
    other = open_collections(settings)
    try:
        assert collections.inbox is not None and other.inbox is not None
        folder = collections.inbox.folder
        folder.mkdir(parents=True)
        for n in range(10):
            rows = campaign_csv(count=50).splitlines()
            part = [rows[0], *rows[1 + 5 * n : 6 + 5 * n]]
            (folder / f"part-{n}.csv").write_text("\n".join(part) + "\n", encoding="utf-8")
        taken: list[list[str]] = [[], []]
        inboxes: list[Inbox] = [collections.inbox, other.inbox]

        def listen(i: int) -> None:
            taken[i] += [r.file for r in inboxes[i].poll()]

        threads = [threading.Thread(target=listen, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(taken[0] + taken[1]) == sorted(f"part-{n}.csv" for n in range(10))
        assert len(collections.cases.cases()) == 50
        assert sorted(p.name for p in (folder / "processed").glob("*.csv")) == sorted(
            f"part-{n}.csv" for n in range(10)
        )
    finally:
        other.close()


def test_a_serving_app_listens_to_its_inbox(settings: Settings, service_keys_env: None) -> None:
    from ivr.app.web import create_app

    app = create_app(settings)
    system = app.extensions["ivr"]
    try:
        assert system.collections is not None
        folder = system.collections.inbox.folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "dropped.csv").write_text(campaign_csv(count=2), encoding="utf-8")
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not (folder / "processed" / "dropped.csv.report.txt").exists():
            assert datetime.now(UTC) < deadline, "the listener did not take the file"
            threading.Event().wait(0.1)
        assert [c.account for c in system.collections.cases.cases()] == ["20000001", "20000002"]
    finally:
        system.stop_background()
        system.collections.close()


# -- configuration and the command line ------------------------------------------------------


def test_a_wrong_collections_setting_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("collections: {inbox: in, intervall: 5}\n", encoding="utf-8")
    settings = Settings.load(config)
    with pytest.raises(SettingsError, match="collections.*intervall"):
        open_collections(settings)
    config.write_text("collections: {region: XX}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="collections.region: 'XX' is not a region"):
        open_collections(Settings.load(config))


def test_ivr_collections_import_and_cases(tmp_path: Path, settings: Settings) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"callplans: {ROOT / 'callplans'}\n"
        f"database: {settings.database_url}\n"
        "demo_billing: true\n"
        f"demo_billing_database: {settings.demo_billing_database}\n",
        encoding="utf-8",
    )
    good = tmp_path / "good.csv"
    good.write_text(campaign_csv(count=3), encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(campaign_csv(count=5, bad={4: "20000004,+44,1,,,,,,"}), encoding="utf-8")
    run = CliRunner().invoke
    first = run(main, ["collections", "import", str(good), "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert first.output.strip().endswith("good.csv: 3 cases opened, 0 rows refused")
    second = run(main, ["collections", "import", str(bad), "--config", str(config)])
    assert second.exit_code == 1, second.output
    assert "bad.csv:5: phone: '+44' is not a phone number" in second.output
    assert "bad.csv: 1 cases opened, 3 already open, 1 rows refused" in second.output
    listed = run(main, ["collections", "cases", "--json", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    cases = json.loads(listed.output)
    assert [c["account"] for c in cases] == ["20000001", "20000002", "20000003", "20000005"]
    assert {k: cases[0][k] for k in ("state", "amount_due", "currency", "flagged", "payments")} == {
        "state": "open", "amount_due": "11.25", "currency": "GBP", "flagged": True,
        "payments": [],
    }  # fmt: skip
    text = run(main, ["collections", "cases", "--state", "open", "--history",
                      "--config", str(config)])  # fmt: skip
    assert "opened from" in text.output and "collections flag set in billing" in text.output
    none = run(main, ["collections", "cases", "--state", "resolved", "--config", str(config)])
    assert none.output.strip() == "no cases in state resolved"
    listen = run(main, ["collections", "listen", "--once", "--config", str(config)])
    assert listen.exit_code == 1 and "set collections.inbox" in listen.output
