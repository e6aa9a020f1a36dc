"""The money-moving APIs are closed over real HTTP, as an operator deploys them: `ivr serve`
and gunicorn with two workers, on a real Redis, with keys from the environment.

For every `/pci/v1` route: no key, a wrong key, a key sent with the Basic scheme, and a key that
was removed from PCI_API_KEYS (a rotation) → 401, WWW-Authenticate: Bearer, a JSON error, and
nothing created, charged or revealed (the ledger's rows and the bridge's Redis keys unchanged).
With a current key everything works as before. The same for `/demo/billing`. And the bridge
served on its own (`pci-bridge serve`): no key configured → it refuses to start; with
TWILIO_AUTH_TOKEN set, unsigned payment-leg webhooks are refused.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import sqlalchemy
import yaml
from twilio.request_validator import RequestValidator

from tests.conftest import CLI_ENVIRONMENT, ROOT, free_port

OLD_KEY = "old-pci-key-0123456789abcdef"
NEW_KEY = "new-pci-key-0123456789abcdef"
BILLING = "billing-token-0123456789abcdef"
HOOK = "webhook-secret-0123456789abcdef"
TWILIO_TOKEN = "twilio-token-for-http-tests"
SAM = "+447700900123"
START_TIMEOUT = 30.0
BIN = Path(sys.executable).parent


def environment(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in CLI_ENVIRONMENT and not k.startswith("IVR_")
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Server:
    """`ivr serve` or gunicorn (two workers) over one config, started and stopped by a test."""

    def __init__(self, kind: str, config: Path, log: Path):
        self.kind, self.config, self.log = kind, config, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if self.kind == "gunicorn":
            return [
                str(BIN / "gunicorn"),
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{self.port}",
                "ivr.app:create_app()",
            ]
        return [str(BIN / "ivr"), "serve", "--port", str(self.port), "--config", str(self.config)]

    def start(self, **env: str) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.config.parent,
                env=environment(IVR_CONFIG=str(self.config), **env),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return
            except requests.RequestException:  # not listening yet, or workers still booting
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.kind} did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
def config(tmp_path: Path, redis_url: str) -> Path:
    redis.Redis.from_url(redis_url).flushdb()
    file = tmp_path / "config.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "callplans": str(ROOT / "callplans"),
                "store": redis_url,
                "watch_plans": False,
                "database": f"sqlite:///{tmp_path}/calls.sqlite3",
                "demo_billing": True,
                "pci": {"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
            }
        ),
        encoding="utf-8",
    )
    return file


@pytest.fixture(params=["ivr-serve", "gunicorn"])
def server(request: pytest.FixtureRequest, config: Path, tmp_path: Path) -> Iterator[Server]:
    served = Server(request.param, config, tmp_path / "server.log")
    yield served
    served.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def refused(server: Server, key: str) -> dict[str, dict[str, str]]:
    return {
        "no key": {},
        "wrong key": bearer("wrong-key-0123456789abcdef"),
        "Basic scheme": {
            "Authorization": "Basic " + base64.b64encode(f"api:{key}".encode()).decode()
        },
        "removed key": bearer(OLD_KEY),
        "malformed": {"Authorization": f"Bearer{key}"},
    }


def ledger_rows(config: Path) -> dict[str, int]:
    url = yaml.safe_load(config.read_text())["pci"]["database_url"]
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sqlalchemy.inspect(conn).get_table_names()
            return {
                t: conn.execute(sqlalchemy.text(f"select count(*) from {t}")).scalar_one()
                for t in tables
            }
    finally:
        engine.dispose()


def bridge_keys(redis_url: str) -> dict[bytes, Any]:
    r = redis.Redis.from_url(redis_url)
    return {k: r.dump(k) for k in sorted(r.scan_iter("pci:*"))}


NEW_SESSION = {"amount": "42.50", "currency": "GBP", "reference": "A1001", "caller_clid": SAM}
STORED_CARD = {
    "amount": "1.00",
    "currency": "GBP",
    "reference": "A1001",
    "card_token": "tok_demo_sam_visa",
}


def test_api_keys_over_http(server: Server, redis_url: str, config: Path) -> None:
    # Both keys of a rotation work while both are listed...
    server.start(
        PCI_API_KEYS=f"{OLD_KEY},{NEW_KEY}", BILLING_TOKEN=BILLING, PCI_WEBHOOK_SECRET=HOOK
    )
    with requests.Session() as http:
        for key in (OLD_KEY, NEW_KEY):
            made = http.post(
                server.url + "/pci/v1/sessions", json=NEW_SESSION, headers=bearer(key), timeout=10
            )
            assert made.status_code == 201, made.text
            cancelled = http.post(
                f"{server.url}/pci/v1/sessions/{made.json()['session_id']}/cancel",
                headers=bearer(key),
                timeout=10,
            )
            assert cancelled.status_code == 200, cancelled.text
    server.stop()

    # ...and the old one is refused once it is removed.
    server.start(PCI_API_KEYS=NEW_KEY, BILLING_TOKEN=BILLING, PCI_WEBHOOK_SECRET=HOOK)
    with requests.Session() as http:
        live = http.post(
            server.url + "/pci/v1/sessions", json=NEW_SESSION, headers=bearer(NEW_KEY), timeout=10
        ).json()
        sid = live["session_id"]
        routes = [
            ("POST", "/pci/v1/sessions", NEW_SESSION),
            ("POST", "/pci/v1/sessions", STORED_CARD),
            ("GET", f"/pci/v1/sessions?clid=%2B{SAM[1:]}", None),
            ("GET", f"/pci/v1/sessions/{sid}", None),
            ("POST", f"/pci/v1/sessions/{sid}/cancel", None),
        ]
        rows, keys = ledger_rows(config), bridge_keys(redis_url)
        for method, path, body in routes:
            for label, headers in refused(server, NEW_KEY).items():
                answer = http.request(
                    method,
                    server.url + path,
                    json=body,
                    headers={**headers, "Idempotency-Key": f"k-{label}"},
                    timeout=10,
                )
                where = f"{server.kind}: {method} {path} with {label}"
                assert answer.status_code == 401, f"{where}: {answer.status_code} {answer.text}"
                assert answer.headers["WWW-Authenticate"].startswith("Bearer"), where
                assert answer.headers["Content-Type"] == "application/json", where
                assert set(answer.json()) == {"error"}, where
                for secret in (sid, live["clid"], live["transfer_number"], "4242", "visa"):
                    assert secret not in answer.text, f"{where}: revealed {secret}"
        assert ledger_rows(config) == rows, "a refused request wrote to the ledger"
        assert bridge_keys(redis_url) == keys, "a refused request changed the bridge's state"

        # With the current key: as before.
        got = http.get(f"{server.url}/pci/v1/sessions/{sid}", headers=bearer(NEW_KEY), timeout=10)
        assert got.status_code == 200 and got.json()["state"] == "created"
        by_clid = http.get(
            server.url + "/pci/v1/sessions",
            params={"clid": live["clid"]},
            headers=bearer(NEW_KEY),
            timeout=10,
        )
        assert by_clid.json()["session_id"] == sid
        charged = http.post(
            server.url + "/pci/v1/sessions", json=STORED_CARD, headers=bearer(NEW_KEY), timeout=10
        )
        assert charged.status_code == 201, charged.text
        assert charged.json()["result"]["outcome"] == "success"
        assert (
            http.post(
                f"{server.url}/pci/v1/sessions/{sid}/cancel", headers=bearer(NEW_KEY), timeout=10
            ).json()["state"]
            == "cancelled"
        )
        assert http.get(server.url + "/pci/v1/openapi.json", timeout=10).status_code == 200


BILLING_ROUTES = [
    ("GET", "/demo/billing/accounts?phone=%2B447700900123", None),
    ("GET", "/demo/billing/accounts/10012345", None),
    ("POST", "/demo/billing/accounts/A1001/verify", {"digits": "11"}),
    ("GET", "/demo/billing/accounts/A1001/bills/1", None),
    ("POST", "/demo/billing/accounts/A1001/payments", {"amount": "72.50", "reference": "X"}),
    ("POST", "/demo/billing/accounts/A1001/promises", {"date": "2026-12-01", "amount": "9"}),
    ("POST", "/demo/billing/accounts/A1001/plans", {"months": 2}),
    ("GET", "/demo/billing/payments/ABC123", None),
]


def test_demo_billing_token_over_http(server: Server) -> None:
    server.start(PCI_API_KEYS=NEW_KEY, BILLING_TOKEN=BILLING, PCI_WEBHOOK_SECRET=HOOK)
    with requests.Session() as http:
        for method, path, body in BILLING_ROUTES:
            for label, headers in {
                "no token": {},
                "wrong token": bearer(NEW_KEY),
                "Basic scheme": {"Authorization": f"Basic {BILLING}"},
                "not Bearer": {"Authorization": BILLING},
            }.items():
                answer = http.request(
                    method, server.url + path, json=body, headers=headers, timeout=10
                )
                where = f"{server.kind}: {method} {path} with {label}"
                assert answer.status_code == 401, f"{where}: {answer.status_code}"
                assert answer.headers["WWW-Authenticate"].startswith("Bearer"), where
                assert "Sam" not in answer.text and "tok_" not in answer.text, where
        for _ in range(4):  # whichever worker answers, Sam still owes the same
            sam = http.get(
                server.url + "/demo/billing/accounts/10012345", headers=bearer(BILLING), timeout=10
            )
            assert sam.status_code == 200
            assert sam.json()["account"]["total_due"] == "72.50"


def test_serving_with_redis_and_no_keys_refuses_to_start(server: Server) -> None:
    with pytest.raises(AssertionError, match="PCI_API_KEYS is not set") as caught:
        server.start(BILLING_TOKEN=BILLING)
    assert "Set PCI_API_KEYS in the environment" in str(caught.value)
    server.stop()
    with pytest.raises(AssertionError, match="BILLING_TOKEN is not set"):
        server.start(PCI_API_KEYS=NEW_KEY)


def test_ivr_serve_says_what_it_mounted_and_what_is_unauthenticated(tmp_path: Path) -> None:
    """The embedded default (memory store): it starts with no keys, makes its own, and says so
    (and that webhooks are unsigned) without printing a key."""
    file = tmp_path / "config.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "callplans": str(ROOT / "callplans"),
                "watch_plans": False,
                "demo_billing": True,
                "database": f"sqlite:///{tmp_path}/calls.sqlite3",
                "pci": {"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
            }
        ),
        encoding="utf-8",
    )
    served = Server("ivr-serve", file, tmp_path / "server.log")
    try:
        served.start()
        assert (
            requests.post(served.url + "/pci/v1/sessions", json=NEW_SESSION, timeout=10).status_code
            == 401
        )
    finally:
        served.stop()
    log = served.log.read_text()
    assert "demo services mounted: /demo/billing" in log
    assert "PCI_API_KEYS is not set: the PCI bridge's API accepts a random key" in log
    assert "BILLING_TOKEN is not set: the demo billing service accepts a random key" in log
    assert "TWILIO_AUTH_TOKEN is not set: the voice webhooks (/voice, /pci/voice)" in log


# --- the bridge on its own --------------------------------------------------------------------


def bridge_config(tmp_path: Path) -> Path:
    file = tmp_path / "bridge.yaml"
    file.write_text(
        yaml.safe_dump({"pci": {"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"}}),
        encoding="utf-8",
    )
    return file


def test_standalone_bridge_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(BIN / "pci-bridge"),
            "serve",
            "--port",
            str(free_port()),
            "--config",
            str(bridge_config(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=environment(),
    )
    assert done.returncode != 0
    assert "no API key: set PCI_API_KEYS" in done.stderr


def test_standalone_bridge_checks_twilio_signatures(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "bridge.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(BIN / "pci-bridge"),
                "serve",
                "--port",
                str(port),
                "--config",
                str(bridge_config(tmp_path)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment(PCI_API_KEYS=NEW_KEY, TWILIO_AUTH_TOKEN=TWILIO_TOKEN),
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if requests.get(url + "/pci/v1/openapi.json", timeout=1).ok:
                    break
            except requests.RequestException:  # not listening yet, or workers still booting
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        session = requests.post(
            url + "/pci/v1/sessions", json=NEW_SESSION, headers=bearer(NEW_KEY), timeout=10
        ).json()
        form = {
            "CallSid": "CA" + "3" * 32,
            "From": session["clid"],
            "To": session["transfer_number"],
            "CallStatus": "ringing",
        }
        for path in (
            "/pci/voice",
            "/pci/voice/status",
            f"/pci/voice/turn/{session['session_id']}/1",
        ):
            assert requests.post(url + path, data=form, timeout=10).status_code == 403, path
            forged = {
                "X-Twilio-Signature": RequestValidator("another-token").compute_signature(
                    url + path, form
                )
            }
            assert (
                requests.post(url + path, data=form, headers=forged, timeout=10).status_code == 403
            ), path
        good = {
            "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(
                url + "/pci/voice", form
            )
        }
        answer = requests.post(url + "/pci/voice", data=form, headers=good, timeout=10)
        assert answer.status_code == 200 and "card number" in answer.text
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert "TWILIO_AUTH_TOKEN is not set" not in log.read_text()
