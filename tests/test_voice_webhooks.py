"""The voice webhooks answered in front of Flask (ivr/adapters/webhooks.py): a failure past the
checks is still TwiML the caller hears, the routes answer 404/405 as Flask would, every other
path reaches Flask, and turn URLs keep the mount point and the public URL."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from ivr.adapters import metrics, webhooks
from ivr.app import create_app
from ivr.app.settings import Settings
from tests.conftest import PLANS
from tests.test_twiml import assert_valid_twiml

NUMBER = "+441000000902"  # tests/plans/web_plain.yaml: a menu, fallback a hang-up
SID = "CA" + "5" * 32
TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "https://ivr.example.com/calls"


def form(**extra: str) -> dict[str, str]:
    return {"CallSid": SID, "From": "+447700900123", "To": NUMBER, "CallStatus": "ringing", **extra}


def build(tmp_path: Path, **overrides: Any) -> Flask:
    folder = tmp_path / "plans"
    folder.mkdir(exist_ok=True)
    shutil.copy(PLANS / "web_plain.yaml", folder / "web_plain.yaml")
    settings = Settings(
        callplans=folder,
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        watch_plans=False,
        **overrides,
    )
    return create_app(settings, private=True)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = build(tmp_path)
    yield app
    app.extensions["ivr"].recorder.close()


def errors(kind: str) -> float:
    return metrics.child(metrics.ERRORS, kind)._value.get()


def test_a_failure_past_the_checks_is_the_apology_not_an_application_error(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(campaign: str, case: str) -> None:
        raise RuntimeError("the campaign table is unreadable")

    monkeypatch.setattr(app.extensions["ivr"], "outbound_call", broken)
    before = errors(metrics.ENGINE_ERROR)
    with caplog.at_level(logging.ERROR, logger="ivr.web"):
        answer = app.test_client().post("/voice/outbound?campaign=c&case=1", data=form())
    assert answer.status_code == 200
    root = assert_valid_twiml(answer.get_data(as_text=True))
    assert "technical difficulties" in " ".join(e.text or "" for e in root.iter("Say"))
    assert [child.tag for child in root][-1] == "Hangup"
    assert "POST /voice/outbound failed" in caplog.text
    assert "the campaign table is unreadable" in caplog.text  # the traceback is logged
    assert errors(metrics.ENGINE_ERROR) == before + 1


def test_a_failing_status_callback_is_a_500_twilio_only_logs(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(hook: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(webhooks.HANDLERS, "voice.status", broken)
    answer = app.test_client().post("/voice/status", data=form(CallStatus="completed"))
    assert (answer.status_code, answer.data) == (500, b"")


def test_routes_answer_404_and_405_as_flask_would(app: Flask) -> None:
    client = app.test_client()
    wrong_method = client.get("/voice/status")
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["Allow"]
    paths = ("/voice/nowhere", "/voice/turn/x/keys", "/voice/turn/1/keys/more", "/voice//status")
    for path in paths:
        assert client.post(path, data=form()).status_code == 404, path


def test_every_other_path_goes_on_to_flask(app: Flask) -> None:
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 200
    assert health.get_json()["plans"] == ["web_plain"]
    assert client.post("/voicemail", data=form()).status_code == 404  # not a /voice path


def test_without_a_signature_nothing_is_routed_or_parsed(tmp_path: Path) -> None:
    """With a token set, a request without Twilio's signature is refused before its route is
    looked at: an unknown path says nothing more than a known one."""
    app = build(tmp_path, auth_token=TOKEN, public_url=PUBLIC)
    client = app.test_client()
    before = errors(metrics.SIGNATURE_REFUSED)
    for path in ("/voice", "/voice/nowhere"):
        answer = client.post(path, data=form())
        assert (answer.status_code, answer.data) == (403, b"invalid Twilio signature")
    assert client.get("/voice").status_code == 403
    # a URL that is not UTF-8 (Twilio's always is) cannot carry a good signature
    odd = client.post(
        "/voice",
        data=form(),
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        environ_overrides={"QUERY_STRING": "campaign=\xff"},
    )
    assert odd.status_code == 403
    assert errors(metrics.SIGNATURE_REFUSED) == before + 4
    app.extensions["ivr"].recorder.close()


def test_turn_urls_are_under_the_public_url_and_the_signature_is_checked_against_it(
    tmp_path: Path,
) -> None:
    app = build(tmp_path, auth_token=TOKEN, public_url=PUBLIC)
    data = form()
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/voice", data)
    answer = app.test_client().post("/voice", data=data, headers={"X-Twilio-Signature": signature})
    root = assert_valid_twiml(answer.get_data(as_text=True))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("action") == PUBLIC + "/voice/turn/1/keys"
    app.extensions["ivr"].recorder.close()


def test_mounted_under_a_path_the_turn_urls_keep_it(app: Flask) -> None:
    answer = app.test_client().post("/voice", data=form(), base_url="http://localhost/ivr/")
    root = assert_valid_twiml(answer.get_data(as_text=True))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("action") == "/ivr/voice/turn/1/keys"


def test_each_webhook_is_timed_by_its_kind(app: Flask) -> None:
    turns = metrics.child(metrics.TURNS, "incoming")
    before = sum(bucket.get() for bucket in turns._buckets)
    app.test_client().post("/voice", data=form())
    assert sum(bucket.get() for bucket in turns._buckets) == before + 1
