"""The console in a real browser: Debian's headless Chromium driven by Playwright against the
app served over HTTP on loopback. Each role signs in and sees what it may (403 and nothing
changed for the rest); an editor publishes an edit that the next call hears, then rolls it
back; a payment is found on the payments page by its code; every page passes axe-core with no
serious violation and fits a 375 px screen. Screenshots of each page are kept in
var/test-artifacts/console/ (IVR_TEST_ARTIFACTS names another folder)."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from ivr.app import create_app
from ivr.app.settings import Settings
from ivr.console.roles import Role
from ivr.console.users import Users
from tests.conftest import PCI_KEY, ROOT, free_port

PASSWORD = "correct horse battery"
PLAN_ID = "payment_inquiry"
NUMBER = "+442071230003"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("IVR_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts")) / "console"

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # scripts/test.sh installs it; a bare pytest run says so
    pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)",
                allow_module_level=True)  # fmt: skip


class Served:
    """The app (engine, bridge, console) on a loopback port, in a thread."""

    def __init__(self, tmp: Path):
        settings = Settings(
            callplans=ROOT / "callplans",
            database_url=f"sqlite:///{tmp}/calls.sqlite3",
            pci={"database_url": f"sqlite:///{tmp}/pci.sqlite3"},
            demo_billing=True,
            demo_billing_database=f"sqlite:///{tmp}/billing.sqlite3",
            softphone_pci_database_url=f"sqlite:///{tmp}/softphone-pci.sqlite3",
        )
        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.users: Users = self.app.extensions["ivr_console"].users
        for role in Role:
            self.users.add(role.value, role.value, PASSWORD, actor="test")
        self.calls = 0

    def close(self) -> None:
        self.server.shutdown()
        self.app.extensions["ivr"].stop_background()
        bridge = self.app.extensions["ivr"].bridge
        if bridge is not None:
            bridge.close()

    def hear(self, digits: str | None = None) -> str:
        """Ring the inquiry plan as Twilio would; what the caller hears first (and after
        keying `digits`)."""
        self.calls += 1
        form = {"CallSid": f"CA{self.calls:032d}", "From": "+447700900555", "To": NUMBER}
        first = requests.post(self.url + "/voice", data={**form, "CallStatus": "in-progress"})
        said = first.text
        if digits is not None:
            action = re.search(r'<Gather action="([^"]+)"', said)
            assert action, said
            said = requests.post(self.url + action.group(1), data={**form, "Digits": digits}).text
        return said

    def pay(self, amount: str = "12.34", reference: str = "ACC-77") -> dict[str, Any]:
        bridge = self.app.extensions["ivr"].bridge
        token = bridge.gateway.mint_token(brand="visa", last4="4242", exp_month=12,
                                          exp_year=2030, behaviour="success")  # fmt: skip
        answer = requests.post(
            self.url + "/pci/v1/sessions",
            json={"amount": amount, "currency": "GBP", "reference": reference,
                  "caller_clid": "+447700900555", "card_token": token},
            headers={"Authorization": f"Bearer {PCI_KEY}"},
            timeout=10,
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    keys = {"PCI_API_KEYS": PCI_KEY, "BILLING_TOKEN": "billing-token-for-browser-tests"}
    saved = {k: os.environ.get(k) for k in (*keys, "IVR_SECRET_KEY", "TWILIO_AUTH_TOKEN")}
    os.environ.update(keys)
    for name in ("IVR_SECRET_KEY", "TWILIO_AUTH_TOKEN"):
        os.environ.pop(name, None)
    app = Served(tmp_path_factory.mktemp("console"))
    yield app
    app.close()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def page_as(browser: Any, served: Served, role: Role, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(served.url + "/console/login")
    page.fill("#username", role.value)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(served.url + "/console/")
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


PAGES = {
    "dashboard": ("/console/", Role.VIEWER),
    "plans": ("/console/plans", Role.VIEWER),
    "plan": (f"/console/plans/{PLAN_ID}", Role.VIEWER),
    "calls": ("/console/calls", Role.VIEWER),
    "payments": ("/console/payments", Role.VIEWER),
    "phone": ("/console/phone", Role.EDITOR),
    "account": ("/console/account", Role.VIEWER),
    "users": ("/console/users", Role.ADMIN),
    "audit": ("/console/audit", Role.ADMIN),
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_its_pages_and_is_refused_the_rest(
    browser: Any, served: Served, role: Role
) -> None:
    page = page_as(browser, served, role)
    nav = page.locator("nav[aria-label=Main] a").all_inner_texts()
    admin = role is Role.ADMIN
    assert ("Users" in nav) == admin and ("Audit log" in nav) == admin
    for path, needs in PAGES.values():
        answer = page.goto(served.url + path)
        allowed = needs is Role.VIEWER or admin or needs is role
        assert answer.status == (200 if allowed else 403), f"{role.value} {path}"
        if not allowed:
            assert "Your role does not allow this" in page.inner_text("main")
    page.goto(served.url + f"/console/plans/{PLAN_ID}")
    editing = page.locator("textarea#text").count() == 1
    assert editing == (role in (Role.EDITOR, Role.ADMIN))
    before = served.app.extensions["ivr_console"].plans.marker()
    # a forged publish from this user's own page: refused unless their role allows it
    status = page.evaluate(
        """async ([url, token]) => (await fetch(url, {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: new URLSearchParams({text: 'x', action: 'publish', message: 'm',
                                       csrf_token: token})})).status""",
        [served.url + f"/console/plans/{PLAN_ID}", _token(page)],
    )
    assert status == (400 if editing else 403)  # an editor's broken text is refused too
    assert served.app.extensions["ivr_console"].plans.marker() == before
    page.close()


def wait_for_text(page: Any, selector: str, text: str, seconds: float = 10.0) -> None:
    """Until `selector` shows `text` (polled from here: the pages' CSP allows no eval)."""
    deadline = time.monotonic() + seconds
    while text not in (page.text_content(selector) or ""):
        assert time.monotonic() < deadline, f"{selector}: {page.text_content(selector)!r}"
        page.wait_for_timeout(100)


def replace_in_editor(page: Any, old: str, new: str) -> None:
    page.evaluate(
        """([before, after]) => { const v = window.planEditor;
            const text = v.state.doc.toString();
            v.dispatch({changes: {from: 0, to: v.state.doc.length,
                                  insert: text.replace(before, after)}}); }""",
        [old, new],
    )


def test_the_editor_shows_the_checks_errors_at_their_line_as_the_admin_types(
    browser: Any, served: Served
) -> None:
    page = page_as(browser, served, Role.EDITOR)
    page.goto(served.url + f"/console/plans/{PLAN_ID}")
    page.wait_for_selector(".plan-editor .cm-content")
    wait_for_text(page, "#editor-status", "No errors")
    page.click(".cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type("\nbogus_key: 1")  # typed, as an admin would
    wait_for_text(page, "#editor-status", "error(s)")
    page.wait_for_selector(".cm-lintRange-error")
    page.hover(".cm-lintRange-error")
    tooltip = page.wait_for_selector(".cm-tooltip-lint")
    assert "bogus_key" in tooltip.inner_text() and "line " in tooltip.inner_text()
    shot(page, "editor-error")
    before = served.app.extensions["ivr_console"].plans.marker()
    page.fill("#message", "should not publish")
    page.click("button[value=publish]")
    assert "Not published" in page.inner_text("main")
    assert served.app.extensions["ivr_console"].plans.marker() == before
    page.close()


def _token(page: Any) -> str:
    value = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value
    return str(value)


def test_an_editor_publishes_an_edit_a_new_call_hears_it_then_rolls_back(
    browser: Any, served: Served
) -> None:
    assert "Payment inquiries." in served.hear()
    page = page_as(browser, served, Role.EDITOR)
    page.goto(served.url + f"/console/plans/{PLAN_ID}")
    page.wait_for_selector(".plan-editor .cm-content")  # CodeMirror replaced the text area
    replace_in_editor(page, "Payment inquiries.", "Payment questions.")
    page.click("button[value=check]")
    assert "No errors." in page.inner_text("main")
    page.fill("#message", "friendlier greeting")
    page.click("button[value=publish]")
    assert "Published payment_inquiry v2" in page.inner_text(".flash")
    shot(page, "plan-published")
    said = served.hear()
    assert "Payment questions." in said and "Payment inquiries." not in said
    page.click("text=Roll back to v1")
    assert "Published payment_inquiry v3" in page.inner_text(".flash")
    assert "Payment inquiries." in served.hear()
    page.close()


def test_a_payment_is_found_by_its_code_and_counted_on_the_dashboard(
    browser: Any, served: Served
) -> None:
    paid = served.pay()
    code = paid["result"]["confirmation_code"]
    page = page_as(browser, served, Role.PAYMENTS)
    page.goto(served.url + "/console/payments")
    page.fill("#q", code)
    page.click("button:has-text('Search')")
    table = page.inner_text("table")
    assert code in table and "visa •••• 4242" in table and "success" in table
    page.click(f"text={code}")
    details = page.inner_text("main")
    assert "visa ending 4242" in details and "12.34 GBP" in details
    shot(page, "payment")
    page.goto(served.url + "/console/")
    assert int(page.inner_text("#payments-taken")) >= 1
    said = served.hear(code)  # and a caller hears it by phone
    assert "£12.34" in said and "was successful" in said
    page.close()


SOFTPHONE_PAYMENT = ["11#", "1", "2", "4242424242424242#", "1230", "123", "1", "2"]


def test_a_softphone_payment_is_found_by_its_code_and_seen_on_the_dashboard(
    browser: Any, served: Served
) -> None:
    """Sam's payment made from the browser's key pad: the whole call, the payment leg on the
    softphone's private bridge, then the payment found by its code as a test payment."""
    page = page_as(browser, served, Role.EDITOR)
    page.goto(served.url + "/console/phone")
    page.fill("#to", "+442071230001")
    page.fill("#from", "+447700900123")
    page.click("#call")
    for answered, entry in enumerate(SOFTPHONE_PAYMENT):
        page.wait_for_selector(f"#phone[data-state=waiting-{answered}]", timeout=10_000)
        for key in entry:
            page.click(f".key[data-key='{key}']")
    page.wait_for_selector("#phone[data-state=ended]", timeout=10_000)
    transcript = page.inner_text("#transcript")
    assert "card number" in transcript and "17 keys" in transcript, transcript
    assert "4242424242424242" not in transcript and "Call ended" in transcript
    found = re.search(r"confirmation code is ((?:\d\d ?){4})", transcript)
    assert found, transcript
    code = found.group(1).replace(" ", "")
    shot(page, "phone-paid")
    page.close()

    page = page_as(browser, served, Role.PAYMENTS)
    page.goto(served.url + "/console/payments")
    page.fill("#q", code)
    page.click("button:has-text('Search')")
    table = page.inner_text("table")
    assert code in table and "test" in table, table
    assert "visa •••• 4242" in table and "success" in table, table
    page.goto(served.url + "/console/?calls=test")
    assert int(page.inner_text("#payments-taken")) >= 1
    assert int(page.inner_text("#calls-total")) >= 1
    shot(page, "dashboard-test-calls")
    page.close()


def test_every_page_passes_axe_and_fits_a_phone(browser: Any, served: Served) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    served.pay("5.00", "ACC-A11Y")
    for width in (1280, 375):
        page = page_as(browser, served, Role.ADMIN, width)
        payment = served.app.extensions["ivr"].bridge.ledger.payments(limit=1)[0][0].id
        pages = {**{n: p for n, (p, _) in PAGES.items()}, "payment": f"/console/payments/{payment}"}
        for name, path in pages.items():
            page.goto(served.url + path)
            results = axe.run(page)
            serious = [
                f"{v['id']} ({v['impact']}): {v['help']} at "
                + ", ".join(str(n["target"]) for n in v["nodes"][:3])
                for v in results.response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert not serious, f"{path} at {width} px: {serious}"
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} is {overflow} px wider than a {width} px screen"
            shot(page, f"{name}-{width}")
        page.close()
    login = browser.new_page(viewport={"width": 375, "height": 700})
    login.goto(served.url + "/console/login")
    violations = axe.run(login).response["violations"]
    assert not [v for v in violations if v["impact"] in ("serious", "critical")]
    shot(login, "login-375")
    login.close()
