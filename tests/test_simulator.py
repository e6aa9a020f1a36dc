"""The call simulator plays Twilio: each TwiML rule of twilio-voice.md is checked in isolation by
pointing TwilioSimulator at a tiny Flask app that answers hand-written TwiML documents."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request
from lxml import etree
from twilio.request_validator import RequestValidator

from ivr.app.local_phone import CallReport, LocalPhone
from ivr.app.settings import Destination, Settings
from ivr.phone import CallResult, KeySource, SimClock, TwilioSimulator
from ivr.phone.transport import FlaskTransport
from ivr.tools.scenario_report import run_files
from tests.conftest import EXAMPLES, ROOT, LoopbackServer, Seen
from tests.test_twiml import assert_valid_twiml, demo_services

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CALLER = "+447700900123"
NUMBER = "+441000000000"
ALWAYS = ("CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "ApiVersion")

Reply = str | tuple[int, str] | Callable[[dict[str, str]], "str | tuple[int, str]"]


def doc(*verbs: str) -> str:
    """A TwiML document from verb strings."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"


@dataclass
class Hit:
    """One request the simulator made."""

    method: str
    path: str  # with the query string
    url: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeTwiml:
    """A Flask app answering each path with a fixed TwiML document (or a function of the form).
    `/voice/status` and `/child/status` answer 204; any other path not in `routes` is a 404."""

    routes: dict[str, Reply]
    hits: list[Hit] = field(default_factory=list)

    def app(self) -> Flask:
        app = Flask(__name__)

        @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
        @app.route("/<path:path>", methods=["GET", "POST"])
        def answer(path: str) -> Response:
            query = request.query_string.decode()
            full = "/" + path + (f"?{query}" if query else "")
            form = request.form.to_dict(flat=True)
            self.hits.append(
                Hit(request.method, full, request.url, form, dict(request.headers.items()))
            )
            reply = self.routes.get(full, self.routes.get("/" + path))
            if reply is None:
                if path.endswith("status"):
                    return Response("", status=204)
                return Response("not found", status=404)
            if callable(reply):
                reply = reply(form)
            status, body = reply if isinstance(reply, tuple) else (200, reply)
            return Response(body, status=status, mimetype="text/xml")

        return app

    def to(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


@dataclass
class Run:
    result: CallResult
    fake: FakeTwiml
    clock: SimClock

    @property
    def hits(self) -> list[Hit]:
        return self.fake.hits

    def kinds(self) -> list[str]:
        return [e.kind for e in self.result.events]

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]


def simulate(
    routes: dict[str, Reply],
    keys: list[str] | None = None,
    *,
    caller: str = CALLER,
    to: str = NUMBER,
    hangup_after: int | None = None,
    **options: Any,
) -> Run:
    """Place one call against the fake app; keys are one entry per prompt ('-' = silence)."""
    fake = FakeTwiml(routes)
    clock = SimClock(START)
    simulator = TwilioSimulator(FlaskTransport(fake.app()), clock=clock, **options)
    result = simulator.call(to, caller, KeySource(list(keys or [])), hangup_after=hangup_after)
    return Run(result, fake, clock)


# --- verbs in order, end of document ---------------------------------------------------------


def test_verbs_run_in_order_and_the_end_of_the_document_hangs_up() -> None:
    run = simulate(
        {
            "/voice": doc(
                "<Say>One.</Say>",
                '<Pause length="2"/>',
                "<Play>https://example.com/chime.mp3</Play>",
                "<Say>Two.</Say>",
            )
        }
    )
    events = [(e.kind, e.text) for e in run.result.events]
    assert events[1:-1] == [
        ("say", "One."),
        ("pause", "2s"),
        ("play", "https://example.com/chime.mp3"),
        ("say", "Two."),
        ("hangup", "end of TwiML: the call is hung up"),
    ]
    assert run.kinds()[0] == "leg_start" and run.kinds()[-1] == "leg_end"
    assert run.result.ended_by == "twiml"
    assert run.paths() == ["/voice", "/voice/status"]


def test_verbs_after_hangup_are_not_run() -> None:
    run = simulate(
        {
            "/voice": doc(
                "<Say>Before.</Say>",
                "<Hangup/>",
                "<Say>After.</Say>",
                "<Redirect>/never</Redirect>",
            )
        }
    )
    assert run.result.heard() == ["Before."]
    assert "hangup" in run.kinds()
    assert run.paths() == ["/voice", "/voice/status"]


