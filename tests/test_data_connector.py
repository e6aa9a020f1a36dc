"""data_connector through the engine's turn API, against a real HTTP server on loopback.

The plans live in tests/plans/dc_*.yaml with `ApiUrl: http://api.invalid`; each test loads the
plan text with that constant pointed at its own server (or at a refused port).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from lxml import etree

from ivr.adapters.twiml import render
from tests.conftest import LoopbackServer, Reply, Seen
from tests.driver import CallDriver, Gather, spoken

PLANS = Path(__file__).resolve().parent / "plans"
PLACEHOLDER = "http://api.invalid"
XSD = (
    Path(__file__).resolve().parent
    / "twiml-xsd"  # the vendored copy (see test_twiml)
    / "twiml_v20100401_twilioRealtimeCallSchema.xsd"
)
TOKEN = "tok-5ecret-Zq81"
CALLER = "+447700900123"

Run = Callable[..., CallDriver]


def plan_text(name: str, url: str) -> str:
    text = (PLANS / f"{name}.yaml").read_text(encoding="utf-8")
    assert PLACEHOLDER in text, f"{name}.yaml must set ApiUrl: {PLACEHOLDER}"
    return text.replace(PLACEHOLDER, url)


@pytest.fixture
def run(
    make_engine: Callable[..., Any], call: Callable[..., CallDriver], request: pytest.FixtureRequest
) -> Run:
    """Start a call on plan `name` with its ApiUrl at `url` (default: the `http_server`)."""

    def start(
        name: str,
        *,
        url: str | None = None,
        secrets: dict[str, str] | None = None,
        caller: str = CALLER,
    ) -> CallDriver:
        url = url or request.getfixturevalue("http_server").url
        engine = make_engine(plan_text(name, url), secrets=secrets)
        return call(engine, plan_id=name, caller=caller)

    return start


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of a test so that slow handlers return instead of lingering."""
    event = threading.Event()
    yield event
    event.set()


def empty(value: Any) -> bool:
    return value in (None, "")


def json_reply(text: str, status: int = 200) -> Callable[[Seen], Reply]:
    """A raw JSON body, byte for byte (json.dumps would turn 42.50 into 42.5)."""
    return lambda _: (status, {"Content-Type": "application/json"}, text)


def sequence(*replies: Reply) -> Callable[[Seen], Reply]:
    """Answer with each reply in turn, then keep repeating the last one."""
    count = iter(range(10**6))

    def reply(_: Seen) -> Reply:
        return replies[min(next(count), len(replies) - 1)]

    return reply


# --- JSON ------------------------------------------------------------------------------------

ACCOUNT_JSON = """{
  "account": {
    "id": "A1",
    "balance": 42.50,
    "count": 3,
    "holder": {"name": "Ann Lee"},
    "bills": [
      {"amount": 30.00, "due": "2026-12-01"},
      {"amount": 12.50, "due": "2027-01-05"}
    ]
  }
}"""


def test_json_fields_by_dots_and_index_are_spoken(run: Run, http_server: LoopbackServer):
    http_server.handle("GET", "/account", json_reply(ACCOUNT_JSON))
    d = run("dc_json")
    assert d.heard == [
        "Account A1 for Ann Lee. Balance 42.50, £42.50.",
        "Count 3. Missing [] []. Status 200.",
        "You have 2 bills.",
        "Bill 1: £30 due Tuesday 1 December.",
        "Bill 2: £12.50 due Tuesday 5 January 2027.",
        "Goodbye.",
    ]
    assert d.ended
    assert d.path == [
        ("lookup", "next"),
        ("read_out", "next"),
        ("bills", "next"),
        ("goodbye", "end"),
    ]
    data = d.data
    assert data["AccountId"] == "A1"
    assert data["Balance"] == "42.50"  # exact, never a float
    assert data["FirstBill"] == "30.00"
    assert data["SecondDue"] == "2027-01-05"
    assert data["Holder"] == "Ann Lee"
    assert str(data["Count"]) == "3"
    assert empty(data.get("Missing")) and empty(data.get("OutOfRange"))
    # a locator that matches nothing is recorded as missing, saying which
    assert "Missing (no match for account.nothing.here)" in d.session.missing
    assert "OutOfRange (no match for account.bills[9].amount)" in d.session.missing
    assert not any(m.startswith(("Balance", "AccountId")) for m in d.session.missing)
    assert [b["due"] for b in data["Bills"]] == ["2026-12-01", "2027-01-05"]
    assert data["Whole"]["account"]["id"] == "A1"
    assert data["Whole"]["account"]["holder"] == {"name": "Ann Lee"}
    assert str(data["LookupStatus"]) == "200"
    assert empty(data["LastError"])
    assert http_server.count("GET", "/account") == 1
    # a repeated start webhook gets the same answer without a second request
    assert d.engine.start_call(d.call_sid, caller=CALLER, plan_id="dc_json") == d.last
    assert http_server.count("GET", "/account") == 1


