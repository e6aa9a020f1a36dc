"""The PCI bridge across a restart: results outlive the process, nothing is charged twice.

A bridge (SQLite ledger file, live state in memory) takes one payment, has a second session
stopped mid-entry (the caller's status callback never reaches it) and a third never used. Then
it "restarts": a new app on the same file with a fresh MemoryState, so the live state is lost as
in a process restart. The completed payment still reads completed with the same confirmation
code, the unfinished one reads abandoned, the unused one expires when its time passes, the
gateway holds exactly one charge, and replaying the old webhooks charges nothing more.

Also with a real `pci-bridge serve` process killed with SIGKILL mid-session and started again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
import sqlalchemy
import yaml
from flask import Flask

from ivr.phone.transport import FlaskTransport, HttpTransport
from ivr.phone.twilio import CallResult, KeySource, SimClock, TwilioSimulator
from pci_bridge import BridgeConfig
from pci_bridge.state import MemoryState
from tests.conftest import PCI_KEY, Clock, free_port, keyed_bridge_app

START = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
SESSION_TTL = 900
CARD = ["4242424242424242#", "0831", "737", "1"]
STATUS = "/pci/voice/status"


class Wire:
    """The simulator's webhooks to an app, recorded; status callbacks can be held back (the
    process died before the caller hung up: the callback never reached it)."""

    def __init__(self, app: Flask, *, deliver_status: bool = True):
        self.inner = FlaskTransport(app)
        self.base = self.inner.base
        self.deliver_status = deliver_status
        self.posts: list[tuple[str, dict[str, str]]] = []

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        self.posts.append((url, dict(params)))
        if not self.deliver_status and url.endswith(STATUS):
            return 204, ""
        return self.inner.post(url, params, headers)


def bridge_app(db_url: str, clock: Clock) -> Flask:
    """The bridge as `pci-bridge serve` builds it: a new process has an empty MemoryState."""
    config = BridgeConfig(database_url=db_url, session_ttl=SESSION_TTL)
    return keyed_bridge_app(config, clock=clock, state=MemoryState())


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    """Apps made by a test; their ledgers are closed at the end (a stopped process)."""
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions["pci_bridge"].close()


def create(app: Flask, caller: str) -> dict[str, Any]:
    response = app.test_client().post(
        "/pci/v1/sessions",
        json={"amount": "42.50", "currency": "GBP", "reference": "ACC-0001", "caller_clid": caller},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def read(app: Flask, session_id: str) -> dict[str, Any]:
    response = app.test_client().get(f"/pci/v1/sessions/{session_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def dial(
    app: Flask, session: dict[str, Any], keys: list[str], *, deliver_status: bool = True
) -> tuple[CallResult, Wire]:
    """The engine's transfer: a call to the transfer number presenting the session's CLID."""
    wire = Wire(app, deliver_status=deliver_status)
    simulator = TwilioSimulator(
        wire, voice_url="/pci/voice", status_url=STATUS, clock=SimClock(START)
    )
    result = simulator.call(session["transfer_number"], session["clid"], KeySource(keys))
    return result, wire


def charges(db_url: str) -> list[tuple[str, str]]:
    db = sqlalchemy.create_engine(db_url)
    try:
        with db.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    sqlalchemy.text("SELECT idempotency_key, result FROM pci_gateway_charges")
                )
            ]
    finally:
        db.dispose()


def spoken_code(result: CallResult) -> str:
    """The confirmation code the caller heard ("... Your confirmation code is 12 34 56 78.")."""
    for text in result.heard():
        match = re.search(r"confirmation code is ((?:[0-9]{2} )*[0-9]{2})\.", text)
        if match:
            return match.group(1).replace(" ", "")
    raise AssertionError(f"no confirmation code heard: {result.heard()}")


def gather_action(twiml: str) -> str:
    gather = ElementTree.fromstring(twiml).find("Gather")
    assert gather is not None, twiml
    return gather.get("action") or ""


# --- in process ------------------------------------------------------------------------------


def test_results_survive_a_restart_and_nothing_is_charged_twice(
    tmp_path: Path, apps: list[Flask]
) -> None:
    db_url = f"sqlite:///{tmp_path}/ledger.sqlite3"
    clock = Clock(START)
    old = bridge_app(db_url, clock)
    apps.append(old)

    paid = create(old, "+447700900001")
    result, paid_wire = dial(old, paid, CARD)
    assert result.ended_by == "twiml" and not [e for e in result.events if e.kind == "error"]
    before = read(old, paid["session_id"])
    assert before["state"] == "completed"
    assert before["result"]["confirmation_code"] == spoken_code(result)

    unfinished = create(old, "+447700900002")
    result, unfinished_wire = dial(old, unfinished, ["4242424242424242#"], deliver_status=False)
    assert result.ended_by == "caller"  # gone at the expiry prompt; the callback never came
    assert any("expiry" in text for text in result.heard())
    assert read(old, unfinished["session_id"])["state"] == "in_progress"

    unused = create(old, "+447700900003")
    assert len(charges(db_url)) == 1

    # The restart: the same ledger file, an empty live state.
    old.extensions["pci_bridge"].close()
    apps.remove(old)
    new = bridge_app(db_url, clock)
    apps.append(new)

    after = read(new, paid["session_id"])
    assert after == before  # same state, same result, same confirmation code
    assert after["result"]["outcome"] == "success"

    gone = read(new, unfinished["session_id"])
    assert gone["state"] == "abandoned", gone
    assert gone["result"]["outcome"] == "abandoned"
    assert gone["result"]["confirmation_code"] is None

    assert read(new, unused["session_id"])["state"] == "created"  # its time has not passed
    clock.advance(seconds=SESSION_TTL + 1)
    assert read(new, unused["session_id"])["state"] == "expired"

    assert len(charges(db_url)) == 1

    # The old confirm webhook, delivered again to the new process, charges nothing.
    confirm_url, confirm_form = paid_wire.posts[-2]  # the last turn; then the status callback
    assert "/pci/voice/turn/" in confirm_url and confirm_form["Digits"] == "1"
    assert paid_wire.posts[-1][0].endswith(STATUS)
    transport = FlaskTransport(new)
    status, body = transport.post(confirm_url, confirm_form, {})
    assert status == 200 and ElementTree.fromstring(body).tag == "Response"
    assert "confirmation code" not in body
    # So does every other webhook of both calls, and the held-back status callback.
    for url, form in paid_wire.posts + unfinished_wire.posts:
        status, _ = transport.post(url, form, {})
        assert status in (200, 204), (url, status)
    assert len(charges(db_url)) == 1
    assert read(new, paid["session_id"]) == before
    assert read(new, unfinished["session_id"]) == gone


def test_a_live_session_keeps_its_clid_across_a_restart(tmp_path: Path, apps: list[Flask]) -> None:
    """Two live sessions never share a presented CLID, restart or not: a session created before
    the restart and not yet used still owns its CLID afterwards."""
    db_url = f"sqlite:///{tmp_path}/ledger.sqlite3"
    clock = Clock(START)
    old = bridge_app(db_url, clock)
    apps.append(old)
    waiting = create(old, "+447700900004")
    assert waiting["clid"] == "+447700900004"  # the caller's own: present and free

    old.extensions["pci_bridge"].close()
    apps.remove(old)
    new = bridge_app(db_url, clock)
    apps.append(new)
    assert read(new, waiting["session_id"])["state"] == "created"

    second = create(new, "+447700900004")  # the same number calls again while it is live
    assert second["clid"] != waiting["clid"], (
        "after a restart a new session was handed the CLID of a live session"
    )


def test_a_live_session_can_still_be_paid_after_a_restart(
    tmp_path: Path, apps: list[Flask]
) -> None:
    """The engine transfers the caller after the bridge restarted: the leg presented with the
    session's CLID finds it (it is live until expires_at) and takes the payment."""
    db_url = f"sqlite:///{tmp_path}/ledger.sqlite3"
    clock = Clock(START)
    old = bridge_app(db_url, clock)
    apps.append(old)
    waiting = create(old, "+447700900005")

    old.extensions["pci_bridge"].close()
    apps.remove(old)
    new = bridge_app(db_url, clock)
    apps.append(new)
    result, _ = dial(new, waiting, CARD)
    assert read(new, waiting["session_id"])["state"] == "completed", result.heard()
    assert len(charges(db_url)) == 1