def test_say_text_is_heard_with_its_voice_and_language() -> None:
    run = simulate(
        {"/voice": doc('<Say voice="Polly.Amy" language="en-GB">  Hello\n  there. </Say>')}
    )
    say = next(e for e in run.result.events if e.kind == "say")
    assert (say.text, say.data["voice"], say.data["language"]) == (
        "Hello there.",
        "Polly.Amy",
        "en-GB",
    )


# --- Gather ------------------------------------------------------------------------------------


def test_gather_plays_its_nested_prompt_and_posts_the_digits_to_action() -> None:
    run = simulate(
        {
            "/voice": doc(
                '<Gather action="/keys" numDigits="1"><Say>Press 1.</Say></Gather>',
                "<Say>Not heard after digits.</Say>",
            ),
            "/keys": doc("<Say>Thanks.</Say>"),
        },
        ["1"],
    )
    assert run.result.heard() == ["Press 1.", "Thanks."]
    assert run.paths() == ["/voice", "/keys", "/voice/status"]
    (keys,) = run.fake.to("/keys")
    assert keys.method == "POST"
    assert keys.form["Digits"] == "1"
    assert keys.form["CallStatus"] == "in-progress"
    kinds = run.kinds()
    assert kinds.index("say") < kinds.index("prompt") < kinds.index("keys")


def test_num_digits_stops_collection_and_extra_keys_are_discarded() -> None:
    run = simulate(
        {
            "/voice": doc('<Gather action="/first" numDigits="3"/>'),
            "/first": doc('<Gather action="/second" numDigits="2"/>'),
            "/second": doc("<Hangup/>"),
        },
        ["12345", "67"],
    )
    assert run.fake.to("/first")[0].form["Digits"] == "123"
    assert run.fake.to("/first")[0].form["FinishedOnKey"] == ""
    # the discarded 4 and 5 are not carried over to the next prompt
    assert run.fake.to("/second")[0].form["Digits"] == "67"


@pytest.mark.parametrize(
    ("attributes", "entry", "digits", "finished"),
    [
        ("", "42#", "42", "#"),
        ("", "42#99", "42", "#"),
        ('finishOnKey="*"', "12*34", "12", "*"),
        ('finishOnKey="*"', "12#", "12#", ""),
        ('numDigits="3"', "123#", "123", ""),
        ('finishOnKey=""', "12#3", "12#3", ""),
    ],
)
def test_finish_on_key_ends_collection_and_is_not_part_of_digits(
    attributes: str, entry: str, digits: str, finished: str
) -> None:
    run = simulate(
        {"/voice": doc(f'<Gather action="/keys" {attributes}/>'), "/keys": doc("<Hangup/>")},
        [entry],
    )
    (keys,) = run.fake.to("/keys")
    assert (keys.form["Digits"], keys.form["FinishedOnKey"]) == (digits, finished)


def test_no_input_continues_with_the_next_verb() -> None:
    run = simulate(
        {
            "/voice": doc(
                '<Gather action="/keys" timeout="7"><Say>Press a key.</Say></Gather>',
                "<Say>We did not hear anything.</Say>",
                "<Redirect>/again</Redirect>",
            ),
            "/again": doc("<Say>Again.</Say>"),
        },
        ["-"],
    )
    assert run.result.heard() == ["Press a key.", "We did not hear anything.", "Again."]
    assert run.fake.to("/keys") == []
    assert "no_input" in run.kinds()


def test_the_finish_key_alone_is_no_input() -> None:
    run = simulate({"/voice": doc('<Gather action="/keys"/>', "<Say>Nothing.</Say>")}, ["#"])
    assert run.fake.to("/keys") == []
    assert run.result.heard() == ["Nothing."]


def test_action_on_empty_result_requests_action_with_empty_digits() -> None:
    run = simulate(
        {
            "/voice": doc(
                '<Gather action="/keys" actionOnEmptyResult="true"/>', "<Say>Not reached.</Say>"
            ),
            "/keys": doc("<Say>Empty.</Say>"),
        },
        ["-"],
    )
    (keys,) = run.fake.to("/keys")
    assert keys.form["Digits"] == ""
    assert run.result.heard() == ["Empty."]