def test_json_malformed_on_200_is_a_failure(run: Run, http_server: LoopbackServer):
    http_server.handle("GET", "/account", json_reply('{"account": {"id": "A1",'))
    d = run("dc_json")
    assert d.heard == ["Sorry, the service failed."]
    assert d.path == [("lookup", "failure"), ("failed", "end")]
    assert "JSON" in d.data["LastError"]
    assert d.data["InteractionOutcome"] == "ServiceFailed"


def test_json_empty_200_is_next_with_empty_fields(run: Run, http_server: LoopbackServer):
    http_server.route("GET", "/account", 200, "")
    d = run("dc_json")
    assert d.path == [
        ("lookup", "next"),
        ("read_out", "next"),
        ("bills", "next"),
        ("goodbye", "end"),
    ]
    assert d.heard[0] == "Account  for . Balance , ."
    assert d.heard[1:] == ["Count . Missing [] []. Status 200.", "You have 0 bills.", "Goodbye."]
    for name in ("AccountId", "Balance", "Holder", "FirstBill", "Bills", "Whole"):
        assert empty(d.data.get(name)), name
    assert empty(d.data["LastError"])


# --- status routes -----------------------------------------------------------------------------


STATUS_CASES = [
    (200, "OK 200.", "next"),
    (201, "OK 201.", "next"),  # no status_201 or status_2xx route: next
    (404, "Not found 404.", "status_404"),  # exact beats status_4xx
    (403, "Client error 403.", "status_4xx"),
    (409, "Client error 409.", "status_4xx"),
    (500, "Server error 500.", "status_5xx"),
    (503, "Server error 503.", "status_5xx"),
]


def test_status_routes(run: Run, http_server: LoopbackServer):
    # one call per case on one server (each http_server costs 0.5 s to shut down)
    for status, heard, outcome in STATUS_CASES:
        http_server.route("GET", "/status", status, {"name": "x"})
        d = run("dc_status")
        assert (status, d.heard) == (status, [heard])
        assert (status, d.path[0]) == (status, ("lookup", outcome))
        assert str(d.data["HttpStatus"]) == str(status)
        assert empty(d.data["LastError"])
    assert http_server.count() == len(STATUS_CASES)


def test_404_with_html_body_is_routed_by_status_not_failure(run: Run, http_server: LoopbackServer):
    http_server.route(
        "GET",
        "/status",
        404,
        "<html><body><h1>Not Found</h1></body></html>",
        headers={"Content-Type": "text/html"},
    )
    d = run("dc_status")
    assert d.heard == ["Not found 404."]
    assert d.path == [("lookup", "status_404"), ("not_found", "end")]
    assert empty(d.data.get("Name"))
    assert empty(d.data["LastError"])


def test_unrouted_status_goes_to_next(run: Run, http_server: LoopbackServer):
    statuses = [200, 204, 404, 418, 500, 503]
    for status in statuses:
        http_server.route("GET", "/status", status, "" if status == 204 else {"error": "x"})
        d = run("dc_status_plain")
        assert (status, d.heard) == (status, [f"Answered {status}."])
        assert (status, d.path) == (status, [("lookup", "next"), ("ok", "end")])
    assert http_server.count() == len(statuses)


# --- no usable answer ----------------------------------------------------------------------


