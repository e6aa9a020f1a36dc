"""Text messages through Twilio's Messages API (ivr/adapters/sms.py), against a loopback stand-in:
the form Twilio documents, basic auth, and failures that are logged, never raised."""

from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qsl

import pytest

from ivr.adapters.sms import SmsSender
from tests.conftest import LoopbackServer, Reply, Seen

ACCOUNT = "AC" + "f6" * 16
PATH = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


def test_a_message_is_sent_as_twilio_documents(http_server: LoopbackServer) -> None:
    seen: list[Seen] = []

    def api(request: Seen) -> Reply:
        seen.append(request)
        return 201, {"Content-Type": "application/json"}, '{"sid": "SM123"}'

    http_server.handle("POST", PATH, api)
    sender = SmsSender(ACCOUNT, "token-123", "+442071230555", http_server.url)
    assert sender.send("+447700900123", "Your payment was taken.") == "SM123"
    [request] = seen
    assert dict(parse_qsl(request.body.decode())) == {
        "To": "+447700900123",
        "From": "+442071230555",
        "Body": "Your payment was taken.",
    }
    expected = base64.b64encode(f"{ACCOUNT}:token-123".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


@pytest.mark.parametrize("status", [400, 401, 500])
def test_a_refused_message_is_logged_not_raised(
    http_server: LoopbackServer, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.route("POST", PATH, status=status, body={"message": "nope"})
    sender = SmsSender(ACCOUNT, "token-123", "+442071230555", http_server.url)
    with caplog.at_level(logging.ERROR):
        assert sender.send("+447700900123", "hi") is None
    assert f"Twilio answered {status}" in caplog.text
    assert "+447700900123" not in caplog.text  # the number is masked: +44…123
    assert "+44…123" in caplog.text


def test_an_unreachable_api_is_logged_not_raised(
    refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    sender = SmsSender(ACCOUNT, "token-123", "+442071230555", refused_url)
    with caplog.at_level(logging.ERROR):
        assert sender.send("+447700900123", "hi") is None
    assert "not sent: ConnectionError" in caplog.text
