"""The console's softphone (/console/phone) through the JSON actions its page uses: a whole
payment from the browser's side on the private simulated bridge, found on the payments page and
the dashboard as a test payment; the call's state in the shared store so any worker takes the
next step; card digits never kept or sent back; who may use it."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from ivr.app import create_app
from ivr.app.settings import Settings
from ivr.console.roles import Role
from ivr.console.users import Users
from tests.conftest import ROOT, Clock

PASSWORD = "correct horse battery"
SELF_SERVICE = "+442071230001"
SAM = "+447700900123"
CARD = "4242424242424242"
# Sam verifies with his postcode's digits, pays the total with a new card (README's journey)
BEFORE_CARD = ["11#", "1", "2"]
CARD_KEYS = [CARD + "#", "1230", "123"]
AFTER_CARD = ["1", "2"]


def build(tmp_path: Path, clock: Clock, **settings: Any) -> Flask:
    app = create_app(
        Settings(
            callplans=ROOT / "callplans",
            database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
            pci={"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
            softphone_pci_database_url=f"sqlite:///{tmp_path}/softphone-pci.sqlite3",
            demo_billing=True,
            **settings,
        ),
        clock=clock,
    )
    app.config["TESTING"] = False  # CSRF and sign-in exactly as served
    return app


@pytest.fixture
def app(tmp_path: Path, service_keys_env: None, clock: Clock) -> Iterator[Flask]:
    app = build(tmp_path, clock)
    users: Users = app.extensions["ivr_console"].users
    for role in Role:
        users.add(role.value, role.value, PASSWORD, actor="test")
    users.add("editor2", "editor", PASSWORD, actor="test")
    yield app
    app.extensions["ivr"].stop_background()


class Browser:
    """A signed-in console user, as the softphone page's script talks to the console."""

    def __init__(self, app: Flask, name: str):
        self.client: FlaskClient = app.test_client()
        page = self.client.get("/console/login").get_data(as_text=True)
        answer = self.client.post(
            "/console/login",
            data={"username": name, "password": PASSWORD, "csrf_token": _token(page)},
        )
        assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
        page = self.client.get("/console/account").get_data(as_text=True)
        self.csrf = _token(page)
        self.answers: list[dict[str, Any]] = []

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        answer = self.client.post(path, json=body or {}, headers={"X-CSRFToken": self.csrf})
        found = answer.get_json(silent=True)
        if answer.status_code == 200:
            self.answers.append(found)
        return answer.status_code, found if isinstance(found, dict) else {}

    def ring(self, to: str = SELF_SERVICE, caller: str = SAM) -> dict[str, Any]:
        status, step = self.post("/console/phone/calls", {"to": to, "from": caller})
        assert status == 200, step
        return step

    def key(self, step: dict[str, Any], keys: str) -> dict[str, Any]:
        assert step["waiting"], step
        status, after = self.post(
            f"/console/phone/calls/{step['call']}/keys",
            {"keys": keys, "answered": step["waiting"]["answered"]},
        )
        assert status == 200, after
        return after

    def heard(self) -> str:
        return " ".join(
            e["text"] for step in self.answers for e in step["events"] if e["kind"] == "say"
        )


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:300]
    return found.group(1)


def pay(browser: Browser, keys: list[str] | None = None) -> dict[str, Any]:
    step = browser.ring()
    for entry in keys or [*BEFORE_CARD, *CARD_KEYS, *AFTER_CARD]:
        step = browser.key(step, entry)
        if step["ended"]:
            break
    return step


def confirmation_code(heard: str) -> str:
    found = re.search(r"confirmation code is ((?:\d\d ?){4})", heard)
    assert found, heard
    return found.group(1).replace(" ", "")


