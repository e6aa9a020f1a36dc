"""What a request may carry: bodies bounded per route before they are read (webhooks a few kB,
the JSON APIs 16 kB), JSON depth bounded (400, not 500), amounts bounded, CallSids and
duration fields validated with a log line, and log redaction that leaves CallSids alone."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from foundation.redaction import redact
from foundation.request_limits import API_MAX_BYTES, WEBHOOK_MAX_BYTES
from ivr.app import create_app
from ivr.app.settings import Settings
from tests.conftest import BILLING_KEY, PCI_KEY, PLANS, ROOT

SID = "CA" + "a1" * 16
TRANSFER = "+441000000102"  # route_transfer.yaml's number
APOLOGY = "technical difficulties"


@pytest.fixture
def app(tmp_path: Path, service_keys_env: None) -> Iterator[Flask]:
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "route_transfer.yaml").write_text((PLANS / "route_transfer.yaml").read_text())
    settings = Settings(
        callplans=folder,
        demo_billing=True,
        watch_plans=False,
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        pci={"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
    )
    app = create_app(settings, private=True)
    yield app
    app.extensions["ivr"].bridge.close()
    app.extensions["ivr"].recorder.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def pci(key: str = PCI_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "limit", "headers"),
    [
        ("/voice", WEBHOOK_MAX_BYTES, {}),
        ("/voice/status", WEBHOOK_MAX_BYTES, {}),
        ("/pci/voice", WEBHOOK_MAX_BYTES, {}),
        ("/pci/v1/sessions", API_MAX_BYTES, pci()),
        ("/demo/billing/accounts/A1001/payments", API_MAX_BYTES, pci(BILLING_KEY)),
    ],
)
def test_bodies_over_the_routes_limit_are_413(
    client: FlaskClient, path: str, limit: int, headers: dict[str, str]
) -> None:
    over = client.post(
        path,
        data=b"x" * (limit + 1),
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert over.status_code == 413, path
    within = client.post(path, data={"CallSid": SID, "Pad": "x" * (limit // 2)}, headers=headers)
    assert within.status_code != 413, path


def test_a_large_unsigned_body_is_refused_over_http_before_it_is_read(app: Flask) -> None:
    """Declared 100 MB, 9 bytes sent: the 413 comes at once (nothing waits for the rest);
    a chunked body of unknown length is refused too (411), not silently cut."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as conn:
            conn.sendall(
                b"POST /voice HTTP/1.1\r\nHost: ivr\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 104857600\r\n\r\nCallSid=1"
            )
            assert conn.recv(64).startswith(b"HTTP/1.1 413")

        def chunks() -> Iterator[bytes]:
            yield b"CallSid=" + b"1" * 1024

        chunked = requests.post(
            f"http://127.0.0.1:{server.server_port}/voice",
            data=chunks(),
            timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert chunked.status_code == 411
    finally:
        server.shutdown()


# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [9, 50, 2000])
def test_nested_json_is_a_400_naming_the_body(client: FlaskClient, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    text = (
        '{"amount": "42.50", "currency": "GBP", "reference": "A1", "description": ' + nested + "}"
    )
    answer = client.post(
        "/pci/v1/sessions", data=text, headers={**pci(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.get_json() == {
        "error": "body: JSON nested more than 8 levels deep",
        "field": "body",
    }
    billing = client.post(
        "/demo/billing/accounts/A1001/verify",
        data=text,
        headers={**pci(BILLING_KEY), "Content-Type": "application/json"},
    )
    assert billing.status_code == 400
    assert "nested more than 8 levels" in billing.get_json()["error"]


@pytest.mark.parametrize(
    "amount",
    [
        "1e6000000",
        "1E3",
        "10000000.00",
        "0",
        "-5",
        "NaN",
        "Infinity",
        "1.234",
        " 5",
        "5,00",
        5.5,
        True,
        None,
    ],
)
def test_billing_amounts_are_plain_bounded_decimals(client: FlaskClient, amount: object) -> None:
    answer = client.post(
        "/demo/billing/accounts/A1001/payments",
        headers=pci(BILLING_KEY),
        json={"amount": amount, "reference": "X"},
    )
    assert answer.status_code == 400, amount
    assert answer.get_json()["field"] == "amount"


def test_a_plain_amount_is_taken(client: FlaskClient) -> None:
    answer = client.post(
        "/demo/billing/accounts/A1001/payments",
        headers=pci(BILLING_KEY),
        json={"amount": "30.00", "confirmation_code": "ZLP4RX"},
    )
    assert answer.status_code == 201, answer.get_json()


# --- Twilio fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sid",
    ["CA%00", "CA1", "CA" + "g" * 32, "", "CA" + "1" * 33, "CA" + "1" * 31 + "%", "../../etc"],
)
def test_a_call_sid_twilio_cannot_have_sent_is_refused_with_a_log_line(
    client: FlaskClient, app: Flask, caplog: pytest.LogCaptureFixture, sid: str
) -> None:
    with caplog.at_level(logging.WARNING):
        answer = client.post(
            "/voice", data={"CallSid": sid, "From": "+447700900123", "To": TRANSFER}
        )
    assert answer.status_code == 200 and "<Hangup" in answer.get_data(as_text=True)
    assert any("is not a Twilio call SID" in r.getMessage() for r in caplog.records)
    assert app.extensions["ivr"].engine.session(sid) is None
    status = client.post("/voice/status", data={"CallSid": sid, "CallStatus": "completed"})
    assert status.status_code == 400
    leg = client.post("/pci/voice", data={"CallSid": sid, "From": "+447700900123"})
    assert leg.status_code == 200 and "<Hangup" in leg.get_data(as_text=True)


def test_a_huge_dial_duration_is_taken_as_zero_not_an_apology(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    first = client.post(
        "/voice", data={"CallSid": SID, "From": "+447700900123", "To": TRANSFER}
    ).get_data(as_text=True)
    assert "For one number press 1" in first
    dialled = client.post("/voice/turn/1/keys", data={"CallSid": SID, "Digits": "1"})
    assert "<Dial" in dialled.get_data(as_text=True)
    with caplog.at_level(logging.WARNING):
        after = client.post(
            "/voice/turn/2/dial",
            data={"CallSid": SID, "DialCallStatus": "completed", "DialCallDuration": "9" * 5000},
        )
    text = after.get_data(as_text=True)
    assert after.status_code == 200 and APOLOGY not in text
    assert any(
        "DialCallDuration '99999" in r.getMessage() and "taken as 0" in r.getMessage()
        for r in caplog.records
    )


# --- redaction -------------------------------------------------------------------------------


def test_redaction_leaves_call_sids_alone_and_still_hides_card_numbers() -> None:
    sid = "CA4242424242424242" + "0" * 16  # a Luhn-valid run inside a CallSid
    assert redact(f"[{sid} plan/applet] turn 3") == f"[{sid} plan/applet] turn 3"
    assert redact("card 4242424242424242 keyed") == "card [REDACTED] keyed"
    assert redact("Digits=4242 4242 4242 4242&x=1") == "Digits=[REDACTED]&x=1"
    assert redact("4242424242424242#") == "[REDACTED]#"


def test_the_limits_are_documented() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    assert "413" in text and "16 kB" in text
