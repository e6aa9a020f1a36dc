"""Payment outcomes reach the business (pci_bridge/outbox.py): every ended session is in the
outbox, written with its final state; delivery to the payment-result webhook over real HTTP,
signed; a receiver that fails is tried again with back-off until it acknowledges; `pci-bridge
reconcile` lists and re-sends; the demo billing service consumes the webhook once per payment,
whatever else posts the same payment."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask

from demo.billing import Billing, register
from foundation.signing import SIGNATURE_HEADER, sign, signature_valid
from pci_bridge import BridgeConfig
from pci_bridge.cli import main as bridge_cli
from pci_bridge.outbox import backoff
from tests.conftest import BILLING_KEY, Clock, LoopbackServer, Reply, Seen, keyed_bridge_app

SECRET = "webhook-secret-0123456789abcdef"


@pytest.fixture
def make_bridge(tmp_path: Path, clock: Clock) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def build(url: str | None, **config: Any) -> Flask:
        app = keyed_bridge_app(
            BridgeConfig(
                database_url=f"sqlite:///{tmp_path}/pci.sqlite3",
                result_webhook=url,
                webhook_secret=SECRET,
                **config,
            ),
            clock=clock,
        )
        made.append(app)
        return app

    yield build
    for app in made:
        app.extensions["pci_bridge"].close()


def token(app: Flask, behaviour: str = "success") -> str:
    return app.extensions["pci_bridge"].gateway.mint_token(
        brand="visa", last4="4242", exp_month=12, exp_year=2030, behaviour=behaviour
    )


def stored_card_payment(
    app: Flask, reference: str = "A1001", behaviour: str = "success"
) -> dict[str, Any]:
    answer = app.test_client().post(
        "/pci/v1/sessions",
        json={
            "amount": "12.34",
            "currency": "GBP",
            "reference": reference,
            "card_token": token(app, behaviour),
        },
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def receiver(server: LoopbackServer, statuses: list[int]) -> list[Seen]:
    """The webhook: answers with `statuses` in turn (the last one from then on)."""
    got: list[Seen] = []

    def answer(seen: Seen) -> Reply:
        got.append(seen)
        status = statuses[min(len(got), len(statuses)) - 1]
        return status, {}, ""

    server.handle("POST", "/results", answer)
    return got


def test_an_ended_payment_is_posted_signed_to_the_webhook(
    make_bridge: Callable[..., Flask], http_server: LoopbackServer
) -> None:
    got = receiver(http_server, [204])
    app = make_bridge(http_server.url + "/results")
    session = stored_card_payment(app)
    bridge = app.extensions["pci_bridge"]
    [delivery] = bridge.outbox.deliver_due()
    assert delivery.acknowledged and delivery.session_id == session["session_id"]
    [seen] = got
    body = json.loads(seen.body)
    assert body == {
        "event": "payment.ended",
        "session_id": session["session_id"],
        "reference": "A1001",
        "result": session["result"],
    }
    assert body["result"]["outcome"] == "success"
    assert seen.headers[SIGNATURE_HEADER] == sign(SECRET, seen.body)
    assert signature_valid(SECRET, seen.body, seen.headers[SIGNATURE_HEADER])
    assert not signature_valid("another-secret", seen.body, seen.headers[SIGNATURE_HEADER])
    assert bridge.outbox.deliver_due() == []  # acknowledged: never sent again
    assert bridge.ledger.outbox_rows() == []


def test_every_way_a_session_ends_is_in_the_outbox(
    make_bridge: Callable[..., Flask], clock: Clock
) -> None:
    app = make_bridge(None)  # no webhook: the outbox keeps them for reconcile
    client = app.test_client()
    paid = stored_card_payment(app)
    declined = stored_card_payment(app, behaviour="insufficient_funds")
    made = client.post(
        "/pci/v1/sessions", json={"amount": "1.00", "currency": "GBP", "reference": "A2"}
    ).get_json()
    client.post(f"/pci/v1/sessions/{made['session_id']}/cancel")
    idle = client.post(
        "/pci/v1/sessions", json={"amount": "1.00", "currency": "GBP", "reference": "A3"}
    ).get_json()
    clock.advance(seconds=3600)
    client.get(f"/pci/v1/sessions/{idle['session_id']}")  # expires it
    rows = {
        r["session_id"]: json.loads(r["body"])
        for r in app.extensions["pci_bridge"].ledger.outbox_rows()
    }
    assert set(rows) == {
        paid["session_id"],
        declined["session_id"],
        made["session_id"],
        idle["session_id"],
    }
    assert rows[declined["session_id"]]["result"]["outcome"] == "declined"
    assert rows[made["session_id"]]["result"]["outcome"] == "cancelled"


def test_a_failing_receiver_is_tried_again_with_back_off_until_it_acknowledges(
    make_bridge: Callable[..., Flask], http_server: LoopbackServer, clock: Clock
) -> None:
    got = receiver(http_server, [500, 503, 200])
    app = make_bridge(http_server.url + "/results")
    session = stored_card_payment(app)
    outbox = app.extensions["pci_bridge"].outbox
    assert [d.status for d in outbox.deliver_due()] == [500]
    assert outbox.deliver_due() == []  # not due yet
    clock.advance(seconds=backoff(1))
    assert [d.status for d in outbox.deliver_due()] == [503]
    clock.advance(seconds=backoff(2) - 1)
    assert outbox.deliver_due() == []
    clock.advance(seconds=1)
    assert [d.status for d in outbox.deliver_due()] == [200]
    assert len(got) == 3 and {json.loads(s.body)["session_id"] for s in got} == {
        session["session_id"]
    }
    assert backoff(1) == 10 and backoff(2) == 20 and backoff(30) == 3600  # an hour at most


def test_a_receiver_that_never_answers_is_given_up_on_for_now(
    make_bridge: Callable[..., Flask], refused_url: str
) -> None:
    app = make_bridge(refused_url + "/results")
    stored_card_payment(app)
    [delivery] = app.extensions["pci_bridge"].outbox.deliver_due()
    assert not delivery.acknowledged and delivery.error == "ConnectionError"
    [row] = app.extensions["pci_bridge"].ledger.outbox_rows()
    assert row["attempts"] == 1 and row["last_error"] == "ConnectionError"


def test_a_row_claimed_by_another_process_is_not_sent_twice(
    make_bridge: Callable[..., Flask], http_server: LoopbackServer, clock: Clock
) -> None:
    got = receiver(http_server, [200])
    app = make_bridge(http_server.url + "/results")
    stored_card_payment(app)
    ledger = app.extensions["pci_bridge"].ledger
    [row] = ledger.outbox_due(clock())
    assert ledger.claim_outbox(
        row["session_id"], row["next_attempt_at"], clock() + timedelta(seconds=60)
    )
    assert not ledger.claim_outbox(row["session_id"], row["next_attempt_at"], clock())
    assert app.extensions["pci_bridge"].outbox.deliver_due() == []  # the claim moved it
    assert got == []


def test_reconcile_lists_and_sends_what_is_not_acknowledged(
    make_bridge: Callable[..., Flask],
    http_server: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got = receiver(http_server, [500, 500, 200])
    app = make_bridge(http_server.url + "/results")
    paid = stored_card_payment(app)
    app.extensions["pci_bridge"].outbox.deliver_due()  # 500: left for later
    config = tmp_path / "bridge.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "pci": {
                    "database_url": f"sqlite:///{tmp_path}/pci.sqlite3",
                    "result_webhook": http_server.url + "/results",
                }
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("PCI_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("IVR_PCI_DATABASE_URL", raising=False)
    runner = CliRunner()

    listed = runner.invoke(bridge_cli, ["reconcile", "--config", str(config), "--list-only"])
    assert listed.exit_code == 0, listed.output
    assert paid["session_id"] in listed.output and "success" in listed.output
    assert "answered 500" in listed.output and "1 not acknowledged" in listed.output
    assert len(got) == 1

    failed = runner.invoke(bridge_cli, ["reconcile", "--config", str(config)])
    assert failed.exit_code == 1 and "sent 1: 0 acknowledged, 1 to try again" in failed.output
    sent = runner.invoke(bridge_cli, ["reconcile", "--config", str(config)])
    assert sent.exit_code == 0 and "sent 1: 1 acknowledged" in sent.output
    again = runner.invoke(bridge_cli, ["reconcile", "--config", str(config)])
    assert again.exit_code == 0 and "0 not acknowledged" in again.output
    assert len(got) == 3
    everything = runner.invoke(
        bridge_cli, ["reconcile", "--config", str(config), "--all", "--list-only"]
    )
    assert "delivered" in everything.output


# --- the demo billing service as the receiver -------------------------------------------------


@pytest.fixture
def billing_app() -> Flask:
    app = Flask("billing")
    register(
        app,
        Billing.from_file(),
        token=BILLING_KEY,
        webhook_secret=SECRET,
        clock=lambda: datetime(2026, 11, 18, 10, tzinfo=UTC),
    )
    return app


def event(code: str = "12345678", outcome: str = "success", reference: str = "A1001") -> bytes:
    return json.dumps(
        {
            "event": "payment.ended",
            "session_id": "ps_1",
            "reference": reference,
            "result": {"outcome": outcome, "amount": "30.00", "confirmation_code": code},
        }
    ).encode()


def test_demo_billing_posts_a_payment_result_once(billing_app: Flask) -> None:
    client = billing_app.test_client()
    body = event()
    headers = {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}
    for _ in range(3):  # the webhook again, as a retry would
        answer = client.post("/demo/billing/payment-results", data=body, headers=headers)
        assert answer.status_code == 200
        assert answer.get_json()["payment"]["pci_session_id"] == "ps_1"
    auth = {"Authorization": f"Bearer {BILLING_KEY}"}
    # the plan's own post of the same payment confirms it, it does not pay twice
    plan = client.post(
        "/demo/billing/accounts/A1001/payments",
        headers=auth,
        json={"amount": "30.00", "confirmation_code": "12345678", "pci_session_id": "ps_1"},
    )
    assert plan.status_code == 201
    billing = billing_app.extensions["demo_billing"]
    assert [p["confirmation_code"] for p in billing.payments] == ["12345678"]
    sam = client.get("/demo/billing/accounts/A1001", headers=auth).get_json()["account"]
    assert sam["total_due"] == "42.50"  # 72.50 less the one payment


@pytest.mark.parametrize(
    "signature", [None, "sha256=00", "sha256=" + "0" * 64, sign("wrong-secret-0123456789", event())]
)
def test_demo_billing_refuses_an_unsigned_payment_result(
    billing_app: Flask, signature: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if signature:
        headers[SIGNATURE_HEADER] = signature
    answer = billing_app.test_client().post(
        "/demo/billing/payment-results", data=event(), headers=headers
    )
    assert answer.status_code == 401
    assert billing_app.extensions["demo_billing"].payments == []


def test_demo_billing_acknowledges_other_outcomes_without_a_payment(billing_app: Flask) -> None:
    body = event(outcome="declined")
    answer = billing_app.test_client().post(
        "/demo/billing/payment-results",
        data=body,
        headers={SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200 and answer.get_json() == {"payment": None}
    assert billing_app.extensions["demo_billing"].payments == []


# --- a whole call: the plan's own post fails, the outbox still posts the payment --------------


@pytest.mark.parametrize("fault", ["timeout", "refused", "500"])
def test_a_charge_reaches_billing_when_the_plans_post_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    from ivr.adapters.canned import CannedAnswer, canned_session
    from ivr.app.local_phone import LocalPhone
    from ivr.app.settings import Settings
    from tests.conftest import CLI_ENVIRONMENT, ROOT

    for name in CLI_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    post = CannedAnswer(
        "POST",
        "http://127.0.0.1:8080/demo/billing/accounts/A1001/payments",
        status=500 if fault == "500" else 200,
        error=None if fault == "500" else fault,
    )
    session, _ = canned_session([post])
    settings = Settings.load(
        ROOT / "config.yaml", database_url=f"sqlite:///{tmp_path}/calls.sqlite3"
    )
    phone = LocalPhone(settings, http=session, start=datetime(2026, 11, 18, 10, tzinfo=UTC))
    try:
        report = phone.call(
            "+442071230001", "+447700900123", "11# 1 2 4242424242424242# 1230 123 1 2".split()
        )
        heard = " ".join(report.heard())
        assert "was successful. Your confirmation code is" in heard
        assert post.used >= 1  # the plan did try, and failed
        billing = phone.app.extensions["demo_billing"]
        [payment] = billing.payments  # posted by the outbox, exactly once
        assert payment["amount"] == "72.50" and payment["pci_session_id"].startswith("ps_")
        assert payment["confirmation_code"].replace(" ", "") in heard.replace(" ", "")
        assert phone.system.bridge.ledger.outbox_rows() == []  # acknowledged
    finally:
        phone.close()


def test_a_stored_card_charge_slower_than_a_turn_is_never_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway takes 7 s: the bridge answers the plan after 5 s (`wait`) with the charge
    still going on, the caller holds and is then told the truth (still processing, do not pay
    again) and reaches an agent; when the charge completes the outbox posts it to billing."""
    import time

    from ivr.app.local_phone import LocalPhone
    from ivr.app.settings import Settings
    from tests.conftest import CLI_ENVIRONMENT, ROOT

    for name in CLI_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    shipped = Settings.load(ROOT / "config.yaml")
    settings = Settings.load(
        ROOT / "config.yaml",
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        pci={**shipped.pci, "gateway_latency": 7},
    )
    phone = LocalPhone(settings, start=datetime(2026, 11, 18, 10, tzinfo=UTC))
    try:
        started = time.monotonic()
        report = phone.call("+442071230001", "+447700900123", ["11#", "1", "1"])
        heard = " ".join(report.heard())
        assert "Please hold while we take your payment" in heard
        assert "Your payment is still being processed. Please do not pay again" in heard
        assert "has been taken" not in heard and "No money" not in heard
        assert time.monotonic() - started < 7  # no webhook waited for the whole charge
        billing = phone.app.extensions["demo_billing"]
        assert billing.payments == []
        deadline = time.monotonic() + 15
        while not billing.payments and time.monotonic() < deadline:
            time.sleep(0.1)
        [payment] = billing.payments  # the charge completed and reached billing, once
        assert payment["amount"] == "72.50"
        session = phone.system.bridge.ledger.session(payment["pci_session_id"])
        assert session["state"] == "completed"
    finally:
        phone.close()