def test_a_payment_from_the_softphone_is_a_test_payment_found_by_its_code(
    app: Flask, clock: Clock
) -> None:
    editor = Browser(app, "editor")
    page = editor.client.get("/console/phone").get_data(as_text=True)
    assert 'value="+442071230001"' in page and "self_service_payment" in page  # numbers offered
    last = pay(editor)
    assert last["ended"], last
    heard = editor.heard()
    assert "card number" in heard and "Thank you" in heard, heard
    code = confirmation_code(heard)

    # the payments page finds it by its code, as a test payment, with status and last four
    payments = Browser(app, "payments")
    found = payments.client.get(f"/console/payments?q={code}").get_data(as_text=True)
    assert code in found and "test" in found and "4242" in found and "success" in found, found
    assert CARD not in found
    listed = payments.client.get("/console/payments?source=test").get_data(as_text=True)
    assert code in listed
    live = payments.client.get("/console/payments").get_data(as_text=True)
    assert code not in live  # the live bridge never saw it
    session_id = re.search(r'href="/console/payments/(ps_[^"?]+)', found)
    assert session_id, found
    detail = payments.client.get(f"/console/payments/{session_id.group(1)}")
    assert detail.status_code == 200 and "4242" in detail.get_data(as_text=True)

    # its call is recorded as a test call: on the test dashboard, not the live one
    record = app.extensions["ivr"].recorder.find(last["call"])
    assert record is not None and record.test and record.outcome == "PaymentTaken", record
    day = clock().date().isoformat()
    live_board = payments.client.get(f"/console/?from={day}&to={day}").get_data(as_text=True)
    assert re.search(r'id="calls-total">0<', live_board), live_board
    assert "1 test call" in live_board
    test_board = payments.client.get(f"/console/?calls=test&from={day}&to={day}")
    board = test_board.get_data(as_text=True)
    assert re.search(r'id="calls-total">1<', board), board
    assert re.search(r'id="payments-taken">1<', board), board
    calls = payments.client.get("/console/calls").get_data(as_text=True)
    assert last["call"] in calls and "test call" in calls


def test_card_digits_are_never_sent_back_kept_or_recorded(app: Flask, tmp_path: Path) -> None:
    editor = Browser(app, "editor")
    last = pay(editor)
    assert last["ended"]
    answers = json.dumps(editor.answers)
    assert CARD not in answers and CARD[-4:] + "#" not in answers
    keyed = [
        e["text"]
        for step in editor.answers
        for e in step["events"]
        if e["kind"] == "keys" and e["leg"] > 0
    ]  # on the payment line: how many keys, never which
    assert keyed == ["17 keys", "4 keys", "3 keys", "1 key"], keyed
    record = app.extensions["ivr"].recorder.find(last["call"])
    assert CARD not in repr(record)
    for database in ("calls.sqlite3", "softphone-pci.sqlite3"):
        assert CARD.encode() not in (tmp_path / database).read_bytes()