def test_timeout_is_a_failure_within_the_timeout(
    run: Run, http_server: LoopbackServer, release: threading.Event
):
    def slow(_: Seen) -> Reply:
        release.wait(5)
        return 200, {"Content-Type": "application/json"}, '{"result": "late"}'

    http_server.handle("GET", "/flaky", slow)
    started = time.monotonic()
    d = run("dc_timeout")  # timeout: 0.5
    elapsed = time.monotonic() - started
    assert d.heard == ["Failed."]
    assert d.path == [("lookup", "failure"), ("failed", "end")]
    assert "timeout" in d.data["LastError"].lower()
    assert elapsed < 1.5, f"the turn took {elapsed:.2f}s for a 0.5s timeout"
    assert http_server.count() == 1


def trickling_server(release: threading.Event, length: int = 20, every: float = 0.1) -> str:
    """A one-shot server that sends its headers at once, then one body byte per `every` s."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % length
                )
                for _ in range(length):
                    if release.wait(every):
                        return
                    conn.sendall(b" ")
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_timeout_covers_a_body_that_trickles_in(run: Run, release: threading.Event):
    """`timeout` is for the whole call: a server dripping bytes must not keep the turn."""
    url = trickling_server(release)  # 20 bytes at 0.1 s each: 2 s in all
    started = time.monotonic()
    d = run("dc_timeout", url=url)  # timeout: 0.5
    elapsed = time.monotonic() - started
    assert d.path == [("lookup", "failure"), ("failed", "end")]
    assert "timeout" in d.data["LastError"].lower()
    assert elapsed < 1.5, f"the turn took {elapsed:.2f}s for a 0.5s timeout"


def test_connection_refused_is_a_failure(run: Run, refused_url: str):
    d = run("dc_status_plain", url=refused_url)
    assert d.heard == ["Failed."]
    assert d.path == [("lookup", "failure"), ("failed", "end")]
    error = d.data["LastError"].lower()
    assert "connect" in error and "refused" in error
    assert "/status" in error  # which service


def test_connection_refused_with_retries_still_fails(run: Run, refused_url: str):
    started = time.monotonic()
    d = run("dc_retry", url=refused_url)
    assert d.path == [("lookup", "failure"), ("failed", "end")]
    assert "refused" in d.data["LastError"].lower()
    assert time.monotonic() - started < 3


# --- retries -------------------------------------------------------------------------------

BUSY: Reply = (503, {"Content-Type": "application/json"}, '{"result": "busy"}')
OK: Reply = (200, {"Content-Type": "application/json"}, '{"result": "ok"}')


def test_retries_after_5xx_until_an_answer(run: Run, http_server: LoopbackServer):
    http_server.handle("GET", "/flaky", sequence(BUSY, BUSY, OK))
    d = run("dc_retry")  # retries: 2
    assert d.heard == ["Answered 200 ok."]
    assert d.path == [("lookup", "next"), ("ok", "end")]
    assert http_server.count("GET", "/flaky") == 3
    assert empty(d.data["LastError"])


def test_retries_exhausted_on_5xx_is_still_an_answer(run: Run, http_server: LoopbackServer):
    http_server.handle("GET", "/flaky", sequence(BUSY))
    d = run("dc_retry")
    assert d.heard == ["Answered 503 busy."]
    assert d.path == [("lookup", "next"), ("ok", "end")]
    assert http_server.count("GET", "/flaky") == 3


def test_no_retries_means_one_request(run: Run, http_server: LoopbackServer):
    http_server.handle("GET", "/flaky", sequence(BUSY, BUSY, OK))
    d = run("dc_no_retry")  # retries: 0
    assert d.heard == ["Answered 503 busy."]
    assert http_server.count("GET", "/flaky") == 1


def test_never_retries_on_4xx(run: Run, http_server: LoopbackServer):
    for n, status in enumerate([400, 404, 409, 429], start=1):
        http_server.handle(
            "GET",
            "/flaky",
            sequence((status, {"Content-Type": "application/json"}, '{"result": "no"}'), OK),
        )
        d = run("dc_retry")  # retries: 2
        assert (status, d.heard) == (status, [f"Answered {status} no."])
        assert (status, http_server.count("GET", "/flaky")) == (status, n)


def test_retries_after_a_timeout(run: Run, http_server: LoopbackServer, release: threading.Event):
    """Spec: `retries` are extra tries on connect error, timeout or 5xx."""
    first = threading.Event()

    def slow_then_fast(_: Seen) -> Reply:
        if not first.is_set():
            first.set()
            release.wait(5)
        return OK

    http_server.handle("GET", "/flaky", slow_then_fast)
    started = time.monotonic()
    d = run("dc_timeout_retry")  # timeout: 0.5, retries: 1
    elapsed = time.monotonic() - started
    assert http_server.count("GET", "/flaky") == 2, d.data.get("LastError")
    assert d.heard == ["Answered 200 ok."]
    assert d.path == [("lookup", "next"), ("ok", "end")]
    assert elapsed < 3


# --- XML and text ---------------------------------------------------------------------------

ACCOUNT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<account>
  <id>A1</id>
  <balance currency="GBP">42.50</balance>
  <bills>
    <bill><amount>30.00</amount></bill>
    <bill><amount>12.50</amount></bill>
  </bills>
</account>
"""


