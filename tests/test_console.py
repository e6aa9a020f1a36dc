"""The operations console (docs/console.md): users and roles, sign-in with CSRF and slowing
down, every route's role checked route by route (403 and nothing changed), plans edited,
checked, published and rolled back with an audit trail, calls listed and shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.app import create_app
from ivr.app.settings import Settings
from ivr.console.roles import GRANTS, May, Role
from ivr.console.users import FREE_FAILURES, UserProblem, Users
from ivr.engine.records import CallRecord, PathStep
from tests.conftest import PCI_KEY, ROOT, Clock

PASSWORD = "correct horse battery"
PLAN_ID = "self_service_payment"

# console endpoint → what it needs (None: public by design)
NEEDS: dict[str, May | None] = {
    "console.login": None,
    "console.logout": None,  # signs out whoever holds the session (CSRF-checked)
    "console.static": None,
    "console.account": May.VIEW,
    "console.dashboard": May.VIEW,
    "console.plans": May.VIEW,
    "console.plan": May.VIEW,
    "console.plan_graph": May.VIEW,
    "console.check_plan": May.EDIT,
    "console.publish_plan": May.EDIT,
    "console.rollback_plan": May.EDIT,
    "console.calls": May.VIEW,
    "console.call": May.VIEW,
    "console.payments": May.VIEW,
    "console.payment": May.INQUIRE,
    "console.phone": May.EDIT,
    "console.phone_ring": May.EDIT,
    "console.phone_keys": May.EDIT,
    "console.phone_hang_up": May.EDIT,
    "console.users_page": May.ADMINISTER,
    "console.add_user": May.ADMINISTER,
    "console.set_role": May.ADMINISTER,
    "console.remove_user": May.ADMINISTER,
    "console.audit": May.ADMINISTER,
}


@pytest.fixture
def app(tmp_path: Path, service_keys_env: None) -> Iterator[Flask]:
    settings = Settings(
        callplans=ROOT / "callplans",
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        pci={"enabled": False},
        watch_plans=True,
    )
    app = create_app(settings)
    app.config["TESTING"] = False  # CSRF and sign-in exactly as served
    users: Users = app.extensions["ivr_console"].users
    for role in Role:
        users.add(role.value, role.value, PASSWORD, actor="test")
    yield app
    app.extensions["ivr"].stop_background()


def token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD) -> Any:
    page = client.get("/console/login").get_data(as_text=True)
    return client.post(
        "/console/login",
        data={"username": name, "password": password, "csrf_token": token(page)},
    )


def client_as(app: Flask, role: Role) -> tuple[FlaskClient, str]:
    client = app.test_client()
    answer = sign_in(client, role.value)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    page = client.get("/console/account").get_data(as_text=True)
    return client, token(page)


def test_every_console_route_declares_what_it_needs(app: Flask) -> None:
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("console.")}
    assert endpoints == set(NEEDS), "add the route to NEEDS with the role it requires"
    for endpoint, need in NEEDS.items():
        view = app.view_functions[endpoint]
        assert getattr(view, "needs", None) == need, endpoint


def test_signed_out_pages_go_to_sign_in_and_actions_are_refused(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/console/plans")
    assert page.status_code == 302
    assert "/console/login?next=/console/plans" in page.headers["Location"]
    before = app.extensions["ivr_console"].plans.marker()
    action = client.post(f"/console/plans/{PLAN_ID}", data={"text": "x", "action": "publish"})
    assert action.status_code == 401
    assert app.extensions["ivr_console"].plans.marker() == before


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_what_its_role_grants_and_nothing_else(app: Flask, role: Role) -> None:
    client, csrf = client_as(app, role)
    grants = GRANTS[role]
    users: Users = app.extensions["ivr_console"].users
    plans = app.extensions["ivr_console"].plans
    pages = {
        "/console/": May.VIEW,
        "/console/plans": May.VIEW,
        f"/console/plans/{PLAN_ID}": May.VIEW,
        f"/console/plans/{PLAN_ID}/graph.svg": May.VIEW,
        "/console/calls": May.VIEW,
        "/console/account": May.VIEW,
        "/console/users": May.ADMINISTER,
        "/console/audit": May.ADMINISTER,
    }
    for path, need in pages.items():
        status = client.get(path).status_code
        assert status == (200 if need in grants else 403), f"{role.value} GET {path}: {status}"

    text = plans.history(PLAN_ID)[0].content
    marker = plans.marker()
    people = {u.name: u.role for u in users.all()}
    actions = [
        (f"/console/plans/{PLAN_ID}/check", None, May.EDIT),
        (f"/console/plans/{PLAN_ID}", {"text": text, "action": "check"}, May.EDIT),
        ("/console/users", {"username": "newcomer", "role": "viewer", "password": PASSWORD},
         May.ADMINISTER),
        ("/console/users/viewer/role", {"role": "admin"}, May.ADMINISTER),
    ]  # fmt: skip
    for path, form, need in actions:
        if form is None:
            answer = client.post(path, json={"text": text}, headers={"X-CSRFToken": csrf})
        else:
            answer = client.post(path, data={**form, "csrf_token": csrf})
        if need in grants:
            assert answer.status_code in (200, 302), f"{role.value} POST {path}"
        else:
            assert answer.status_code == 403, f"{role.value} POST {path}: {answer.status_code}"
    if May.ADMINISTER not in grants:  # nothing changed
        assert {u.name: u.role for u in users.all()} == people
    assert plans.marker() == marker  # a check publishes nothing


def test_a_wrong_password_says_nothing_about_which_part_was_wrong(app: Flask) -> None:
    client = app.test_client()
    wrong_password = sign_in(client, "admin", "not the password at all")
    no_such_user = sign_in(client, "nobody-here", PASSWORD)
    assert wrong_password.status_code == no_such_user.status_code == 401
    first = re.search(r'role="alert"[^>]*>([^<]+)<', wrong_password.get_data(as_text=True))
    second = re.search(r'role="alert"[^>]*>([^<]+)<', no_such_user.get_data(as_text=True))
    assert first and second and first.group(1) == second.group(1)


def test_repeated_failures_are_slowed_down_then_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    users = Users(f"sqlite:///{tmp_path}/u.sqlite3", clock=clock)
    users.add("admin", "admin", PASSWORD, actor="test")
    for _ in range(FREE_FAILURES):
        assert users.sign_in("admin", "wrong password!", "10.0.0.1").user is None
    slowed = users.sign_in("admin", PASSWORD, "10.0.0.2")  # the right password, but too soon
    assert slowed.user is None and slowed.wait >= 1
    from_elsewhere = users.sign_in("other", PASSWORD, "10.0.0.1")  # the address is slowed too
    assert from_elsewhere.wait >= 1
    clock.advance(seconds=slowed.wait)
    assert users.sign_in("admin", PASSWORD, "10.0.0.2").user is not None
    # a success clears the name's failures
    assert users.sign_in("admin", "wrong again!!", "10.0.0.3").wait == 0
    clock.advance(minutes=16)
    assert users.sign_in("admin", PASSWORD, "10.0.0.1").user is not None


def test_the_login_page_answers_429_while_slowed_down(app: Flask) -> None:
    client = app.test_client()
    for _ in range(FREE_FAILURES):
        assert sign_in(client, "editor", "wrong password!").status_code == 401
    answer = sign_in(client, "editor")
    assert answer.status_code == 429
    assert "Wait" in answer.get_data(as_text=True)


def test_a_form_without_its_csrf_token_changes_nothing(app: Flask) -> None:
    client, csrf = client_as(app, Role.ADMIN)
    users: Users = app.extensions["ivr_console"].users
    form = {"username": "sneaky", "role": "admin", "password": PASSWORD}
    assert client.post("/console/users", data=form).status_code == 400
    assert client.post("/console/users", data={**form, "csrf_token": "forged"}).status_code == 400
    assert users.get("sneaky") is None
    assert client.post("/console/users", data={**form, "csrf_token": csrf}).status_code == 302
    assert users.get("sneaky") is not None


def test_cookies_are_http_only_and_same_site(app: Flask) -> None:
    client = app.test_client()
    answer = sign_in(client, "viewer")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie


def test_a_role_change_or_new_password_ends_the_users_sessions(app: Flask) -> None:
    users: Users = app.extensions["ivr_console"].users
    client, _ = client_as(app, Role.EDITOR)
    assert client.get("/console/plans").status_code == 200
    users.set_role("editor", "viewer", actor="test")
    assert client.get("/console/plans").status_code == 302  # signed out
    client, _ = client_as(app, Role.VIEWER)
    users.set_password("viewer", "a brand new password", actor="test")
    assert client.get("/console/plans").status_code == 302


def test_sign_in_only_returns_to_console_paths(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    answer = client.post(
        "/console/login?next=https://evil.example/console/",
        data={"username": "viewer", "password": PASSWORD, "csrf_token": token(page)},
    )
    assert answer.headers["Location"] == "/console/"


def test_an_editor_publishes_then_rolls_back_and_the_audit_log_says_who(app: Flask) -> None:
    plans = app.extensions["ivr_console"].plans
    catalog = app.extensions["ivr"].catalog
    client, csrf = client_as(app, Role.EDITOR)
    before = plans.history(PLAN_ID)[0]
    edited = before.content.replace("Welcome", "Hello and welcome", 1)
    assert edited != before.content
    # a broken edit is refused at its line, and nothing is published
    broken = edited.replace("start:", "strat:", 1)
    answer = client.post(
        f"/console/plans/{PLAN_ID}",
        data={"text": broken, "message": "typo", "action": "publish", "csrf_token": csrf},
    )
    assert answer.status_code == 400
    assert "line " in answer.get_data(as_text=True)
    assert plans.history(PLAN_ID)[0].number == before.number
    # publishing needs a message
    answer = client.post(
        f"/console/plans/{PLAN_ID}",
        data={"text": edited, "message": "", "action": "publish", "csrf_token": csrf},
    )
    assert answer.status_code == 400
    answer = client.post(
        f"/console/plans/{PLAN_ID}",
        data={"text": edited, "message": "warmer greeting", "action": "publish",
              "csrf_token": csrf},
    )  # fmt: skip
    assert answer.status_code == 302
    now = plans.history(PLAN_ID)[0]
    assert now.number == before.number + 1 and now.author == "editor"
    assert now.message == "warmer greeting"
    assert catalog.current(PLAN_ID).version == now.version  # this process serves it at once
    page = client.get(f"/console/plans/{PLAN_ID}").get_data(as_text=True)
    assert f"v{now.number}" in page and "Hello and welcome" in page
    answer = client.post(
        f"/console/plans/{PLAN_ID}/rollback", data={"number": before.number, "csrf_token": csrf}
    )
    assert answer.status_code == 302
    assert plans.history(PLAN_ID)[0].version == before.version
    assert catalog.current(PLAN_ID).version == before.version
    admin, _ = client_as(app, Role.ADMIN)
    audit = admin.get("/console/audit").get_data(as_text=True)
    assert "plan.publish" in audit and "plan.rollback" in audit and "warmer greeting" in audit


def test_the_editor_check_reports_line_and_column_as_json(app: Flask) -> None:
    client, csrf = client_as(app, Role.EDITOR)
    text = app.extensions["ivr_console"].plans.history(PLAN_ID)[0].content
    good = client.post(
        f"/console/plans/{PLAN_ID}/check", json={"text": text}, headers={"X-CSRFToken": csrf}
    ).get_json()
    assert good["ok"] is True
    broken = text.replace("start:", "strat:", 1)
    bad = client.post(
        f"/console/plans/{PLAN_ID}/check", json={"text": broken}, headers={"X-CSRFToken": csrf}
    ).get_json()
    assert bad["ok"] is False
    first = bad["diagnostics"][0]
    assert first["severity"] == "error" and first["line"] >= 1 and first["col"] >= 1
    assert "strat" in " ".join(d["message"] for d in bad["diagnostics"])


def test_the_plan_id_cannot_be_changed_from_another_plans_page(app: Flask) -> None:
    plans = app.extensions["ivr_console"].plans
    client, csrf = client_as(app, Role.EDITOR)
    text = plans.history(PLAN_ID)[0].content
    renamed = re.sub(r"^plan: .*$", "plan: someone_else", text, count=1, flags=re.M)
    before = plans.marker()
    answer = client.post(
        f"/console/plans/{PLAN_ID}",
        data={"text": renamed, "message": "x", "action": "publish", "csrf_token": csrf},
    )
    assert answer.status_code == 400 and "someone_else" in answer.get_data(as_text=True)
    assert plans.marker() == before


def test_calls_are_listed_filtered_and_shown(app: Flask, clock: Clock) -> None:
    recorder = app.extensions["ivr_console"].records
    now = clock()
    for n, (outcome, number) in enumerate(
        [("PaymentTaken", "+442071230110"), ("Abandoned", "+442071230110"), ("Agent", "+4420")]
    ):
        started = now - timedelta(minutes=10 - n)
        recorder.record(
            CallRecord(
                call_sid=f"CA{n:032d}",
                plan_id=PLAN_ID,
                plan_version="abc",
                clid="+447700900123",
                ddi=number,
                started_at=started.isoformat(),
                ended_at=(started + timedelta(seconds=75)).isoformat(),
                outcome=outcome,
                end_status="completed",
                path=(PathStep("welcome", "next", started.isoformat()),
                      PathStep("pay_menu", "no_input", started.isoformat())),
            )
        )  # fmt: skip
    client, _ = client_as(app, Role.VIEWER)
    page = client.get("/console/calls").get_data(as_text=True)
    assert page.count("/console/calls/CA") == 3
    page = client.get("/console/calls?outcome=Abandoned").get_data(as_text=True)
    assert page.count("/console/calls/CA") == 1
    page = client.get("/console/calls?number=%2B4420").get_data(as_text=True)
    assert page.count("/console/calls/CA") == 1
    one = client.get(f"/console/calls/CA{1:032d}").get_data(as_text=True)
    assert "pay_menu" in one and "Abandoned" in one
    assert client.get("/console/calls/CAnope").status_code == 404
    dash = client.get(f"/console/?from={now.date()}&to={now.date()}").get_data(as_text=True)
    assert re.search(r'id="calls-total">3<', dash)
    assert f"{PLAN_ID} / pay_menu" in dash  # where the abandoned call left
    assert client.get("/console/?from=2026-02-30").status_code == 400


def test_users_are_managed_by_admins_and_the_last_admin_stays(app: Flask) -> None:
    users: Users = app.extensions["ivr_console"].users
    client, csrf = client_as(app, Role.ADMIN)
    answer = client.post("/console/users/admin/role", data={"role": "viewer", "csrf_token": csrf})
    assert answer.status_code == 400 and "only admin" in answer.get_data(as_text=True)
    assert users.get("admin").role is Role.ADMIN  # type: ignore[union-attr]
    answer = client.post("/console/users/viewer/remove", data={"csrf_token": csrf})
    assert answer.status_code == 302 and users.get("viewer") is None
    with pytest.raises(UserProblem, match="already"):
        users.add("Editor", "editor", PASSWORD, actor="t")


def test_passwords_are_stored_as_argon2_hashes(tmp_path: Path) -> None:
    users = Users(f"sqlite:///{tmp_path}/u.sqlite3")
    users.add("someone", "viewer", PASSWORD, actor="t")
    with users.db.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM console_users").scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_fleet_without_ivr_secret_key_says_how_to_turn_the_console_on(
    tmp_path: Path, service_keys_env: None, redis_url: str
) -> None:
    settings = Settings(
        callplans=ROOT / "callplans",
        store_url=redis_url,
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        pci={"enabled": False},
    )
    app = create_app(settings)
    for path in ("/console/", "/console/login", "/console/plans/x"):
        answer = app.test_client().get(path)
        assert answer.status_code == 503, path
        assert "IVR_SECRET_KEY" in answer.get_data(as_text=True)


def test_ivr_users_adds_lists_changes_and_removes_with_an_audit_trail(
    tmp_path: Path, service_keys_env: None
) -> None:
    from click.testing import CliRunner

    from ivr.tools.cli import main

    config = tmp_path / "config.yaml"
    config.write_text(f"database: sqlite:///{tmp_path}/calls.sqlite3\n", encoding="utf-8")
    run = CliRunner().invoke
    added = run(main, ["users", "add", "Alice", "--role", "admin", "--password-stdin",
                       "--config", str(config)], input=PASSWORD + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added alice (admin)" in added.output
    short = run(main, ["users", "add", "bob", "--role", "viewer", "--password-stdin",
                       "--config", str(config)], input="short\n")  # fmt: skip
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    last = run(main, ["users", "set-role", "alice", "viewer", "--config", str(config)])
    assert last.exit_code == 1 and "only admin" in last.output
    listed = run(main, ["users", "list", "--json", "--config", str(config)])
    assert [(u["name"], u["role"]) for u in json.loads(listed.output)] == [("alice", "admin")]
    users = Users(f"sqlite:///{tmp_path}/calls.sqlite3")
    assert [e.action for e in users.audit_entries()] == ["user.add"]
    assert users.audit_entries()[0].actor.startswith("cli")


@pytest.fixture
def paying_app(tmp_path: Path, service_keys_env: None, clock: Clock) -> Iterator[Flask]:
    """The console with the embedded bridge (read through its payments API) and payments."""
    settings = Settings(
        callplans=ROOT / "callplans",
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        pci={"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
    )
    app = create_app(settings, clock=clock)
    app.config["TESTING"] = False
    users: Users = app.extensions["ivr_console"].users
    for role in Role:
        users.add(role.value, role.value, PASSWORD, actor="test")
    bridge = app.extensions["ivr"].bridge
    client = app.test_client()
    for n, behaviour in enumerate(["success", "success", "insufficient_funds"]):
        token = bridge.gateway.mint_token(
            brand="visa", last4="4242", exp_month=12, exp_year=2030, behaviour=behaviour
        )
        answer = client.post(
            "/pci/v1/sessions",
            json={"amount": f"{10 + n}.50", "currency": "GBP", "reference": f"ACC-{n}",
                  "caller_clid": "+447700900123", "card_token": token},
            headers={"Authorization": f"Bearer {PCI_KEY}"},
        )  # fmt: skip
        assert answer.status_code == 201, answer.get_json()
    yield app
    app.extensions["ivr"].stop_background()
    bridge.close()


def test_payments_are_listed_masked_for_viewers_and_searched_by_inquirers(
    paying_app: Flask,
) -> None:
    viewer, _ = client_as(paying_app, Role.VIEWER)
    page = viewer.get("/console/payments").get_data(as_text=True)
    codes = re.findall(r"\b\d{8}\b", page)
    assert len(set(codes)) == 2  # two paid, one declined (no code)
    assert "visa •••• 4242" in page and "insufficient_funds" not in page
    assert "+447700900123" not in page and "•" * 10 + "123" in page  # masked for viewers
    assert "tok_" not in page  # a card token is never shown
    assert viewer.get(f"/console/payments?q={codes[0]}").status_code == 403
    assert viewer.get("/console/payments?status=declined").status_code == 200

    inquirer, _ = client_as(paying_app, Role.PAYMENTS)
    found = inquirer.get(f"/console/payments?q={codes[0]}").get_data(as_text=True)
    assert found.count("/console/payments/ps_") == 1 and "+447700900123" in found
    session_id = re.search(r"/console/payments/(ps_[0-9a-f]+)", found).group(1)  # type: ignore[union-attr]
    assert viewer.get(f"/console/payments/{session_id}").status_code == 403
    one = inquirer.get(f"/console/payments/{session_id}").get_data(as_text=True)
    assert codes[0] in one and "visa ending 4242" in one and "GBP" in one
    assert "Cards tried" in one and "tok_" not in one
    declined = inquirer.get("/console/payments?status=declined").get_data(as_text=True)
    assert "ACC-2" in declined and "ACC-0" not in declined
    assert inquirer.get("/console/payments/ps_00000000deadbeef").status_code == 404


def test_the_dashboard_counts_payments_and_declines(paying_app: Flask, clock: Clock) -> None:
    viewer, _ = client_as(paying_app, Role.VIEWER)
    day = clock().date().isoformat()
    dash = viewer.get(f"/console/?from={day}&to={day}").get_data(as_text=True)
    assert re.search(r'id="payments-taken">2<', dash)
    assert re.search(r"id=\"payments-amount\">22.00 GBP<", dash)  # 10.50 + 11.50
    assert "insufficient_funds" in dash  # a decline reason


def test_a_caller_hears_a_real_payment_by_its_code(paying_app: Flask) -> None:
    """callplans/payment_inquiry.yaml against the embedded bridge, over the voice webhooks."""
    inquirer, _ = client_as(paying_app, Role.PAYMENTS)
    listed = inquirer.get("/console/payments?q=ACC-1").get_data(as_text=True)
    code = re.findall(r"\b\d{8}\b", listed)[0]
    voice = paying_app.test_client()
    form = {"CallSid": "CA" + "7" * 32, "From": "+447700900999", "To": "+442071230003"}
    first = voice.post("/voice", data={**form, "CallStatus": "in-progress"})
    action = re.search(r'<Gather action="([^"]+)"', first.get_data(as_text=True))
    assert action, first.get_data(as_text=True)
    answer = voice.post(action.group(1), data={**form, "Digits": code})
    said = answer.get_data(as_text=True)
    spaced = " ".join(code[i : i + 2] for i in range(0, 8, 2))
    assert "The payment of £11.50 on" in said and f"with the code {spaced} was successful" in said


def test_a_call_page_shows_its_transcript_and_data_but_no_secret(
    tmp_path: Path, service_keys_env: None
) -> None:
    """A whole simulated payment with a new card (./scripts/demo.sh's keys), then its page."""
    from datetime import UTC, datetime

    from ivr.app.local_phone import LocalPhone

    database = f"sqlite:///{tmp_path}/calls.sqlite3"
    phone = LocalPhone(
        Settings(callplans=ROOT / "callplans", database_url=database, demo_billing=True,
                 pci={"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"}),
        start=datetime(2026, 11, 18, 10, tzinfo=UTC),
    )  # fmt: skip
    try:
        report = phone.call(
            "+442071230001", "+447700900123",
            ["11#", "1", "2", "4242424242424242#", "1230", "123", "1", "2"],
        )  # fmt: skip
    finally:
        phone.close()
    assert report.outcome == "PaymentTaken"
    app = create_app(
        Settings(callplans=ROOT / "callplans", database_url=database, pci={"enabled": False})
    )
    app.config["TESTING"] = False
    app.extensions["ivr_console"].users.add("viewer", "viewer", PASSWORD, actor="test")
    client, _ = client_as(app, Role.VIEWER)
    page = client.get(f"/console/calls/{report.result.call_sid}").get_data(as_text=True)
    assert "Heard:</strong> Hello Sam" in page  # the transcript, prompts and keys
    assert "Caller:</strong> pressed ••" in page  # the identity check's keys are hidden
    assert "<code>Name</code> = Sam Taylor" in page  # what the look-up set
    assert "<code>VerifyDigits</code> = (hidden)" in page
    assert "<code>CardToken</code> = (hidden)" in page or "CardToken" not in page
    assert "4242424242424242" not in page and "1230" not in page.split("Transcript")[1]
    record = app.extensions["ivr_console"].records.find(report.result.call_sid)
    assert "4242424242424242" not in repr(record) and record.transcript


def test_concurrent_guesses_cannot_slip_past_the_count(tmp_path: Path) -> None:
    """Every attempt is counted before its password is checked: of 30 guesses at once, at
    most the free ones are checked at all."""
    from concurrent.futures import ThreadPoolExecutor

    from argon2 import PasswordHasher

    checked: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            checked.append(str(password))
            return super().verify(hash, password)

    users = Users(f"sqlite:///{tmp_path}/u.sqlite3", hasher=Counting())
    users.add("admin", "admin", PASSWORD, actor="test")
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda n: users.sign_in("admin", f"guess {n}!!", f"10.1.{n}.1"),
                                range(30)))  # fmt: skip
    assert all(a.user is None for a in answers)
    assert len(checked) <= FREE_FAILURES
    assert sum(a.wait > 0 for a in answers) >= 30 - FREE_FAILURES


