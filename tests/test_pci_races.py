"""Money safety when things overlap: a cancel during a charge, a caller who hangs up (or a
process that dies) after the gateway charged, a stored-card charge the gateway never answers."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from pci_bridge import BridgeConfig
from pci_bridge.gateway import SimulatedGateway
from tests.conftest import keyed_bridge_app

SID = "CA" + "1" * 32  # a Twilio call SID: CA and 32 hex digits
NEW = {"amount": "42.50", "currency": "GBP", "reference": "A1", "caller_clid": "+447700900123"}


def app_for(tmp_path: Path, **config: Any) -> tuple[Any, FlaskClient, Any]:
    app = keyed_bridge_app(BridgeConfig(database_url=f"sqlite:///{tmp_path}/pci.sqlite3", **config))
    return app, app.test_client(), app.extensions["pci_bridge"]


def key_in_card(client: FlaskClient, session: dict[str, Any], call_sid: str = SID) -> str:
    """Drive the leg to the confirmation prompt; returns the confirm turn's URL."""
    form = {"CallSid": call_sid, "From": session["clid"], "To": session["transfer_number"]}
    client.post("/pci/voice", data=form)
    sid = session["session_id"]
    for turn, digits in enumerate(["4242424242424242", "1230", "123"], start=1):
        client.post(f"/pci/voice/turn/{sid}/{turn}", data={**form, "Digits": digits})
    return f"/pci/voice/turn/{sid}/4"


def test_a_cancel_during_the_charge_waits_and_never_hides_a_payment(tmp_path: Path) -> None:
    app, client, bridge = app_for(tmp_path, gateway_latency=0.5)
    session = client.post("/pci/v1/sessions", json=NEW).get_json()
    confirm = key_in_card(client, session)
    form = {"CallSid": SID, "Digits": "1"}
    heard: list[str] = []
    with_gateway = threading.Event()
    charge = bridge.gateway.charge

    def charge_and_tell(**kwargs: Any) -> Any:
        with_gateway.set()
        return charge(**kwargs)

    bridge.gateway.charge = charge_and_tell  # the sessions hold this same gateway
    charging = threading.Thread(
        target=lambda: heard.append(
            app.test_client().post(confirm, data=form).get_data(as_text=True)
        )
    )
    charging.start()
    assert with_gateway.wait(5)  # the gateway is answering now
    cancel = app.test_client().post(f"/pci/v1/sessions/{session['session_id']}/cancel")
    charging.join()
    assert cancel.status_code == 409  # it waited for the charge, which completed
    final = client.get(f"/pci/v1/sessions/{session['session_id']}").get_json()
    assert final["state"] == "completed" and final["result"]["outcome"] == "success"
    assert "was successful" in heard[0]
    bridge.close()


class ChargedThenLost(SimulatedGateway):
    """Charges, then the answer is lost (as in a crash or a timeout after the charge)."""

    def charge(self, **kwargs: Any) -> Any:
        super().charge(**kwargs)
        raise TimeoutError("the answer was lost")


def test_a_lost_answer_is_asked_for_again_by_its_key(tmp_path: Path) -> None:
    app, client, bridge = app_for(tmp_path)
    bridge.gateway.__class__ = ChargedThenLost
    session = client.post("/pci/v1/sessions", json=NEW).get_json()
    confirm = key_in_card(client, session)
    said = client.post(confirm, data={"CallSid": SID, "Digits": "1"}).get_data(as_text=True)
    assert "was successful" in said  # the charge happened: the caller is told so
    final = client.get(f"/pci/v1/sessions/{session['session_id']}").get_json()
    assert final["state"] == "completed" and final["result"]["outcome"] == "success"
    bridge.close()


class NeverAnswers(SimulatedGateway):
    def charge(self, **kwargs: Any) -> Any:
        raise TimeoutError("no answer")


def test_no_answer_at_all_is_a_gateway_error_without_a_promise(tmp_path: Path) -> None:
    app, client, bridge = app_for(tmp_path)
    bridge.gateway.__class__ = NeverAnswers
    session = client.post("/pci/v1/sessions", json=NEW).get_json()
    confirm = key_in_card(client, session)
    said = client.post(confirm, data={"CallSid": SID, "Digits": "1"}).get_data(as_text=True)
    assert "could not confirm your payment" in said and "No money" not in said
    failed = client.get(f"/pci/v1/sessions/{session['session_id']}").get_json()
    assert failed["result"]["outcome"] == "gateway_error"
    assert failed["result"]["gateway"]["message"] == "the gateway did not answer"
    bridge.close()


def test_hanging_up_after_a_charge_is_never_reported_abandoned(tmp_path: Path) -> None:
    app, client, bridge = app_for(tmp_path)
    session = client.post("/pci/v1/sessions", json=NEW).get_json()
    sid = session["session_id"]
    key_in_card(client, session)
    # The gateway charged (e.g. a worker died right after), but no result was recorded.
    bridge.gateway.charge(key=f"{sid}:1", amount=Decimal("42.50"), currency="GBP", card=_card())
    client.post("/pci/voice/status", data={"CallSid": SID, "CallStatus": "completed"})
    final = client.get(f"/pci/v1/sessions/{sid}").get_json()
    assert final["state"] == "completed" and final["result"]["outcome"] == "success"
    bridge.close()


def test_a_stored_card_charge_without_an_answer_fails_and_cannot_be_cancelled(
    tmp_path: Path,
) -> None:
    app, client, bridge = app_for(tmp_path)
    token = bridge.gateway.mint_token(brand="visa", last4="4242", exp_month=12, exp_year=2030)
    bridge.gateway.__class__ = NeverAnswers
    answer = client.post("/pci/v1/sessions", json={**NEW, "card_token": token})
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["state"] == "failed" and body["result"]["outcome"] == "gateway_error"
    assert client.post(f"/pci/v1/sessions/{body['session_id']}/cancel").status_code == 409
    bridge.close()


def _card() -> Any:
    from pci_bridge.gateway import Card

    return Card(number="4242424242424242", exp_month=12, exp_year=2030, code="123", brand="visa")