def test_xml_paths_attribute_and_repeated_elements(run: Run, http_server: LoopbackServer):
    http_server.route(
        "GET", "/account.xml", 200, ACCOUNT_XML, headers={"Content-Type": "application/xml"}
    )
    d = run("dc_xml")
    assert d.heard == [
        "Account A1, balance £42.50 in GBP, 2 bills.",
        "Bill 1: £30.",
        "Bill 2: £12.50.",
        "Goodbye.",
    ]
    assert d.path == [
        ("lookup", "next"),
        ("read_out", "next"),
        ("bills", "next"),
        ("goodbye", "end"),
    ]
    assert d.data["AccountId"] == "A1"
    assert d.data["Balance"] == "42.50"
    assert d.data["Currency"] == "GBP"
    assert d.data["Amounts"] == ["30.00", "12.50"]
    assert empty(d.data.get("Missing"))


def test_xml_malformed_on_200_is_a_failure(run: Run, http_server: LoopbackServer):
    http_server.route(
        "GET",
        "/account.xml",
        200,
        "<account><id>A1</id>",
        headers={"Content-Type": "application/xml"},
    )
    d = run("dc_xml")
    assert d.heard == ["Sorry, the service failed."]
    assert d.path == [("lookup", "failure"), ("failed", "end")]
    assert "XML" in d.data["LastError"]


def test_text_whole_body_and_regex(run: Run, http_server: LoopbackServer):
    body = "Thank you. CONFIRMED code=12345 ref=x"
    http_server.route("GET", "/confirm.txt", 200, body, headers={"Content-Type": "text/plain"})
    d = run("dc_text")
    assert d.heard == ["Your code is 1 2 3 4 5."]
    assert d.path == [("confirm", "next"), ("read_out", "end")]
    assert d.data["Whole"] == body
    assert d.data["Code"] == "12345"  # the first group when there is one
    assert d.data["Word"] == "CONFIRMED"  # else the whole match
    assert empty(d.data.get("Missing"))


def test_utf8_bodies_without_a_charset_are_read_as_utf8(run: Run, http_server: LoopbackServer):
    """Services often send UTF-8 as text/plain or text/xml with no charset parameter."""
    http_server.route(
        "GET",
        "/confirm.txt",
        200,
        "Zoë Crème code=12345".encode(),
        headers={"Content-Type": "text/plain"},
    )
    d = run("dc_text")
    assert d.data["Whole"] == "Zoë Crème code=12345"
    http_server.route(
        "GET",
        "/account.xml",
        200,
        ACCOUNT_XML.replace("A1", "Zoë").encode(),
        headers={"Content-Type": "text/xml"},
    )
    d = run("dc_xml")
    assert d.data["AccountId"] == "Zoë"
    assert d.heard[0].startswith("Account Zoë, ")


# --- building the request ------------------------------------------------------------------


