"""Every route has a decided protection (deny by default): the test walks the URL map of the
fully mounted app (engine, PCI bridge, demo billing) and the bridge's own app, and for each
rule and method checks what it does without credentials, with wrong ones, and with the right
ones. A route that is not in PROTECTION fails: add it with its decision.

Also the bearer-key helpers (foundation/bearer.py) and the key decisions (ivr/app/service_keys.py).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.routing import Rule

from foundation.bearer import KeyProblem, key_matches, parse_keys, presented_key
from foundation.signing import sign
from ivr.app import create_app
from ivr.app.service_keys import service_keys
from ivr.app.settings import Settings, SettingsError
from pci_bridge import BridgeConfig, create_bridge_app
from tests.conftest import BILLING_KEY, COLLECTIONS_KEY, PCI_KEY, ROOT

TWILIO_TOKEN = "twilio-auth-token-for-route-tests"
PUBLIC_URL = "https://ivr.example.com"

TWILIO = "Twilio signature"
PCI = "bearer key: PCI_API_KEYS"
BILLING = "bearer key: BILLING_TOKEN"
COLLECTIONS = "bearer key: COLLECTIONS_API_KEY"
PUBLIC = "public by design"
RESULT_SIGNATURE = "X-PCI-Signature (PCI_WEBHOOK_SECRET)"
CONSOLE = "console session with a role (tests/test_console.py checks each role)"
SIGN_IN = "public by design: the console's sign-in form (CSRF-checked)"
CONSOLE_FILE = "public by design: the console's style sheet and scripts (no data)"
WEBHOOK_SECRET = "webhook-secret-for-route-tests"

# endpoint → protection. A new route fails the inventory until it is decided here.
PROTECTION = {
    "voice.incoming": TWILIO,
    "voice.outbound": TWILIO,  # a call placed for a collections case
    "voice.keys": TWILIO,
    "voice.dial": TWILIO,
    "voice.queue": TWILIO,
    "voice.orphan": TWILIO,
    "voice.status": TWILIO,
    "pci_voice.incoming": TWILIO,
    "pci_voice.turn": TWILIO,
    "pci_voice.status": TWILIO,
    "pci_api.create_session": PCI,
    "pci_api.session_by_clid": PCI,
    "pci_api.get_session": PCI,
    "pci_api.cancel_session": PCI,
    "pci_api.list_payments": PCI,
    "pci_api.find_payment": PCI,
    "pci_api.openapi": PUBLIC,  # the API's description: no data
    "demo_billing.find_by_phone": BILLING,
    "demo_billing.find_by_number": BILLING,
    "demo_billing.verify": BILLING,
    "demo_billing.bill": BILLING,
    "demo_billing.pay": BILLING,
    "demo_billing.promise": BILLING,
    "demo_billing.plan": BILLING,
    "collections_api.create_plan": COLLECTIONS,
    "collections_api.start_plan": COLLECTIONS,
    "collections_api.show_plan": COLLECTIONS,
    "collections_api.inbound_call": COLLECTIONS,
    "collections_sms.status": TWILIO,  # a text notice's delivery report
    "demo_billing.flag": BILLING,
    "demo_billing.unflag": BILLING,
    "demo_billing.payment_status": BILLING,
    "demo_billing.payment_result": RESULT_SIGNATURE,  # the bridge's payment-result webhook
    "console.login": SIGN_IN,
    "console.logout": CONSOLE,  # signs out whoever holds the session
    "console.static": CONSOLE_FILE,
    "console.account": CONSOLE,
    "console.dashboard": CONSOLE,
    "console.plans": CONSOLE,
    "console.plan": CONSOLE,
    "console.plan_graph": CONSOLE,
    "console.check_plan": CONSOLE,
    "console.publish_plan": CONSOLE,
    "console.rollback_plan": CONSOLE,
    "console.calls": CONSOLE,
    "console.call": CONSOLE,
    "console.payments": CONSOLE,
    "console.payment": CONSOLE,
    "console.phone": CONSOLE,
    "console.phone_ring": CONSOLE,
    "console.phone_keys": CONSOLE,
    "console.phone_hang_up": CONSOLE,
    "console.users_page": CONSOLE,
    "console.add_user": CONSOLE,
    "console.set_role": CONSOLE,
    "console.remove_user": CONSOLE,
    "console.audit": CONSOLE,
    "health": PUBLIC,  # a load balancer's probe: says nothing about calls or money
    "ready": PUBLIC,  # the readiness probe: names failing dependencies, never a secret
    # Prometheus text: public by design without IVR_METRICS_TOKEN (labels are bounded: no
    # CallSid, number, amount or reference); with it, a bearer key (tests/test_metrics.py)
    "metrics_page": PUBLIC,
}

WRONG = {
    "missing": {},
    "wrong key": {"Authorization": "Bearer not-a-key-of-this-server-000"},
    "Basic scheme": {
        "Authorization": "Basic " + base64.b64encode(f"user:{PCI_KEY}".encode()).decode()
    },
    "key of the other service": {"Authorization": f"Bearer {BILLING_KEY}"},
    "bearer with no key": {"Authorization": "Bearer "},
}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_keys_env: None) -> Iterator[Flask]:
    monkeypatch.setenv("PCI_WEBHOOK_SECRET", WEBHOOK_SECRET)
    settings = Settings(
        callplans=ROOT / "callplans",
        demo_billing=True,
        auth_token=TWILIO_TOKEN,
        public_url=PUBLIC_URL,
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        pci={"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
        collections={"interval": 3600},  # the collections API mounted
    )
    app = create_app(settings)
    yield app
    app.extensions["ivr"].stop_background()
    app.extensions["ivr"].bridge.close()


def sample_path(rule: Rule) -> str:
    """A concrete path for `rule`: each variable replaced by a plausible value."""

    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "", match.group(2)
        return "1" if converter.startswith("int") else f"x{name}"

    return re.sub(r"<(?:(\w+):)?(\w+)>", value, rule.rule)


def rules_of(app: Flask) -> list[Rule]:
    """Every route the app answers: Flask's, and the voice webhooks answered in front of it."""
    webhooks = app.extensions.get("ivr_webhooks")
    return [*app.url_map.iter_rules(), *(webhooks.rules() if webhooks else [])]