def test_a_step_can_be_taken_by_another_worker_sharing_the_store(
    tmp_path: Path,
    service_keys_env: None,
    clock: Clock,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two serving processes on one Redis (as gunicorn's workers): each request may land on
    either; the call goes on, the payment leg too, and nothing of the card is left in Redis."""
    monkeypatch.setenv("PCI_WEBHOOK_SECRET", "w" * 32)
    monkeypatch.setenv("IVR_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("PCI_DATA_KEY", base64.b64encode(b"k" * 32).decode())
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    first = build(tmp_path, clock, store_url=redis_url)
    second = build(tmp_path, clock, store_url=redis_url)
    try:
        first.extensions["ivr_console"].users.add("ed", "editor", PASSWORD, actor="test")
        browsers = [Browser(first, "ed"), Browser(second, "ed")]
        step = browsers[0].ring()
        keys = [*BEFORE_CARD, *CARD_KEYS, *AFTER_CARD]
        for n, entry in enumerate(keys):
            step = browsers[(n + 1) % 2].key(step, entry)
            if n == len(BEFORE_CARD) + 1:  # mid-card: the private bridge's state is namespaced
                names = [k.decode() for k in client.scan_iter("*pci:*")]
                assert names and all(k.startswith("softphone:pci:") for k in names), names
        assert step["ended"], step
        heard = " ".join(b.heard() for b in browsers)
        confirmation_code(heard)
        dump = [
            (key, client.dump(key)) for key in client.scan_iter("*")
        ]  # every key and value left in Redis
        assert CARD.encode() not in repr(dump).encode(), dump
    finally:
        for app in (first, second):
            app.extensions["ivr"].stop_background()
        client.close()


def test_a_repeated_request_is_refused_and_changes_nothing(app: Flask) -> None:
    editor = Browser(app, "editor")
    step = editor.ring()
    after = editor.key(step, "11#")
    status, body = editor.post(
        f"/console/phone/calls/{step['call']}/keys",
        {"keys": "11#", "answered": step["waiting"]["answered"]},
    )
    assert status == 409 and "answered already" in body["error"], body
    again = editor.key(after, "1")  # the call goes on from where it was
    assert not again["ended"]


def test_only_editors_and_admins_use_the_softphone_and_only_their_own_calls(app: Flask) -> None:
    for role in (Role.VIEWER, Role.PAYMENTS):
        viewer = Browser(app, role.value)
        assert viewer.client.get("/console/phone").status_code == 403
        status, _ = viewer.post("/console/phone/calls", {"to": SELF_SERVICE, "from": SAM})
        assert status == 403
    editor, other = Browser(app, "editor"), Browser(app, "editor2")
    step = editor.ring()
    status, body = other.post(
        f"/console/phone/calls/{step['call']}/keys",
        {"keys": "11#", "answered": step["waiting"]["answered"]},
    )
    assert status == 404 and "ended" in body["error"], body
    status, _ = other.post(f"/console/phone/calls/{step['call']}/hangup")
    assert status == 404
    assert editor.key(step, "11#")["waiting"] is not None  # still the editor's call
    admin = Browser(app, "admin")
    assert admin.client.get("/console/phone").status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"to": "not a number", "from": SAM}, "not a number to call"),
        ({"to": SELF_SERVICE, "from": "x" * 10}, "not a caller ID"),
        ({"to": SELF_SERVICE * 10, "from": SAM}, "at most 64 characters"),
        ({"to": 44, "from": SAM}, "should be text"),
    ],
)
def test_bad_input_gets_a_clear_error(app: Flask, body: dict[str, Any], says: str) -> None:
    status, answer = Browser(app, "editor").post("/console/phone/calls", body)
    assert status == 400 and says in answer["error"], answer


def test_bad_keys_and_unknown_calls_get_clear_errors(app: Flask) -> None:
    editor = Browser(app, "editor")
    step = editor.ring()
    call = step["call"]
    answered = step["waiting"]["answered"]
    status, body = editor.post(f"/console/phone/calls/{call}/keys", {"keys": "12a", "answered": 0})
    assert status == 400 and "0-9, * and #" in body["error"]
    status, body = editor.post(f"/console/phone/calls/{call}/keys", {"keys": "1"})
    assert status == 400 and "answered" in body["error"]
    status, body = editor.post("/console/phone/calls/CA123/keys", {"keys": "1", "answered": 0})
    assert status == 404
    hung = editor.post(f"/console/phone/calls/{call}/hangup")[1]
    assert hung["ended"] and hung["ended_by"] == "caller"
    status, body = editor.post(
        f"/console/phone/calls/{call}/keys", {"keys": "1", "answered": answered}
    )
    assert status == 404  # ended calls are gone


def test_hanging_up_records_an_abandoned_test_call(app: Flask) -> None:
    editor = Browser(app, "editor")
    step = editor.ring()
    step = editor.key(step, "11#")
    status, hung = editor.post(f"/console/phone/calls/{step['call']}/hangup")
    assert status == 200 and hung["ended"]
    record = app.extensions["ivr"].recorder.find(step["call"])
    assert record is not None and record.test and record.outcome == "Abandoned", record