def payment_routes(server: LoopbackServer) -> None:
    server.handle(
        "POST", "/payments", json_reply('{"id": "P77", "marker": "resp-body-json-7731"}', 201)
    )
    server.route("PUT", "/payments/P77", 200, "resp-body-put-7732")
    server.route("PATCH", "/payments/P77/note", 200, "resp-body-patch-7733")
    server.route("DELETE", "/payments/P77", 204, "")


def test_request_method_query_headers_and_bodies(run: Run, http_server: LoopbackServer):
    payment_routes(http_server)
    d = run("dc_request", secrets={"TOKEN": TOKEN})
    assert d.heard == ["Payment P77 recorded."]
    assert d.path == [
        ("setup", "next"),
        ("post_json", "next"),
        ("put_form", "next"),
        ("patch_raw", "next"),
        ("delete_it", "next"),
        ("done", "end"),
    ]
    sid = d.call_sid
    post, put, patch, delete = http_server.seen
    # POST with URL-encoded query, headers (the secret rendered) and a JSON body
    assert post.method == "POST"
    url = urlsplit(post.path)
    assert url.path == "/payments"
    assert parse_qs(url.query) == {"phone": [CALLER], "q": ["a b&c=d/é"]}
    assert "phone=%2B447700900123" in url.query
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert post.headers["X-Call"] == sid
    assert post.headers["Content-Type"].startswith("application/json")
    body = json.loads(post.body, parse_float=Decimal)
    assert body.pop("limit") is not None  # exactness: test_json_body_numbers_stay_decimal
    assert body == {
        "amount": "42.50",
        "reference": sid,
        "caller": {"number": CALLER},
        "tags": ["ivr", "dc_request"],
        "count": 3,
        "final": True,
    }
    # PUT with a form body (method written in lower case in the plan)
    assert put.method == "PUT" and put.path == "/payments/P77"
    assert put.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert parse_qs(put.body.decode()) == {"amount": ["42.50"], "note": [f"paid by {CALLER} & co"]}
    # PATCH with a raw body and the plan's Content-Type
    assert patch.method == "PATCH" and patch.path == "/payments/P77/note"
    assert patch.body == f"Payment P77 of 42.50 for {sid}".encode()
    assert patch.headers["Content-Type"] == "text/plain"
    # DELETE with no body
    assert delete.method == "DELETE" and delete.path == "/payments/P77"
    assert delete.body == b""


def test_json_body_numbers_stay_decimal(run: Run, http_server: LoopbackServer):
    """Money is decimal, never float: a number written in a json body is sent as written."""
    payment_routes(http_server)
    run("dc_request", secrets={"TOKEN": TOKEN})
    body = json.loads(http_server.seen[0].body, parse_float=Decimal)
    assert body["limit"] == Decimal("12345678901234567.89"), http_server.seen[0].body