def test_gather_action_defaults_to_the_current_document_url() -> None:
    answers = iter(
        [doc('<Gather numDigits="1"><Say>Press.</Say></Gather>'), doc("<Say>Back again.</Say>")]
    )
    run = simulate(
        {
            "/menu?step=1": lambda form: next(answers),
            "/voice": doc("<Redirect>/menu?step=1</Redirect>"),
        },
        ["5"],
    )
    assert run.paths() == ["/voice", "/menu?step=1", "/menu?step=1", "/voice/status"]
    assert run.hits[2].form["Digits"] == "5"
    assert run.result.heard() == ["Press.", "Back again."]


def test_relative_urls_resolve_against_the_current_url() -> None:
    run = simulate(
        {
            "/voice": doc("<Redirect>/app/start</Redirect>"),
            "/app/start": doc("<Redirect>next?a=1</Redirect>"),
            "/app/next": doc('<Gather action="keys" numDigits="1"/>'),
            "/app/keys": doc('<Gather action="../top" numDigits="1"/>'),
            "/top": doc("<Redirect>http://localhost/app/full</Redirect>"),
            "/app/full": doc("<Hangup/>"),
        },
        ["1", "2"],
    )
    assert run.paths() == [
        "/voice",
        "/app/start",
        "/app/next?a=1",
        "/app/keys",
        "/top",
        "/app/full",
        "/voice/status",
    ]


def test_redirect_posts_and_runs_the_new_document() -> None:
    run = simulate(
        {
            "/voice": doc(
                "<Say>First.</Say>", "<Redirect>/next</Redirect>", "<Say>Not reached.</Say>"
            ),
            "/next": doc("<Say>Second.</Say>"),
        }
    )
    (hit,) = run.fake.to("/next")
    assert hit.method == "POST"
    assert hit.form["CallStatus"] == "in-progress"
    assert run.result.heard() == ["First.", "Second."]


# --- Dial and Enqueue --------------------------------------------------------------------------

PCI = "+442079460001"
PCI_CLID = "+15550001234"


def test_dial_to_our_own_number_is_a_child_call_then_the_action_gets_its_result() -> None:
    directory = {PCI: Destination(url="/child/voice", status_url="/child/status")}
    run = simulate(
        {
            "/voice": doc(
                "<Say>Transferring.</Say>",
                f'<Dial action="/after" callerId="{PCI_CLID}" timeout="20">'
                f"<Number>{PCI}</Number></Dial>",
                "<Say>Not reached.</Say>",
            ),
            "/child/voice": doc(
                "<Say>Secure payment line.</Say>", '<Gather action="/child/card" numDigits="4"/>'
            ),
            "/child/card": doc("<Say>Payment taken.</Say>", "<Hangup/>"),
            "/after": doc("<Say>Back in the plan.</Say>"),
        },
        ["4242"],
        directory=directory,
    )
    assert run.paths() == [
        "/voice",
        "/child/voice",
        "/child/card",
        "/child/status",
        "/after",
        "/voice/status",
    ]
    parent_sid = run.result.call_sid
    child = run.fake.to("/child/voice")[0].form
    assert child["CallSid"] != parent_sid
    assert (child["From"], child["To"], child["Direction"]) == (PCI_CLID, PCI, "inbound")
    assert run.fake.to("/child/card")[0].form["Digits"] == "4242"
    assert run.fake.to("/child/card")[0].form["CallSid"] == child["CallSid"]
    child_status = run.fake.to("/child/status")[0].form
    assert child_status["CallSid"] == child["CallSid"]
    assert child_status["CallStatus"] == "completed"
    after = run.fake.to("/after")[0].form
    assert after["CallSid"] == parent_sid
    assert after["DialCallStatus"] == "completed"
    assert after["DialCallSid"] == child["CallSid"]
    assert after["DialCallDuration"] == child_status["CallDuration"]
    assert int(after["DialCallDuration"]) >= 3
    assert run.result.heard(leg=1) == ["Secure payment line.", "Payment taken."]
    assert run.result.heard(leg=0) == ["Transferring.", "Back in the plan."]


