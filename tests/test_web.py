"""The web app: Twilio signatures, repeated webhooks answered once, and TwiML (never a 5xx)
when a number is unknown, an applet fails or the session store is down."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import redis
import requests
from flask import Flask, request
from flask.testing import FlaskClient
from lxml import etree
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from foundation.twilio_signature import is_valid
from ivr.app import create_app
from ivr.app.local_phone import LocalPhone
from ivr.app.settings import Settings
from ivr.engine.stores import MemoryStore
from ivr.engine.stores.redis_store import RedisStore
from tests.conftest import PLANS, Clock, LoopbackServer, free_port
from tests.test_twiml import assert_valid_twiml

CALL_NUMBER = "+441000000901"  # tests/plans/web_call.yaml (fallback: transfer to AGENT_LINE)
PLAIN_NUMBER = "+441000000902"  # tests/plans/web_plain.yaml (fallback: a hang-up)
AGENT = "+442071230200"
AGENT_LINE = "+442071230299"
CALLER = "+447700900123"
ACCOUNT = "AC" + "1" * 32
TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "https://ivr.example.com"
INTERNAL = "http://localhost"  # the Flask test client's base URL

MENU = "Your balance is £42.50. Press 1 for an agent, 2 for a choice, or 3 to finish."
GOODBYE = "Thank you for calling. Goodbye."

# Twilio's published example (twilio-voice.md, "Signature").
EXAMPLE_TOKEN = "12345"
EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLE_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
EXAMPLE_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


# --- helpers -------------------------------------------------------------------------------


def sid(n: int) -> str:
    return f"CA{n:032d}"


def params(
    call_sid: str,
    *,
    to: str = CALL_NUMBER,
    status: str = "in-progress",
    caller: str = CALLER,
    **extra: str,
) -> dict[str, str]:
    """The form parameters Twilio posts to every voice webhook, plus `extra`."""
    out = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": caller,
        "To": to,
        "Caller": caller,
        "Called": to,
        "CallStatus": status,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    out.update(extra)
    return out


def sign(url: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


def twiml(response: TestResponse) -> etree._Element:
    """A webhook answer that must be a 200 TwiML document valid against Twilio's schema."""
    body = response.get_data(as_text=True)
    assert response.status_code == 200, f"{response.status_code}: {body}"
    assert response.mimetype in ("text/xml", "application/xml"), response.mimetype
    return assert_valid_twiml(body)


def said(root: etree._Element) -> list[str]:
    """Every <Say> text in document order (gather prompts included)."""
    return [" ".join((e.text or "").split()) for e in root.iter("Say")]


def verbs(root: etree._Element) -> list[str]:
    return [child.tag for child in root]


def dialled(root: etree._Element) -> list[str]:
    return [(n.text or "").strip() for n in root.iter("Number")]


def gather_action(root: etree._Element) -> str:
    gather = root.find("Gather")
    assert gather is not None, etree.tostring(root).decode()
    return gather.get("action") or ""


def dial_action(root: etree._Element) -> str:
    dial = root.find("Dial")
    assert dial is not None, etree.tostring(root).decode()
    return dial.get("action") or ""


def stored_calls(store: Any) -> list[str]:
    """Session keys held by a store (one per live call)."""
    if isinstance(store, RedisStore):
        return sorted(k.decode() for k in store.client.scan_iter("ivr:call:*"))
    return sorted(k for k in store._data if k.startswith("ivr:call:"))


def rows(web: Any, call_sid: str) -> list[tuple[str, str, str]]:
    """(call_sid, outcome, end_status) of the call records written for `call_sid` (once the
    records queued in Redis, if any, are written)."""
    queued = getattr(web.system.recorder, "queued", None)
    deadline = time.monotonic() + 10
    while queued is not None and time.monotonic() < deadline:
        try:
            if not queued():
                break
        except redis.RedisError:
            break  # Redis is down: records were written directly
        time.sleep(0.02)
    with closing(sqlite3.connect(web.database)) as db:
        return db.execute(
            "SELECT call_sid, outcome, end_status FROM call_records WHERE call_sid = ?", (call_sid,)
        ).fetchall()


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def plans_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plans"
    folder.mkdir()
    for name in ("web_call.yaml", "web_plain.yaml"):
        shutil.copy(PLANS / name, folder / name)
    return folder