def test_secret_is_sent_but_never_stored_or_logged(
    run: Run, http_server: LoopbackServer, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    payment_routes(http_server)
    d = run("dc_request", secrets={"TOKEN": TOKEN})
    assert http_server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert http_server.seen[1].headers["Authorization"] == f"Bearer {TOKEN}"
    stored = d.engine.store.get(d.call_sid)
    assert stored and d.call_sid in str(stored)
    assert TOKEN not in str(stored)
    d.hangup()
    assert TOKEN not in repr(d.record())
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_missing_secret_fails_without_a_request(run: Run, http_server: LoopbackServer):
    payment_routes(http_server)
    d = run("dc_request", secrets={})
    assert d.heard == ["Sorry, the payment service failed."]
    assert d.path == [("setup", "next"), ("post_json", "failure"), ("failed", "end")]
    assert "TOKEN" in d.data["LastError"]
    assert http_server.seen == []


# --- logging -------------------------------------------------------------------------------


def test_log_shows_method_url_and_status_only(
    run: Run, http_server: LoopbackServer, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    payment_routes(http_server)
    d = run("dc_request", secrets={"TOKEN": TOKEN})
    assert d.heard == ["Payment P77 recorded."]
    # urllib3 logs every request line at DEBUG, query string included: that is not the
    # connector's own log (see the report); everything else must keep to the contract.
    messages = [r.getMessage() for r in caplog.records if not r.name.startswith("urllib3")]
    text = "\n".join(messages)
    base = http_server.url
    for method, path, status in [
        ("POST", "/payments", "201"),
        ("PUT", "/payments/P77", "200"),
        ("PATCH", "/payments/P77/note", "200"),
        ("DELETE", "/payments/P77", "204"),
    ]:
        assert any(method in m and f"{base}{path}" in m and status in m for m in messages), (
            f"no log line with {method} {base}{path} {status} in:\n{text}"
        )
    for secret in [
        "phone=",
        "%2B447700900123",
        "a b&c=d",
        "a+b%26c",  # query string and its values
        '"amount"',
        "paid by",
        "Payment P77 of",  # request bodies (json, form, raw)
        "resp-body-json-7731",
        "resp-body-put-7732",
        "resp-body-patch-7733",  # responses
        TOKEN,
    ]:
        assert secret not in text, f"{secret!r} was logged:\n{text}"
    # the HTTP library's own DEBUG lines count too: an operator who turns DEBUG on must not
    # get callers' numbers from query strings in the log
    lib = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("urllib3"))
    for secret in ["phone=", "%2B447700900123", "a+b%26c"]:
        assert secret not in lib, f"{secret!r} was logged by urllib3:\n{lib}"


# --- repeated webhooks ---------------------------------------------------------------------


class Urls:
    """Where Twilio reports back (the web app's routes, as far as TwiML is concerned)."""

    def keys(self, turn: int) -> str:
        return f"https://ivr.example.com/calls/keys?turn={turn}"

    def dial(self, turn: int) -> str:
        return f"https://ivr.example.com/calls/dial?turn={turn}"

    def queue(self, turn: int) -> str:
        return f"https://ivr.example.com/calls/queue?turn={turn}"


def test_repeated_keys_webhook_does_not_call_the_service_twice(
    run: Run, http_server: LoopbackServer
):
    http_server.handle("GET", "/accounts/12345678", json_reply('{"balance": 42.50}'))
    d = run("dc_repeat")
    assert isinstance(d.waiting, Gather)
    engine, sid, turn = d.engine, d.call_sid, d.last.turn

    first = engine.keys(sid, turn, "12345678", "#")
    again = engine.keys(sid, turn, "12345678", "#")

    assert http_server.count("GET", "/accounts/12345678") == 1
    assert spoken(first.actions) == [
        "Your balance is £42.50.",
        "Press 1 to pay now, or 2 to hear it again.",
    ]
    assert isinstance(first.actions[-1], Gather)
    assert again == first
    twiml = render(first, Urls())
    assert render(again, Urls()) == twiml
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    schema.assertValid(etree.fromstring(twiml.encode()))
    assert [a for a, _ in d.path] == ["ask_account", "lookup", "balance"]
    assert d.data["Balance"] == "42.50"

    # the call goes on normally from the turn after
    after = engine.keys(sid, first.turn, "1", "")
    assert spoken(after.actions) == ["Goodbye."] and after.ended
    assert http_server.count() == 1


def test_concurrent_duplicate_keys_webhooks_call_the_service_once(
    run: Run, http_server: LoopbackServer
):
    """Twilio may retry while the first delivery is still waiting for the web service."""

    def slow(_: Seen) -> Reply:
        time.sleep(0.3)
        return 200, {"Content-Type": "application/json"}, '{"balance": 42.50}'

    http_server.handle("GET", "/accounts/12345678", slow)
    d = run("dc_repeat")
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(d.engine.keys, d.call_sid, d.last.turn, "12345678", "#") for _ in range(2)
        ]
        first, again = (f.result(timeout=10) for f in futures)
    assert first == again
    assert spoken(first.actions)[0] == "Your balance is £42.50."
    assert render(first, Urls()) == render(again, Urls())
    assert http_server.count("GET", "/accounts/12345678") == 1


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError(
            "HTTPConnectionPool(host='h', port=81): Max retries exceeded with "
            "url: /a?key=s3cr3tKEY&phone=%2B447700900123 (Caused by ...)"
        ),
        requests.exceptions.InvalidURL("Invalid URL 'http://h/a?key=s3cr3tKEY': no host"),
        requests.exceptions.ChunkedEncodingError("Connection broken: /a?key=s3cr3tKEY"),
    ],
)
def test_failure_reasons_never_carry_the_url(exc: Exception) -> None:
    """LastError is spoken, stored and logged: it must not repeat the request's query string,
    where secrets and the caller's number travel."""
    from applets.data_connector import _reason

    reason = _reason(exc)
    assert "s3cr3t" not in reason and "447700900123" not in reason and "?" not in reason