def requests_for(app: Flask) -> list[tuple[str, str, str]]:
    out = []
    for rule in rules_of(app):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, sample_path(rule)))
    return out


def signed(path: str, form: dict[str, str]) -> dict[str, str]:
    return {
        "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(
            PUBLIC_URL + path, form
        )
    }


def test_every_route_has_a_decided_protection(app: Flask) -> None:
    undecided = sorted({endpoint for endpoint, _, _ in requests_for(app)} - set(PROTECTION))
    assert not undecided, (
        f"routes without a protection decision: {undecided}; add each to "
        f"PROTECTION in {Path(__file__).name} (and protect it)"
    )
    assert not any(rule.endpoint == "static" for rule in rules_of(app))


def test_every_route_refuses_what_its_protection_refuses(app: Flask) -> None:
    client = app.test_client()
    form = {
        "CallSid": "CA" + "1" * 32,
        "From": "+447700900123",
        "To": "+442071230001",
        "CallStatus": "ringing",
        "MessageSid": "SM" + "1" * 32,  # a text's delivery report
        "MessageStatus": "delivered",
    }
    checked = set()
    for endpoint, method, path in requests_for(app):
        kind = PROTECTION[endpoint]
        where = f"{method} {path} ({endpoint}, {kind})"
        if kind == TWILIO:
            unsigned = client.open(path, method=method, data=form)
            assert unsigned.status_code == 403, where
            forged = client.open(
                path,
                method=method,
                data=form,
                headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
            )
            assert forged.status_code == 403, where
            good = client.open(path, method=method, data=form, headers=signed(path, form))
            assert good.status_code in (200, 204), f"{where}: {good.status_code}"
        elif kind in (PCI, BILLING, COLLECTIONS):
            for label, headers in WRONG.items():
                if label == "key of the other service" and kind != PCI:
                    headers = {"Authorization": f"Bearer {PCI_KEY}"}
                answer = client.open(path, method=method, json={}, headers=headers)
                assert answer.status_code == 401, f"{where}, {label}: {answer.status_code}"
                assert answer.headers["WWW-Authenticate"].startswith("Bearer"), where
                assert set(answer.get_json()) == {"error"}, where
            key = {PCI: PCI_KEY, BILLING: BILLING_KEY, COLLECTIONS: COLLECTIONS_KEY}[kind]
            good = client.open(
                path, method=method, json={}, headers={"Authorization": f"Bearer {key}"}
            )
            assert good.status_code not in (401, 403), f"{where}: {good.status_code}"
        elif kind == RESULT_SIGNATURE:
            body = json.dumps({"event": "payment.ended", "result": None}).encode()
            for headers in (
                {},
                {"Authorization": f"Bearer {BILLING_KEY}"},
                {"X-PCI-Signature": sign("not-the-secret", body)},
            ):
                answer = client.open(
                    path,
                    method=method,
                    data=body,
                    headers={**headers, "Content-Type": "application/json"},
                )
                assert answer.status_code == 401, where
            good = client.open(
                path,
                method=method,
                data=body,
                headers={
                    "X-PCI-Signature": sign(WEBHOOK_SECRET, body),
                    "Content-Type": "application/json",
                },
            )
            assert good.status_code == 200, f"{where}: {good.status_code}"
        elif kind == CONSOLE:
            answer = client.open(path, method=method, data={"x": "1"})
            if method == "GET":  # a page: the sign-in form, then back here
                assert answer.status_code == 302, f"{where}: {answer.status_code}"
                assert answer.headers["Location"].startswith("/console/login?next="), where
            else:  # an action: refused before its body is read
                assert answer.status_code == 401, f"{where}: {answer.status_code}"
        elif kind == SIGN_IN:
            answer = client.open(path, method=method, data={"username": "a", "password": "b"})
            assert answer.status_code == (200 if method == "GET" else 400), where
        elif kind == CONSOLE_FILE:
            with client.open("/console/static/console.css") as answer:
                assert answer.status_code == 200, where
        else:
            answer = client.open(path, method=method)
            assert answer.status_code == 200, f"{where}: {answer.status_code}"
        checked.add(endpoint)
    assert checked == set(PROTECTION)