def test_a_removed_users_session_does_not_fit_a_new_user_of_that_name(app: Flask) -> None:
    users: Users = app.extensions["ivr_console"].users
    client, _ = client_as(app, Role.VIEWER)
    assert client.get("/console/plans").status_code == 200
    users.remove("viewer", actor="test")
    users.add("viewer", "admin", PASSWORD, actor="test")  # same name, more power
    assert client.get("/console/users").status_code == 302  # the old cookie is signed out


def test_viewers_see_callers_masked_on_call_pages(app: Flask, clock: Clock) -> None:
    started = clock()
    app.extensions["ivr_console"].records.record(
        CallRecord(
            call_sid="CA" + "5" * 32, plan_id=PLAN_ID, plan_version="v", clid="+447700900123",
            ddi="+442071230001", started_at=started.isoformat(),
            ended_at=started.isoformat(), outcome="Completed", end_status="completed",
        )
    )  # fmt: skip
    viewer, _ = client_as(app, Role.VIEWER)
    for path in ("/console/calls", f"/console/calls/CA{'5' * 32}"):
        page = viewer.get(path).get_data(as_text=True)
        assert "+447700900123" not in page and "•" * 10 + "123" in page, path
    inquirer, _ = client_as(app, Role.PAYMENTS)
    assert "+447700900123" in inquirer.get(f"/console/calls/CA{'5' * 32}").get_data(as_text=True)