class ProcessKilled(BaseException):
    """The process dies here: nothing in it catches this (as nothing runs after SIGKILL)."""


class DiesAfterCharging:
    """The gateway answers, then the process dies before the ledger records the answer."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name

    def charge(self, **kwargs: Any) -> Any:
        self.inner.charge(**kwargs)
        raise ProcessKilled()


def test_a_charge_taken_just_before_a_crash_is_not_reported_abandoned(
    tmp_path: Path, apps: list[Flask]
) -> None:
    """The gateway charged the card, then the process died before recording it. After the
    restart the session must not read abandoned (the plan would tell the caller no payment was
    taken and pass them to an agent who takes it again): the gateway's answer for the session's
    idempotency key is the truth."""
    db_url = f"sqlite:///{tmp_path}/ledger.sqlite3"
    clock = Clock(START)
    old = bridge_app(db_url, clock)
    apps.append(old)
    bridge = old.extensions["pci_bridge"]
    bridge.sessions.gateway = DiesAfterCharging(bridge.gateway)
    session = create(old, "+447700900006")
    with pytest.raises(ProcessKilled):
        dial(old, session, CARD, deliver_status=False)
    assert len(charges(db_url)) == 1
    assert read(old, session["session_id"])["state"] == "in_progress"

    bridge.close()
    apps.remove(old)
    new = bridge_app(db_url, clock)
    apps.append(new)
    view = read(new, session["session_id"])
    assert len(charges(db_url)) == 1
    assert (view["state"], (view["result"] or {}).get("outcome")) == ("completed", "success"), (
        f"the card was charged ({charges(db_url)[0][1]}) but the session reads {view}"
    )


# --- a real process killed with SIGKILL ------------------------------------------------------


class Server:
    """`pci-bridge serve` on a loopback port, with its output in a file."""

    def __init__(self, config: Path, port: int, log: Path):
        self.config, self.port, self.log = config, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = Path(sys.executable).parent / "pci-bridge"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(binary), "serve", "--port", str(self.port), "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PCI_API_KEYS": PCI_KEY},
            )
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(self.url + "/pci/v1/openapi.json", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pci-bridge serve did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None


def test_a_killed_bridge_process_keeps_its_results(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/ledger.sqlite3"
    config = tmp_path / "bridge.yaml"
    ttl = 3  # seconds: the unused session expires soon after the restart
    config.write_text(
        yaml.safe_dump({"pci": {"database_url": db_url, "session_ttl": ttl}}), encoding="utf-8"
    )
    server = Server(config, free_port(), tmp_path / "bridge.log")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {PCI_KEY}"
    transport = HttpTransport("http://127.0.0.1")  # its base is replaced below
    try:
        server.start()
        transport = HttpTransport(server.url)

        def new_session(caller: str) -> dict[str, Any]:
            response = http.post(
                server.url + "/pci/v1/sessions",
                json={
                    "amount": "42.50",
                    "currency": "GBP",
                    "reference": "ACC-0001",
                    "caller_clid": caller,
                },
                timeout=5,
            )
            assert response.status_code == 201, response.text
            return response.json()

        def get(session_id: str) -> dict[str, Any]:
            response = http.get(f"{server.url}/pci/v1/sessions/{session_id}", timeout=5)
            assert response.status_code == 200, response.text
            return response.json()

        paid = new_session("+447700900011")
        simulator = TwilioSimulator(transport, voice_url="/pci/voice", status_url=STATUS)
        result = simulator.call(paid["transfer_number"], paid["clid"], KeySource(list(CARD)))
        before = get(paid["session_id"])
        assert before["state"] == "completed"
        assert before["result"]["confirmation_code"] == spoken_code(result)

        # The second caller keys the card number, and the process is killed at the expiry.
        unfinished = new_session("+447700900012")
        form = {
            "CallSid": "CA" + "2" * 32,
            "AccountSid": "AC" + "0" * 32,
            "From": unfinished["clid"],
            "To": unfinished["transfer_number"],
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        answer = http.post(server.url + "/pci/voice", data=form, timeout=5).text
        action = gather_action(answer)
        answer = http.post(
            server.url + action,
            data={**form, "CallStatus": "in-progress", "Digits": "4242424242424242"},
            timeout=5,
        ).text
        assert "expiry" in answer
        expiry_turn = gather_action(answer)
        unused = new_session("+447700900013")

        server.kill(signal.SIGKILL)
        assert len(charges(db_url)) == 1
        server.start()

        assert get(paid["session_id"]) == before
        gone = get(unfinished["session_id"])
        assert gone["state"] == "abandoned" and gone["result"]["outcome"] == "abandoned", gone

        # Twilio goes on with the killed process's call: the next turn, then the status.
        answer = http.post(
            server.url + expiry_turn,
            data={**form, "CallStatus": "in-progress", "Digits": "0831"},
            timeout=5,
        ).text
        assert ElementTree.fromstring(answer).tag == "Response"
        status = http.post(server.url + STATUS, data={**form, "CallStatus": "completed"}, timeout=5)
        assert status.status_code == 204
        assert get(unfinished["session_id"]) == gone

        expires = datetime.fromisoformat(unused["expires_at"])
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
        assert get(unused["session_id"])["state"] == "expired"
        assert len(charges(db_url)) == 1
    finally:
        server.kill(signal.SIGTERM)
        http.close()
        transport.session.close()
    # Its log (access lines included) has the turns' URLs but no card data.
    output = server.log.read_text(encoding="utf-8", errors="replace")
    assert "PCI bridge on" in output and "POST /pci/voice/turn/" in output
    assert "4242424242424242" not in output
    # Timestamps ("03:15:16,737", "[22/Nov/2026 03:15:20]") and port numbers are digits that
    # are not card data: take them out before looking for short values as whole tokens.
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", "<time>", output)
    text = re.sub(r"\[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\]", "<time>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "<host>", text)
    for value in ("0831", "737"):  # whole tokens: a hex session id may hold these digits
        assert not re.search(rf"(?<![0-9A-Za-z]){value}(?![0-9A-Za-z])", text), output