@pytest.mark.parametrize(
    "path",
    [
        "/pci/v1",
        "/pci/v1/",
        "/pci/v1/nothing-here",
        "/pci/v1/sessions/x/refund",
        "/pci/v1//sessions",
    ],
)
def test_unknown_paths_under_the_api_are_401_not_404(app: Flask, path: str) -> None:
    """No route enumeration without a key; with one, the usual JSON 404."""
    client = app.test_client()
    assert client.get(path).status_code == 401
    answer = client.get(path, headers={"Authorization": f"Bearer {PCI_KEY}"})
    assert answer.status_code in (404, 405, 308) and answer.status_code != 401


def test_the_bridge_alone_guards_the_same_routes(tmp_path: Path) -> None:
    app = create_bridge_app(
        BridgeConfig(
            database_url=f"sqlite:///{tmp_path}/pci.sqlite3",
            api_keys=(PCI_KEY,),
            auth_token=TWILIO_TOKEN,
        )
    )
    try:
        client = app.test_client()
        endpoints = {endpoint for endpoint, _, _ in requests_for(app)}
        assert endpoints <= set(PROTECTION)
        for endpoint, method, path in requests_for(app):
            answer = client.open(path, method=method, json={})
            expected = {PCI: 401, TWILIO: 403, PUBLIC: 200}[PROTECTION[endpoint]]
            assert answer.status_code == expected, f"{method} {path}"
    finally:
        app.extensions["pci_bridge"].close()