def test_a_stored_card_create_answers_within_wait_and_the_charge_goes_on(
    make_bridge: Callable[..., Flask], http_server: LoopbackServer
) -> None:
    import time

    got = receiver(http_server, [200])
    app = make_bridge(http_server.url + "/results", gateway_latency=1.5)
    client = app.test_client()
    body = {"amount": "5.00", "currency": "GBP", "reference": "A1", "card_token": token(app)}
    started = time.monotonic()
    answer = client.post("/pci/v1/sessions", json={**body, "wait": 0})
    assert time.monotonic() - started < 1.0
    assert answer.status_code == 201
    view = answer.get_json()
    assert (view["state"], view["result"]) == ("in_progress", None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and view["state"] == "in_progress":
        time.sleep(0.1)
        view = client.get(f"/pci/v1/sessions/{view['session_id']}").get_json()
    assert view["state"] == "completed" and view["result"]["outcome"] == "success"
    app.extensions["pci_bridge"].outbox.deliver_due()
    assert [json.loads(s.body)["session_id"] for s in got] == [view["session_id"]]
    waited = client.post(
        "/pci/v1/sessions", json={**body, "card_token": token(app), "wait": 3}
    ).get_json()
    assert waited["state"] == "completed"  # 1.5 s of gateway: within the 3 s asked for


@pytest.mark.parametrize("wait", [9, -1, "5", True, 2.5])
def test_wait_is_a_whole_number_of_seconds_up_to_8(
    make_bridge: Callable[..., Flask], wait: object
) -> None:
    app = make_bridge(None)
    answer = app.test_client().post(
        "/pci/v1/sessions",
        json={
            "amount": "5.00",
            "currency": "GBP",
            "reference": "A1",
            "card_token": token(app),
            "wait": wait,
        },
    )
    assert answer.status_code == 400 and answer.get_json()["field"] == "wait"


# --- legs lost with the live state ------------------------------------------------------------


def test_a_leg_lost_with_redis_is_settled_from_the_gateway_once_it_answers(
    make_bridge: Callable[..., Flask], clock: Clock
) -> None:
    from pci_bridge.keys import LEG_KEY

    app = make_bridge(None)
    client = app.test_client()
    bridge = app.extensions["pci_bridge"]
    session = client.post(
        "/pci/v1/sessions",
        json={
            "amount": "9.99",
            "currency": "GBP",
            "reference": "A9",
            "caller_clid": "+447700900123",
        },
    ).get_json()
    answer = client.post("/pci/voice", data={"CallSid": "CA" + "d4" * 16, "From": session["clid"]})
    assert "card number" in answer.get_data(as_text=True)
    sid = session["session_id"]
    assert bridge.ledger.session(sid)["state"] == "in_progress"
    assert bridge.sessions.sweep() == 0  # its leg is live
    bridge.state.delete(LEG_KEY.format(session_id=sid))  # Redis restarted without its data
    assert bridge.sessions.sweep() == 0  # too young: a charge may still be in flight
    clock.advance(seconds=121)
    assert bridge.sessions.sweep() == 1
    assert bridge.ledger.session(sid)["state"] == "abandoned"  # the gateway never charged it
    assert [r["session_id"] for r in bridge.ledger.outbox_rows()] == [sid]
    assert bridge.sessions.sweep() == 0


def test_the_background_worker_logs_a_failing_chore_once_and_its_recovery(
    make_bridge: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from pci_bridge.outbox import OutboxWorker

    app = make_bridge(None)
    broken = {"on": True}

    def chore() -> None:
        if broken["on"]:
            raise ConnectionError("redis is down")

    worker = OutboxWorker(app.extensions["pci_bridge"].outbox, chores=(("settling", chore),))
    with caplog.at_level(logging.INFO, logger="pci_bridge.outbox"):
        for _ in range(5):
            worker._run("settling", chore)
        broken["on"] = False
        worker._run("settling", chore)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "settling failed (ConnectionError); trying again every 5 s",
        "settling works again after 5 failed rounds",
    ]


def test_a_worker_starting_during_a_stored_card_charge_leaves_it_alone(
    tmp_path: Path, clock: Clock
) -> None:
    """Found under gunicorn: a worker booting while another was charging a stored card took
    the charge for a lost leg and called it abandoned; the card was charged all the same and
    the business was told 'abandoned'. A charge in flight is marked in the shared live state."""
    import time

    from pci_bridge.state import MemoryState

    shared = MemoryState()
    config = BridgeConfig(database_url=f"sqlite:///{tmp_path}/pci.sqlite3", gateway_latency=1.0)
    first = keyed_bridge_app(config, clock=clock, state=shared)
    try:
        view = (
            first.test_client()
            .post(
                "/pci/v1/sessions",
                json={
                    "amount": "5.00",
                    "currency": "GBP",
                    "reference": "A1",
                    "wait": 0,
                    "card_token": token(first),
                },
            )
            .get_json()
        )
        assert view["state"] == "in_progress"
        second = keyed_bridge_app(config, clock=clock, state=shared)  # recover() runs here
        ledger = first.extensions["pci_bridge"].ledger
        assert ledger.session(view["session_id"])["state"] == "in_progress"
        clock.advance(seconds=3600)
        assert second.extensions["pci_bridge"].sessions.sweep() == 0  # still charging
        deadline = time.monotonic() + 10
        while ledger.session(view["session_id"])["state"] == "in_progress":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert ledger.session(view["session_id"])["state"] == "completed"
        [row] = ledger.outbox_rows()
        assert json.loads(row["body"])["result"]["outcome"] == "success"
        second.extensions["pci_bridge"].close()
    finally:
        first.extensions["pci_bridge"].close()


def test_a_stored_card_being_charged_cannot_be_cancelled_nor_lost_with_redis(
    make_bridge: Callable[..., Flask], clock: Clock
) -> None:
    """Found in review: a cancel that won the race with the charge thread let the gateway charge
    a session the business was told was cancelled. A charge with the gateway is marked in the
    ledger too, so neither a cancel nor a Redis that lost its data can end it meanwhile."""
    import time

    app = make_bridge(None, gateway_latency=1.0)
    client = app.test_client()
    bridge = app.extensions["pci_bridge"]
    view = client.post(
        "/pci/v1/sessions",
        json={
            "amount": "5.00",
            "currency": "GBP",
            "reference": "A1",
            "wait": 0,
            "card_token": token(app),
        },
    ).get_json()
    sid = view["session_id"]
    refused = client.post(f"/pci/v1/sessions/{sid}/cancel")
    assert refused.status_code == 409 and "being charged" in refused.get_json()["error"]
    for key in bridge.state.keys():  # Redis lost its data
        bridge.state.delete(key)
    clock.advance(seconds=200)
    assert bridge.sessions.sweep() == 0  # the ledger still says it is with the gateway
    deadline = time.monotonic() + 10
    while bridge.ledger.session(sid)["state"] == "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert bridge.ledger.session(sid)["state"] == "completed"
    [row] = bridge.ledger.outbox_rows()
    assert json.loads(row["body"])["result"]["outcome"] == "success"


def test_a_cancelled_session_is_never_charged_afterwards(make_bridge: Callable[..., Flask]) -> None:
    app = make_bridge(None)
    sessions = app.extensions["pci_bridge"].sessions
    view = (
        app.test_client()
        .post("/pci/v1/sessions", json={"amount": "5.00", "currency": "GBP", "reference": "A1"})
        .get_json()
    )
    sessions.cancel(view["session_id"])
    sessions._charge_stored(view["session_id"])  # a charge thread that came too late
    gateway = app.extensions["pci_bridge"].gateway
    assert gateway.lookup(f"{view['session_id']}:1") is None  # nothing was charged
    assert sessions.ledger.session(view["session_id"])["state"] == "cancelled"


def test_demo_billing_pays_the_bill_the_reference_names(billing_app: Flask) -> None:
    """The plan gives the bridge ACCOUNT/BILL as the reference: the outcome webhook, which
    usually arrives before the plan's own post, pays the bill the caller chose."""
    client = billing_app.test_client()
    body = event(reference="A1001/B-1001-10")  # October's bill, not the oldest
    answer = client.post(
        "/demo/billing/payment-results",
        data=body,
        headers={SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"},
    )
    assert answer.get_json()["payment"]["bill_id"] == "B-1001-10"
    sam = client.get(
        "/demo/billing/accounts/A1001", headers={"Authorization": f"Bearer {BILLING_KEY}"}
    ).get_json()["account"]
    bills = {b["id"]: b["amount"] for b in sam["bills"]}
    assert bills == {"B-1001-09": "30.00", "B-1001-10": "12.50"}  # September untouched
    assert sam["total_due"] == "42.50"