@pytest.mark.parametrize(
    ("answer", "seconds"), [("busy", None), ("no-answer", 20), ("failed", None)]
)
def test_dial_to_an_outside_number_that_does_not_answer(answer: str, seconds: int | None) -> None:
    directory = {"+442071230200": Destination(answer=answer)}
    run = simulate(
        {
            "/voice": doc(
                '<Dial action="/after" timeout="20"><Number>+442071230200</Number></Dial>'
            ),
            "/after": doc("<Hangup/>"),
        },
        directory=directory,
    )
    after = run.fake.to("/after")[0].form
    assert after["DialCallStatus"] == answer
    assert after["DialCallDuration"] == "0"
    assert after["DialCallSid"].startswith("CA")
    if seconds is not None:  # it rang for the whole timeout
        assert run.result.duration == seconds


@pytest.mark.parametrize(
    ("directory", "talk"),
    [
        ({"+442071230200": Destination(talk_seconds=42)}, "42"),
        ({}, "60"),  # a number the directory does not know answers and talks for a minute
    ],
)
def test_dial_to_an_outside_number_that_answers(
    directory: dict[str, Destination], talk: str
) -> None:
    run = simulate(
        {"/voice": doc('<Dial action="/after">+442071230200</Dial>'), "/after": doc("<Hangup/>")},
        directory=directory,
    )
    after = run.fake.to("/after")[0].form
    assert (after["DialCallStatus"], after["DialCallDuration"]) == ("completed", talk)
    assert run.result.duration == int(talk)


def test_dial_without_action_continues_with_the_next_verb() -> None:
    directory = {"+442071230200": Destination(answer="busy")}
    run = simulate(
        {
            "/voice": doc(
                "<Dial><Number>+442071230200</Number></Dial>", "<Say>After the dial.</Say>"
            )
        },
        directory=directory,
    )
    assert run.result.heard() == ["After the dial."]
    assert run.paths() == ["/voice", "/voice/status"]


@pytest.mark.parametrize("queue_result", ["bridged", "queue-full"])
def test_enqueue_with_action_sends_the_queue_result(queue_result: str) -> None:
    run = simulate(
        {
            "/voice": doc('<Enqueue action="/queue">support</Enqueue>', "<Say>Not reached.</Say>"),
            "/queue": doc("<Say>Left the queue.</Say>"),
        },
        queue_result=queue_result,
    )
    (hit,) = run.fake.to("/queue")
    assert hit.form["QueueResult"] == queue_result
    assert run.result.heard() == ["Left the queue."]
    assert "enqueue" in run.kinds()


# --- requests -----------------------------------------------------------------------------------


def test_the_status_callback_comes_when_the_call_ends() -> None:
    run = simulate({"/voice": doc('<Pause length="4"/>', "<Hangup/>")}, status_url="/hooks/status")
    assert run.paths() == ["/voice", "/hooks/status"]
    status = run.hits[-1].form
    assert status["CallStatus"] == "completed"
    assert status["CallDuration"] == "4" == str(run.result.duration)
    assert status["CallSid"] == run.result.call_sid


def test_every_request_carries_the_call_parameters() -> None:
    directory = {PCI: Destination(url="/child/voice", status_url="/child/status")}
    run = simulate(
        {
            "/voice": doc('<Gather action="/keys" numDigits="1"/>'),
            "/keys": doc(f'<Dial action="/after" callerId="{PCI_CLID}">{PCI}</Dial>'),
            "/child/voice": doc("<Say>Child.</Say>"),
            "/after": doc('<Enqueue action="/queue">q</Enqueue>'),
            "/queue": doc("<Redirect>/end</Redirect>"),
            "/end": doc("<Hangup/>"),
        },
        ["1"],
        directory=directory,
        account_sid="AC" + "1" * 32,
    )
    assert len(run.hits) == 8
    for hit in run.hits:
        assert hit.method == "POST"
        missing = [name for name in ALWAYS if not hit.form.get(name)]
        assert not missing, f"{hit.path} lacks {missing}"
        assert hit.form["AccountSid"] == "AC" + "1" * 32
        assert hit.form["ApiVersion"] == "2010-04-01"
        assert hit.form["Direction"] in ("inbound", "outbound-api", "outbound-dial")
        assert hit.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert run.hits[0].form["CallStatus"] in ("ringing", "in-progress")
    parent = [h for h in run.hits if not h.path.startswith("/child")]
    assert {h.form["CallSid"] for h in parent} == {run.result.call_sid}
    assert {(h.form["From"], h.form["To"]) for h in parent} == {(CALLER, NUMBER)}