def test_a_bridge_with_no_keys_refuses_every_api_call(tmp_path: Path) -> None:
    app = create_bridge_app(BridgeConfig(database_url=f"sqlite:///{tmp_path}/pci.sqlite3"))
    try:
        client = app.test_client()
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x" * 3}):
            answer = client.post(
                "/pci/v1/sessions",
                json={"amount": "1.00", "currency": "GBP", "reference": "A1"},
                headers=headers,
            )
            assert answer.status_code == 401
        assert client.get("/pci/v1/openapi.json").status_code == 200
    finally:
        app.extensions["pci_bridge"].close()


# --- bearer keys -------------------------------------------------------------------------------


def test_keys_are_parsed_from_a_comma_separated_list() -> None:
    assert parse_keys(" key-one-0123456789 , key-two-0123456789,,", "PCI_API_KEYS") == (
        "key-one-0123456789",
        "key-two-0123456789",
    )
    assert parse_keys(["key-one-0123456789", "key-one-0123456789"], "x") == ("key-one-0123456789",)
    assert parse_keys(None, "x") == () == parse_keys("", "x")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("short", "PCI_API_KEYS: key 1 has 5 characters; a key needs 16 to 256"),
        ("good-key-0123456789,bad key with spaces", "PCI_API_KEYS: key 2 has a space"),
        ("x" * 257, "PCI_API_KEYS: key 1 has 257 characters"),
    ],
)
def test_unusable_keys_are_refused_without_showing_them(raw: str, message: str) -> None:
    with pytest.raises(KeyProblem) as caught:
        parse_keys(raw, "PCI_API_KEYS")
    assert str(caught.value).startswith(message)
    assert "spaces" not in str(caught.value) and "short" not in str(caught.value)


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("  Bearer   abc  ", "abc"),
        (None, None),
        ("", None),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer a b", None),
        ("Token abc", None),
        ("Bearer " + "k" * 300, None),
    ],
)
def test_the_presented_key(header: str | None, key: str | None) -> None:
    assert presented_key(header) == key


def test_key_matching_takes_any_current_key() -> None:
    keys = ("first-key-0123456789", "second-key-0123456789")
    assert key_matches("second-key-0123456789", keys)
    assert not key_matches("second-key-012345678", keys)
    assert not key_matches("second-key-0123456789", ())


# --- which keys a process uses ----------------------------------------------------------------


def settings_for(**values: Any) -> Settings:
    return Settings(callplans=ROOT / "callplans", **values)


def test_configured_keys_are_used_and_handed_to_the_plans() -> None:
    keys = service_keys(
        settings_for(demo_billing=True),
        private=False,
        environ={
            "PCI_API_KEYS": "new-key-0123456789,old-key-0123456789",
            "BILLING_TOKEN": "billing",
            "PCI_WEBHOOK_SECRET": "hook",
            "IVR_SECRET_KEY": "console-key-0123456789",
        },
    )
    assert keys.console_secret == "console-key-0123456789"
    assert keys.pci_api_keys == ("new-key-0123456789", "old-key-0123456789")
    assert keys.plan_secrets == {"PCI_API_KEY": "new-key-0123456789", "BILLING_TOKEN": "billing"}
    assert keys.generated == () and keys.webhook_secret == "hook"


def test_the_plans_key_may_be_another_bridges() -> None:
    keys = service_keys(
        settings_for(),
        private=False,
        environ={"PCI_API_KEYS": "local-key-0123456789", "PCI_API_KEY": "remote-key-0123456789"},
    )
    assert keys.plan_secrets["PCI_API_KEY"] == "remote-key-0123456789"