@pytest.fixture
def service(http_server: LoopbackServer) -> LoopbackServer:
    """The data connector's web service: POST /lookup answers a balance."""
    http_server.route("POST", "/lookup", body={"balance": "42.50"})
    return http_server


@dataclass
class Web:
    app: Flask
    client: FlaskClient
    database: Path

    @property
    def system(self) -> Any:
        return self.app.extensions["ivr"]

    def post(
        self,
        path: str,
        form: dict[str, str],
        *,
        signed_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        """POST a webhook as Twilio does (signed for `signed_url` when given)."""
        sent = dict(headers or {})
        if signed_url is not None:
            sent.update(sign(signed_url, form))
        return self.client.post(path, data=form, headers=sent)


@pytest.fixture
def make_web(
    tmp_path: Path, plans_dir: Path, clock: Clock, service: LoopbackServer
) -> Iterator[Callable[..., Web]]:
    """Build the app from settings; recorders and HTTP sessions are closed afterwards."""
    built: list[tuple[Web, requests.Session]] = []

    def build(*, store: Any = None, **overrides: Any) -> Web:
        database = tmp_path / "calls.sqlite3"
        settings = Settings(
            callplans=plans_dir,
            database_url=f"sqlite:///{database}",
            secrets={"SERVICE_URL": service.url},
            watch_plans=False,
            account_sid=ACCOUNT,
            **overrides,
        )
        http = requests.Session()
        app = create_app(
            settings, clock=clock, store=store if store is not None else MemoryStore(), http=http
        )
        web = Web(app, app.test_client(), database)
        built.append((web, http))
        return web

    yield build
    for web, http in built:
        web.system.recorder.close()
        http.close()


@pytest.fixture
def web(make_web: Callable[..., Web]) -> Web:
    return make_web()


@pytest.fixture
def closed_redis() -> Iterator[RedisStore]:
    """A Redis store pointed at a loopback port where nothing listens."""
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    yield store
    store.client.close()


# --- signatures ----------------------------------------------------------------------------


def test_twilio_published_example_is_valid() -> None:
    app = Flask(__name__)
    path = "/myapp.php?foo=1&bar=2"
    headers = {"X-Twilio-Signature": EXAMPLE_SIGNATURE}
    with app.test_request_context(
        path, base_url="https://mycompany.com", method="POST", data=EXAMPLE_PARAMS, headers=headers
    ):
        assert request.url == EXAMPLE_URL
        assert is_valid(request, EXAMPLE_TOKEN, None)
        assert not is_valid(request, "54321", None)
    # Behind a proxy the request arrives on an internal URL; the public base is configured.
    with app.test_request_context(
        path, base_url="http://10.0.0.7:8080", method="POST", data=EXAMPLE_PARAMS, headers=headers
    ):
        assert not is_valid(request, EXAMPLE_TOKEN, None)
        assert is_valid(request, EXAMPLE_TOKEN, "https://mycompany.com")
        assert is_valid(request, EXAMPLE_TOKEN, "https://mycompany.com/")
    changed = {**EXAMPLE_PARAMS, "Digits": "1235"}
    with app.test_request_context(
        path, base_url="https://mycompany.com", method="POST", data=changed, headers=headers
    ):
        assert not is_valid(request, EXAMPLE_TOKEN, None)
    with app.test_request_context(
        path, base_url="https://mycompany.com", method="POST", data=EXAMPLE_PARAMS
    ):
        assert not is_valid(request, EXAMPLE_TOKEN, None)


def test_signed_request_passes(make_web: Callable[..., Web]) -> None:
    web = make_web(auth_token=TOKEN)
    form = params(sid(1), status="ringing")
    root = twiml(web.post("/voice", form, signed_url=f"{INTERNAL}/voice"))
    assert said(root) == [MENU]


@pytest.mark.parametrize(
    "case",
    [
        "missing header",
        "changed parameter",
        "added parameter",
        "other URL",
        "added query",
        "dropped query",
        "other token",
        "empty header",
    ],
)
def test_bad_signature_is_refused(
    make_web: Callable[..., Web], service: LoopbackServer, case: str
) -> None:
    web = make_web(auth_token=TOKEN)
    form = params(sid(2), status="ringing")
    path, url, headers = "/voice", f"{INTERNAL}/voice", sign(f"{INTERNAL}/voice", form)
    if case == "missing header":
        headers = {}
    elif case == "empty header":
        headers = {"X-Twilio-Signature": ""}
    elif case == "changed parameter":
        form = {**form, "From": "+447700900999"}
    elif case == "added parameter":
        form = {**form, "Digits": "1"}
    elif case == "other URL":
        headers = sign(f"{INTERNAL}/voice/status", form)
    elif case == "added query":
        path = "/voice?retry=1"
    elif case == "dropped query":
        path, headers = "/voice", sign(f"{url}?retry=1", form)
    elif case == "other token":
        headers = sign(url, form, token="another-token")
    response = web.client.post(path, data=form, headers=headers)
    assert response.status_code == 403
    assert web.system.engine.session(sid(2)) is None, "a refused request started a call"
    assert service.count("POST", "/lookup") == 0


@pytest.mark.parametrize("path", ["/voice/turn/1/keys", "/voice/turn/1/dial", "/voice/status"])
def test_every_voice_webhook_is_checked(make_web: Callable[..., Web], path: str) -> None:
    web = make_web(auth_token=TOKEN)
    form = params(sid(3), Digits="1", DialCallStatus="completed", CallStatus="completed")
    assert web.post(path, form).status_code == 403
    assert web.post(path, form, signed_url=f"{INTERNAL}{path}").status_code in (200, 204)


def test_health_is_not_signed(make_web: Callable[..., Web]) -> None:
    web = make_web(auth_token=TOKEN)
    response = web.client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["plans"] == ["web_call", "web_plain"]


def test_no_token_means_no_check(web: Web) -> None:
    root = twiml(web.post("/voice", params(sid(4), status="ringing")))
    assert said(root) == [MENU]


@pytest.mark.parametrize("public_url", [None, PUBLIC])
def test_simulated_call_with_signatures_completes(
    tmp_path: Path, plans_dir: Path, service: LoopbackServer, public_url: str | None
) -> None:
    """The simulator signs like Twilio (for the public URL when one is configured)."""
    settings = Settings(
        callplans=plans_dir,
        database_url=f"sqlite:///{tmp_path}/sim.sqlite3",
        secrets={"SERVICE_URL": service.url},
        auth_token=TOKEN,
        public_url=public_url,
        watch_plans=False,
    )
    with requests.Session() as http:
        phone = LocalPhone(settings, http=http)
        try:
            report = phone.call(CALL_NUMBER, CALLER, ["1"])
        finally:
            phone.system.recorder.close()
    errors = [e.text for e in report.result.events if e.kind == "error"]
    assert errors == []
    assert report.heard() == [MENU, "Connecting you to an agent.", GOODBYE]
    assert report.outcome == "Done"
    assert report.path == [("lookup", "next"), ("menu", "1"), ("agent", "next"), ("goodbye", "end")]


def test_public_url_is_the_signed_url(make_web: Callable[..., Web]) -> None:
    web = make_web(auth_token=TOKEN, public_url=PUBLIC)
    form = params(sid(5), status="ringing")
    assert web.post("/voice", form, signed_url=f"{INTERNAL}/voice").status_code == 403
    root = twiml(web.post("/voice", form, signed_url=f"{PUBLIC}/voice"))
    assert said(root) == [MENU]
    action = gather_action(root)
    assert action.startswith(f"{PUBLIC}/voice/turn/")  # absolute under the public URL
    turn = urlsplit(action).path
    keys = params(sid(5), Digits="3")
    assert web.post(turn, keys, signed_url=f"{INTERNAL}{turn}").status_code == 403
    assert said(twiml(web.post(turn, keys, signed_url=action))) == [GOODBYE]


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com"}


def test_trusted_proxy_headers_give_the_signed_url(make_web: Callable[..., Web]) -> None:
    web = make_web(auth_token=TOKEN, trust_proxy=True)
    form = params(sid(6), status="ringing")
    refused = web.post("/voice", form, signed_url=f"{INTERNAL}/voice", headers=FORWARDED)
    assert refused.status_code == 403
    root = twiml(web.post("/voice", form, signed_url=f"{PUBLIC}/voice", headers=FORWARDED))
    assert said(root) == [MENU]
    with_port = twiml(web.post("/voice", form, signed_url=f"{PUBLIC}:443/voice", headers=FORWARDED))
    assert said(with_port) == [MENU]  # Twilio may sign with or without the default port


def test_trusted_prefix_is_kept_in_signature_and_turn_urls(make_web: Callable[..., Web]) -> None:
    web = make_web(auth_token=TOKEN, trust_proxy=True)
    form = params(sid(8), status="ringing")
    headers = {**FORWARDED, "X-Forwarded-Prefix": "/ivr"}
    assert (
        web.post("/voice", form, signed_url=f"{PUBLIC}/voice", headers=headers).status_code == 403
    )
    root = twiml(web.post("/voice", form, signed_url=f"{PUBLIC}/ivr/voice", headers=headers))
    assert gather_action(root) == "/ivr/voice/turn/1/keys"


def test_turn_urls_stay_under_a_public_base_with_a_path(make_web: Callable[..., Web]) -> None:
    """Twilio resolves the `action` it is given against the URL it requested; a relative
    `/voice/...` would drop the path of a public base such as https://host/ivr."""
    base = f"{PUBLIC}/ivr"
    web = make_web(auth_token=TOKEN, public_url=base)
    root = twiml(web.post("/voice", params(sid(9), status="ringing"), signed_url=f"{base}/voice"))
    twilio_requests = urljoin(f"{base}/voice", gather_action(root))
    assert twilio_requests == f"{base}/voice/turn/1/keys"


def test_proxy_headers_are_ignored_unless_trusted(make_web: Callable[..., Web]) -> None:
    web = make_web(auth_token=TOKEN)
    form = params(sid(7), status="ringing")
    spoofed = web.post("/voice", form, signed_url=f"{PUBLIC}/voice", headers=FORWARDED)
    assert spoofed.status_code == 403
    root = twiml(web.post("/voice", form, signed_url=f"{INTERNAL}/voice", headers=FORWARDED))
    assert said(root) == [MENU]


# --- repeated webhooks ---------------------------------------------------------------------


def test_repeated_incoming_call_is_answered_once(
    make_web: Callable[..., Web], store: Any, service: LoopbackServer
) -> None:
    web = make_web(store=store)
    form = params(sid(10), status="ringing")
    first = web.post("/voice", form)
    history = web.system.engine.session(sid(10)).history
    second = web.post("/voice", form)
    assert said(twiml(first)) == [MENU]
    assert second.get_data() == first.get_data()
    twiml(second)
    assert stored_calls(store) == [f"ivr:call:{sid(10)}"]
    session = web.system.engine.session(sid(10))
    assert session.turn == 1
    assert session.history == history
    assert service.count("POST", "/lookup") == 1


def test_repeated_key_press_is_answered_once(
    make_web: Callable[..., Web], store: Any, service: LoopbackServer
) -> None:
    web = make_web(store=store)
    turn = gather_action(twiml(web.post("/voice", params(sid(11), status="ringing"))))
    assert turn == "/voice/turn/1/keys"
    form = params(sid(11), Digits="1", FinishedOnKey="")
    first = web.post(turn, form)
    history = web.system.engine.session(sid(11)).history
    second = web.post(turn, form)
    root = twiml(first)
    assert said(root) == ["Connecting you to an agent."]
    assert dialled(root) == [AGENT]
    assert second.get_data() == first.get_data()
    twiml(second)
    session = web.system.engine.session(sid(11))
    assert session.history == history
    assert [step[:2] for step in history] == [["lookup", "next"], ["menu", "1"]]
    assert session.turn == 2
    assert service.count("POST", "/lookup") == 1


def test_repeated_dial_action_is_answered_once(make_web: Callable[..., Web], store: Any) -> None:
    web = make_web(store=store)
    turn = gather_action(twiml(web.post("/voice", params(sid(12), status="ringing"))))
    dial = dial_action(twiml(web.post(turn, params(sid(12), Digits="1"))))
    assert dial == "/voice/turn/2/dial"
    form = params(
        sid(12), DialCallStatus="completed", DialCallSid="CA" + "d" * 32, DialCallDuration="42"
    )
    first = web.post(dial, form)
    history = web.system.engine.session(sid(12)).history
    second = web.post(dial, form)
    root = twiml(first)
    assert said(root) == [GOODBYE]
    assert verbs(root) == ["Say", "Hangup"]
    assert second.get_data() == first.get_data()
    twiml(second)
    assert web.system.engine.session(sid(12)).history == history
    assert [step[:2] for step in history] == [
        ["lookup", "next"],
        ["menu", "1"],
        ["agent", "next"],
        ["goodbye", "end"],
    ]
    assert rows(web, sid(12)) == [(sid(12), "Done", "completed")]


@pytest.mark.parametrize("when", ["mid-call", "after the plan hung up"])
def test_repeated_status_callback_writes_one_record(
    make_web: Callable[..., Web], store: Any, when: str
) -> None:
    web = make_web(store=store)
    turn = gather_action(twiml(web.post("/voice", params(sid(13), status="ringing"))))
    if when != "mid-call":
        assert said(twiml(web.post(turn, params(sid(13), Digits="3")))) == [GOODBYE]
    form = params(sid(13), status="completed", CallDuration="31")
    first = web.post("/voice/status", form)
    second = web.post("/voice/status", form)
    assert (first.status_code, second.status_code) == (204, 204)
    outcome = "Abandoned" if when == "mid-call" else "Done"
    assert rows(web, sid(13)) == [(sid(13), outcome, "completed")]
    assert stored_calls(store) == []
    record = web.system.recorder.find(sid(13))
    assert record is not None
    last = ("menu", "caller_hung_up") if when == "mid-call" else ("goodbye", "end")
    assert (record.path[-1].applet, record.path[-1].outcome) == last


# --- robustness ----------------------------------------------------------------------------


def test_unknown_number_hears_a_polite_message(web: Web) -> None:
    root = twiml(web.post("/voice", params(sid(20), to="+449999999999", status="ringing")))
    assert verbs(root) == ["Say", "Hangup"]
    assert "not in service" in said(root)[0]
    assert web.system.engine.session(sid(20)) is None


def test_applet_error_goes_to_the_plan_fallback(web: Web) -> None:
    """bad_choice's choice count ("lots") is not a number: the applet raises on entry."""
    turn = gather_action(twiml(web.post("/voice", params(sid(21), status="ringing"))))
    root = twiml(web.post(turn, params(sid(21), Digits="2")))
    assert said(root) == ["Sorry, something went wrong."]
    assert dialled(root) == [AGENT_LINE]
    path = [step[:2] for step in web.system.engine.session(sid(21)).history]
    assert path[-2:] == [["menu", "2"], ["bad_choice", "error"]]


@pytest.mark.parametrize("number, fallback", [(CALL_NUMBER, AGENT_LINE), (PLAIN_NUMBER, None)])
def test_engine_failure_is_an_apology(
    web: Web, monkeypatch: pytest.MonkeyPatch, number: str, fallback: str | None
) -> None:
    turn = gather_action(twiml(web.post("/voice", params(sid(22), to=number, status="ringing"))))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(web.system.engine, "keys", broken)
    root = twiml(web.post(turn, params(sid(22), to=number, Digits="1")))
    assert said(root) and "Sorry" in said(root)[0]
    assert dialled(root) == ([fallback] if fallback else [])
    assert verbs(root)[-1] == "Hangup"


@pytest.mark.parametrize("number, fallback", [(CALL_NUMBER, AGENT_LINE), (PLAIN_NUMBER, None)])
def test_store_down_is_an_apology(
    make_web: Callable[..., Web], closed_redis: RedisStore, number: str, fallback: str | None
) -> None:
    web = make_web(store=closed_redis)
    returns = []
    for path, extra in [
        ("/voice", {"CallStatus": "ringing"}),
        ("/voice/turn/1/keys", {"Digits": "1"}),
        ("/voice/turn/2/dial", {"DialCallStatus": "completed"}),
    ]:
        root = twiml(web.post(path, params(sid(23), to=number, **extra)))
        assert said(root) and "Sorry" in said(root)[0], path
        assert dialled(root) == ([fallback] if fallback else []), path
        assert verbs(root)[-1] == "Hangup", path
        if fallback:
            returns.append(dial_action(root))
    # liveness touches no dependency; readiness names the store (operations.md "Probes")
    assert web.client.get("/health").get_json()["status"] == "ok"
    ready = web.client.get("/ready")
    assert ready.status_code == 503
    assert ready.get_json()["status"] == "unavailable"
    assert ready.get_json()["checks"]["store"] not in ("ok", None)
    for after in returns:  # where Twilio goes when the agent line hangs up: end the call
        back = web.post(after, params(sid(23), to=number, DialCallStatus="completed"))
        assert verbs(twiml(back)) == ["Hangup"]


@pytest.mark.parametrize(
    "path, extra",
    [
        ("/voice/turn/1/keys", {"Digits": "1"}),
        ("/voice/turn/3/keys", {"Digits": ""}),
        ("/voice/turn/2/dial", {"DialCallStatus": "completed", "DialCallDuration": "10"}),
        ("/voice/turn/2/queue", {"QueueResult": "bridged"}),
    ],
)
def test_webhook_for_unknown_call_is_twiml(web: Web, path: str, extra: dict[str, str]) -> None:
    root = twiml(web.post(path, params(sid(24), **extra)))
    assert verbs(root)[-1] == "Hangup"
    assert said(root)


def test_status_for_unknown_call_is_204_and_recorded(web: Web) -> None:
    """A call whose session is gone (expired, or a store that lost its data) is still on
    record; a repeated callback does not record it twice."""
    for _ in range(2):
        response = web.post("/voice/status", params(sid(25), status="completed", CallDuration="3"))
        assert response.status_code == 204
    assert rows(web, sid(25)) == [(sid(25), "SessionLost", "completed")]
    web.post("/voice/status", params(sid(27), to="+449999000000", status="completed"))
    assert rows(web, sid(27)) == [(sid(27), "NotInService", "completed")]


def test_a_turn_for_a_lost_session_reaches_the_emergency_line(make_web: Callable[..., Web]) -> None:
    web = make_web(emergency_number=EMERGENCY)
    root = twiml(web.post("/voice/turn/3/keys", params(sid(28), to=PLAIN_NUMBER, Digits="1")))
    assert said(root) and "Transferring you to an agent" in said(root)[0]
    assert dialled(root) == [EMERGENCY]


def test_non_final_status_is_204(web: Web) -> None:
    twiml(web.post("/voice", params(sid(26), status="ringing")))
    assert web.post("/voice/status", params(sid(26), status="in-progress")).status_code == 204
    assert web.system.engine.session(sid(26)) is not None
    assert rows(web, sid(26)) == []


EMERGENCY = "+442071230911"


def test_store_down_reaches_the_emergency_number_whatever_the_fallback(
    make_web: Callable[..., Web], closed_redis: RedisStore
) -> None:
    """The plain plan's fallback is a hang-up: with `emergency_number` configured the caller
    still reaches an agent when no session can be had; a transfer fallback keeps its line."""
    web = make_web(store=closed_redis, emergency_number=EMERGENCY)
    for number, line in [(PLAIN_NUMBER, EMERGENCY), (CALL_NUMBER, AGENT_LINE)]:
        root = twiml(web.post("/voice", params(sid(40), to=number, status="ringing")))
        assert said(root) and "Transferring you to an agent" in said(root)[0]
        assert dialled(root) == [line]


def test_store_down_status_callback_still_records_the_call(
    make_web: Callable[..., Web], closed_redis: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    web = make_web(store=closed_redis)
    with caplog.at_level(logging.ERROR):
        response = web.post(
            "/voice/status", params(sid(41), to=PLAIN_NUMBER, status="completed", CallDuration="42")
        )
    assert response.status_code == 204
    assert rows(web, sid(41)) == [(sid(41), "SessionLost", "completed")]
    record = web.system.recorder.find(sid(41))
    assert (record.plan_id, record.clid, record.ddi) == ("web_plain", CALLER, PLAIN_NUMBER)
    started, ended = (datetime.fromisoformat(t) for t in (record.started_at, record.ended_at))
    assert (ended - started).total_seconds() == 42
    assert "recording the call from the callback" in caplog.text
    assert "Traceback" not in caplog.text