@pytest.mark.parametrize("withheld", ["", "anonymous"])
def test_a_withheld_caller_arrives_as_anonymous(withheld: str) -> None:
    run = simulate({"/voice": doc("<Say>Hi.</Say>")}, caller=withheld)
    assert {h.form["From"] for h in run.hits} == {"anonymous"}


TOKEN = "12345"


@pytest.mark.parametrize("sign_base", [None, "https://ivr.example.com"])
def test_requests_are_signed_for_the_url_requested(sign_base: str | None) -> None:
    directory = {PCI: Destination(url="/child/voice?leg=pci", status_url="/child/status")}
    run = simulate(
        {
            "/voice": doc("<Redirect>/menu?x=1&amp;y=two%20words</Redirect>"),
            "/menu?x=1&y=two%20words": doc('<Gather action="/keys?turn=2" numDigits="1"/>'),
            "/keys?turn=2": doc(f'<Dial action="/after">{PCI}</Dial>'),
            "/child/voice?leg=pci": doc("<Say>Child.</Say>"),
            "/after": doc("<Hangup/>"),
        },
        ["1"],
        directory=directory,
        auth_token=TOKEN,
        sign_base=sign_base,
    )
    validator = RequestValidator(TOKEN)
    assert len(run.hits) == 7
    for hit in run.hits:
        url = hit.url if sign_base is None else sign_base + hit.path
        signature = hit.headers.get("X-Twilio-Signature", "")
        assert validator.validate(url, hit.form, signature), f"bad signature for {url}"
        assert not RequestValidator("wrong").validate(url, hit.form, signature)


def test_requests_are_not_signed_without_an_auth_token() -> None:
    run = simulate({"/voice": doc("<Say>Hi.</Say>")})
    assert all("X-Twilio-Signature" not in h.headers for h in run.hits)


# --- simulated time -----------------------------------------------------------------------------


def test_time_is_simulated_and_nothing_waits() -> None:
    started = time.perf_counter()
    run = simulate(
        {
            "/voice": doc(
                '<Pause length="600"/>',
                '<Gather action="/keys" timeout="60"/>',
                '<Pause length="3"/>',
            )
        },
        ["-"],
    )
    assert time.perf_counter() - started < 2
    assert run.result.duration == 663
    assert run.clock() == START.replace(minute=11, second=3)
    assert run.hits[-1].form["CallDuration"] == "663"


def test_the_gather_timeout_runs_after_the_last_key() -> None:
    run = simulate(
        {"/voice": doc('<Gather action="/keys" timeout="9"/>'), "/keys": doc("<Hangup/>")}, ["12"]
    )
    assert run.fake.to("/keys")[0].form["Digits"] == "12"
    assert run.result.duration >= 9


# --- the caller hangs up ------------------------------------------------------------------------


def looping_menu() -> dict[str, Reply]:
    return {
        "/voice": doc('<Gather action="/voice/keys" numDigits="1"><Say>Choose.</Say></Gather>'),
        "/voice/keys": doc('<Gather numDigits="1"><Say>Choose again.</Say></Gather>'),
    }


@pytest.mark.parametrize("after", [0, 1, 2])
def test_hangup_after_n_prompts(after: int) -> None:
    run = simulate(looping_menu(), ["1", "2", "3", "4"], hangup_after=after)
    assert len(run.fake.to("/voice/keys")) == after
    assert [e.kind for e in run.result.events].count("prompt") == after + 1
    assert run.result.ended_by == "caller"
    assert run.kinds()[-2:] == ["caller_hangup", "leg_end"]
    status = run.hits[-1]
    assert status.path == "/voice/status"
    assert status.form["CallStatus"] == "completed"
    assert "CallDuration" in status.form


def test_the_caller_hangs_up_when_the_keys_run_out() -> None:
    run = simulate(looping_menu(), ["1"])
    assert len(run.fake.to("/voice/keys")) == 1
    assert run.result.ended_by == "caller"
    assert run.hits[-1].path == "/voice/status"