def test_keys_from_the_config_files_secrets() -> None:
    keys = service_keys(
        settings_for(
            demo_billing=True,
            secrets={"PCI_API_KEYS": "file-key-0123456789", "BILLING_TOKEN": "file-token"},
        ),
        private=False,
        environ={},
    )
    assert keys.pci_api_keys == ("file-key-0123456789",)
    assert keys.billing_token == "file-token"


def test_with_no_keys_an_embedded_process_makes_its_own() -> None:
    one = service_keys(settings_for(demo_billing=True), private=False, environ={})
    two = service_keys(settings_for(demo_billing=True), private=False, environ={})
    assert len(one.pci_api_keys) == 1 and len(one.pci_api_keys[0]) >= 32
    assert one.pci_api_keys != two.pci_api_keys and one.billing_token != two.billing_token
    assert one.plan_secrets == {
        "PCI_API_KEY": one.pci_api_keys[0],
        "BILLING_TOKEN": one.billing_token,
    }
    assert [name for name, _ in one.generated] == [
        "PCI_API_KEYS",
        "BILLING_TOKEN",
        "PCI_WEBHOOK_SECRET",
        "IVR_SECRET_KEY",
    ]
    assert one.webhook_secret and one.webhook_secret != two.webhook_secret
    assert one.console_secret and one.console_secret != two.console_secret
    private = service_keys(settings_for(demo_billing=True), private=True, environ={})
    assert private.console_secret is None  # simulated calls mount no console


def test_a_fleet_without_a_console_key_turns_the_console_off(tmp_path: Path) -> None:
    fleet = settings_for(store_url="redis://127.0.0.1:1/0", pci={"enabled": False})
    keys = service_keys(fleet, private=False, environ={})
    assert keys.console_secret is None
    with pytest.raises(SettingsError, match="IVR_SECRET_KEY is too short"):
        service_keys(settings_for(), private=False, environ={"IVR_SECRET_KEY": "short"})


def test_demo_billing_is_off_in_code_and_needs_no_token_then() -> None:
    keys = service_keys(settings_for(), private=False, environ={})
    assert keys.billing_token is None and "BILLING_TOKEN" not in keys.plan_secrets
    assert Settings().demo_billing is False
    assert Settings.load(ROOT / "config.yaml").demo_billing is True  # the shipped config


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, "PCI_API_KEYS"),
        ({"PCI_API_KEYS": "key-0123456789abcdef"}, "BILLING_TOKEN"),
        ({"PCI_API_KEY": "remote-key-0123456789", "BILLING_TOKEN": "t"}, "PCI_API_KEYS"),
    ],
)
def test_a_serving_process_with_shared_state_refuses_without_keys(
    environ: dict[str, str], missing: str
) -> None:
    settings = settings_for(demo_billing=True, store_url="redis://:secret@127.0.0.1:6379/0")
    with pytest.raises(SettingsError) as caught:
        service_keys(settings, private=False, environ=environ)
    message = str(caught.value)
    assert message.startswith(f"{missing} is not set:")
    assert f"Set {missing} in the environment" in message
    assert "secret@" not in message  # the store's password is not repeated
    # simulated calls and plan tests never refuse: their keys stay in the process
    assert service_keys(settings, private=True, environ=environ).plan_secrets


def test_unusable_configured_keys_stop_the_start() -> None:
    with pytest.raises(SettingsError, match="PCI_API_KEYS: key 1 has 3 characters"):
        service_keys(settings_for(), private=True, environ={"PCI_API_KEYS": "abc"})


def test_a_signature_header_that_is_not_ascii_is_refused_not_an_error() -> None:
    from flask import Flask, request

    from foundation.twilio_signature import is_valid

    app = Flask("t")
    with app.test_request_context(
        "/voice", method="POST", data={"CallSid": "CA" + "0" * 32},
        headers={"X-Twilio-Signature": "sïgnature"},
    ):  # fmt: skip
        assert is_valid(request, "token", "https://ivr.example") is False