@pytest.mark.parametrize(
    ("answer", "heard"),
    [
        # "120.00" > "5" is false as text: typed at the locator, it compares as a number
        (
            '{"account": {"total_due": "120.00", "due": "2026-12-04", "closed": "no"}}',
            "You owe £120, due Friday 4 December.",
        ),
        (
            '{"account": {"total_due": "£72.50", "due": "2026-12-04T00:00:00Z", "closed": false}}',
            "You owe £72.50, due Friday 4 December.",
        ),
        (
            '{"account": {"total_due": 4.99, "due": "2026-12-04", "closed": false}}',
            "You have nothing to pay.",
        ),
        (
            '{"account": {"total_due": "12", "due": "2026-12-04", "closed": "yes"}}',
            "Your account is closed.",
        ),
        # not an amount: null, recorded as missing, and routed by is_null (never "nothing due")
        (
            '{"account": {"total_due": "N/A", "due": "2026-12-04", "closed": false}}',
            "Sorry, we cannot read your account.",
        ),
        ('{"account": {"due": "2026-12-04"}}', "Sorry, we cannot read your account."),
    ],
)
def test_values_typed_at_the_locator_compare_in_their_type(
    run: Run, http_server: LoopbackServer, answer: str, heard: str
) -> None:
    http_server.handle("GET", "/account", json_reply(answer))
    d = run("dc_typed")
    assert d.heard == [heard]


def test_a_value_not_of_its_declared_type_is_recorded_as_missing(
    run: Run, http_server: LoopbackServer
) -> None:
    answer = '{"account": {"total_due": "N/A", "due": "soon", "closed": "maybe"}}'
    http_server.handle("GET", "/account", json_reply(answer))
    d = run("dc_typed")
    assert d.data["Balance"] is None and d.data["DueDate"] is None and d.data["Closed"] is None
    assert d.session.missing == [
        "Balance (not an amount at account.total_due)",
        "DueDate (not a date at account.due)",
        "Closed (not a boolean at account.closed)",
    ]


def test_typed_values_are_kept_as_exact_text(run: Run, http_server: LoopbackServer) -> None:
    answer = '{"account": {"total_due": 1E+3, "due": "2026-12-04", "closed": 0}}'
    http_server.handle("GET", "/account", json_reply(answer))
    d = run("dc_typed")
    assert d.data["Balance"] == "1000" and d.data["DueDate"] == "2026-12-04"
    assert d.data["Closed"] is False


def test_unrouted_status_outcomes_are_passed_over_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """status_200 and status_2xx are tried before next; where this applet routes neither (but
    another applet routes status_200), no log line may say so: it would be noise in every
    call's logs."""
    from ivr.engine.loader import load_text
    from ivr.engine.machine import PlanMachine

    plan, _ = load_text(
        "plan: p\nstart: first\napplets:\n"
        "  first:\n    type: data_connector\n    request: {url: 'https://x.example/a'}\n"
        "    timeout: 2\n    next: second\n    on: {failure: done}\n"
        "  second:\n    type: data_connector\n    request: {url: 'https://x.example/b'}\n"
        "    timeout: 2\n    next: done\n    on: {status_200: done, failure: done}\n"
        "  done:\n    type: hangup\n"
    )
    machine = PlanMachine(plan)
    with caplog.at_level(logging.DEBUG):
        assert machine.pick("first", ("status_200", "status_2xx", "next")) == ("next", "second")
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == [], [r.getMessage() for r in noisy]