def test_the_caller_hanging_up_on_a_child_leg_ends_both_legs() -> None:
    directory = {PCI: Destination(url="/child/voice", status_url="/child/status")}
    run = simulate(
        {
            "/voice": doc(f'<Dial action="/after">{PCI}</Dial>'),
            "/child/voice": doc('<Gather numDigits="4"><Say>Card.</Say></Gather>'),
        },
        [],
        directory=directory,
    )
    assert run.result.ended_by == "caller"
    assert run.paths()[-2:] == ["/child/status", "/voice/status"]


# --- application errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        (500, "Internal Server Error"),
        (404, "not found"),
        (200, "hello, this is not XML"),
        (200, ""),
        (200, "<html><body>Hi</body></html>"),
    ],
    ids=["500", "404", "not-xml", "empty", "not-twiml"],
)
def test_a_bad_answer_is_an_application_error(reply: tuple[int, str]) -> None:
    run = simulate({"/voice": doc('<Gather action="/keys" numDigits="1"/>'), "/keys": reply}, ["1"])
    errors = [e for e in run.result.events if e.kind == "error"]
    assert len(errors) == 1
    assert errors[0].text.startswith("application error")
    assert "/keys" in errors[0].text or "not TwiML" in errors[0].text
    assert run.paths() == ["/voice", "/keys", "/voice/status"]
    assert run.hits[-1].form["CallStatus"] == "completed"


def test_an_application_error_ends_the_call_as_an_error() -> None:
    """CallResult.ended_by documents `twiml | caller | error`: a call that Twilio ends with an
    application error should say so (transcripts and `ended_by` expectations rely on it)."""
    run = simulate({"/voice": (500, "boom")})
    assert run.result.ended_by == "error"


def test_dial_time_limit_ends_a_long_transfer() -> None:
    """`<Dial timeLimit>` is the longest the dialled leg may last: Twilio hangs it up then."""
    directory = {"+442071230200": Destination(talk_seconds=3600)}
    run = simulate(
        {
            "/voice": doc('<Dial action="/after" timeLimit="600">+442071230200</Dial>'),
            "/after": doc("<Hangup/>"),
        },
        directory=directory,
    )
    after = run.fake.to("/after")[0].form
    assert (after["DialCallStatus"], after["DialCallDuration"]) == ("completed", "600")


# --- every TwiML document the engine sends through the simulator validates ------------------


@pytest.fixture
def documents(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every non-empty body the webhook app answers to the simulator, as (url, body)."""
    seen: list[tuple[str, str]] = []
    post = FlaskTransport.post

    def capture(
        self: FlaskTransport, url: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, str]:
        status, body = post(self, url, params, headers)
        if body.strip():
            seen.append((url, body))
        return status, body

    monkeypatch.setattr(FlaskTransport, "post", capture)
    return seen


def assert_all_valid(documents: list[tuple[str, str]]) -> set[str]:
    """Validate every document against Twilio's XSD; the verbs used (nested ones too)."""
    verbs: set[str] = set()
    for url, body in documents:
        try:
            root = assert_valid_twiml(body)
        except (AssertionError, etree.XMLSyntaxError) as exc:
            raise AssertionError(f"{url}: {exc}") from None
        verbs.update(str(e.tag) for e in root.iter() if e is not root)
    return verbs


OPEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday morning: main_menu is open
SUNDAY = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
MENU, LOOKUP, PAY = "+442071230100", "+442071230101", "+442071230102"


@dataclass
class Script:
    number: str
    keys: list[str] = field(default_factory=list)
    caller: str = CALLER
    dial: dict[str, str] = field(default_factory=dict)
    start: datetime = OPEN
    hangup_after: int | None = None
    queue_result: str = "bridged"
    outcome: str | None = None


EXAMPLE_CALLS = [
    Script(MENU, ["1", "42*50#", "1", "0112", "1", "12#"], outcome="PaymentTaken"),
    Script(MENU, ["0"], dial={"+442071230200": "no-answer"}, outcome="Delivered"),
    Script(
        MENU, ["0"], dial={"+442071230200": "busy", "+442071230201": "busy"}, outcome="Delivered"
    ),
    Script(
        MENU,
        ["0"],
        dial={"+442071230200": "busy", "+442071230201": "failed"},
        queue_result="queue-full",
        outcome="AgentsBusy",
    ),
    Script(MENU, ["*", "5", "7", "9"], outcome="Delivered"),
    Script(MENU, ["-", "-", "-"], outcome="NoInput"),
    Script(MENU, [], start=SUNDAY, outcome="OutOfHours"),
    Script(MENU, [], hangup_after=0, outcome="Abandoned"),
    Script(MENU, ["1", "42*50#", "2", "9*99#", "1", "3112", "-", "-"], outcome="Delivered"),
    Script(LOOKUP, [], outcome="BalanceHeard"),
    Script(LOOKUP, ["12345678#", "2", "87654321#", "1"], caller="", outcome="NothingDue"),
    Script(LOOKUP, ["1#", "-", "-"], caller="anonymous", outcome="NotIdentified"),
    Script(
        PAY, ["42*50#", "1", "0112", "2", "7#"], dial={"+442071230999": "busy"}, outcome="Delivered"
    ),
    Script(PAY, ["0", "99999#", "0"], outcome="Delivered"),
    Script("+449999000000", [], outcome="NotInService"),  # recorded from its status callback
]


def billing_by_clid(server: LoopbackServer) -> None:
    """Known callers are found by CLID; a withheld one (empty phone=) is not."""
    account = {
        "id": "12345678",
        "balance": "42.50",
        "due_date": "2026-11-01",
        "status": "active",
        "bills": [{"amount": "42.50"}],
    }

    def accounts(seen: Seen) -> tuple[int, dict[str, str], str]:
        if "phone=&" in seen.path + "&" or "phone=" not in seen.path:
            return 404, {"Content-Type": "application/json"}, '{"error": "unknown"}'
        return 200, {"Content-Type": "application/json"}, json.dumps({"account": account})

    server.handle("GET", "/demo/billing/accounts", accounts)


@pytest.fixture
def example_settings(tmp_path: Path, http_server: LoopbackServer) -> Settings:
    """The example plans, calling their services on a loopback server."""
    plans = tmp_path / "callplans"
    plans.mkdir()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8").replace("http://127.0.0.1:8080", http_server.url)
        (plans / path.name).write_text(text, encoding="utf-8")
    demo_services(http_server)
    billing_by_clid(http_server)
    return Settings(
        callplans=plans,
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        secrets={"BILLING_TOKEN": "t"},
    )


def place(settings: Settings, script: Script) -> CallReport:
    directory = {n: Destination(answer=a) for n, a in script.dial.items()}
    phone = LocalPhone(replace(settings, directory=directory), start=script.start)
    phone.simulator.queue_result = script.queue_result
    try:
        return phone.call(
            script.number, script.caller, list(script.keys), hangup_after=script.hangup_after
        )
    finally:
        phone.system.recorder.close()


def test_every_document_of_the_example_plans_validates(
    example_settings: Settings, documents: list[tuple[str, str]]
) -> None:
    outcomes = []
    for script in EXAMPLE_CALLS:
        report = place(example_settings, script)
        assert not [e.text for e in report.result.events if e.kind == "error"]
        outcomes.append(report.outcome)
    assert outcomes == [s.outcome for s in EXAMPLE_CALLS]
    assert len(documents) > 50
    verbs = assert_all_valid(documents)
    assert verbs >= {
        "Say",
        "Play",
        "Pause",
        "Gather",
        "Redirect",
        "Dial",
        "Number",
        "Enqueue",
        "Hangup",
    }


def test_every_document_of_the_shipped_scenarios_validates(
    tmp_path: Path, documents: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_TOKEN", "t")
    settings = Settings(
        callplans=ROOT / "callplans",
        demo_billing=True,
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
    )
    report: list[str] = []
    assert run_files([ROOT / "callplans"], settings, show_coverage=False, echo=report.append)
    assert report[-1].endswith(" passed, 0 failed")
    assert len(documents) > 20
    assert_all_valid(documents)


def test_the_simulator_rejects_what_the_schema_rejects(documents: list[tuple[str, str]]) -> None:
    """The capture sees the fake app too, and the validator catches a verb Twilio lacks."""
    simulate({"/voice": doc("<Speak>Hi</Speak>")})
    with pytest.raises(AssertionError, match="does not validate"):
        assert_all_valid(documents)
