"""Speech as well as keys (issue 17): menus and collect_digits with `input: [dtmf, speech]`,
phrases per option, Twilio's SpeechResult/Confidence over the webhook, and the TwiML asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from ivr.adapters.twiml import render
from ivr.app import create_app
from ivr.app.settings import Settings
from ivr.engine.stores import MemoryStore
from ivr.lang.languages import spoken_digits, yes_or_no
from tests.test_twiml import URLS, assert_valid_twiml
from tests.test_web import CALLER, PUBLIC, TOKEN, sign

MENU = """
plan: speech_menu
start: main_menu
defaults: {voice: Polly.Amy, language: en-GB, retries: 1}
applets:
  main_menu:
    type: menu
    prompt: "To pay, press 1. An agent, 2."
    input: [dtmf, speech]
    hints: [bill]
    options:
      "1": {goto: paying, say: [pay, pay my bill]}
      "2": {goto: agent, say: [agent, speak to someone]}
      "3": {goto: agent, say: [pay someone]}
    invalid_prompt: "Sorry, I did not catch that."
    on: {no_input: silence, no_match: no_match}
  paying: {type: hangup, say: "Paying."}
  agent: {type: hangup, say: "Agent."}
  silence: {type: hangup, say: "No input."}
  no_match: {type: hangup, say: "No match."}
"""

DIGITS = """
plan: speech_digits
start: ask_amount
defaults: {language: en-GB}
applets:
  ask_amount:
    type: collect_digits
    prompt: "Say or key the amount."
    store: Amount
    input: [dtmf, speech]
    validate: {amount: {min: 1, max: 500}}
    confirm: true
    next: account
  account:
    type: collect_digits
    prompt: "Say your account number."
    store: Account
    input: [speech]
    min_length: 4
    max_length: 4
    min_confidence: 0.7
    next: done
  done: {type: hangup, say: "Done."}
"""


@pytest.fixture
def menu(make_engine: Any, call: Any) -> Any:
    return lambda: call(make_engine(MENU), plan_id="speech_menu")


def test_the_gather_takes_words_with_hints_and_stays_valid_twiml(menu: Any) -> None:
    d = menu()
    g = d.gather
    assert (g.input, g.language) == ("dtmf speech", "en-GB")
    # the plan's hints first, then every option's words
    assert g.hints == "bill, pay, pay my bill, agent, speak to someone, pay someone"
    root = assert_valid_twiml(render(d.last, URLS))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "dtmf speech"
    assert gather.get("hints") == g.hints
    assert gather.get("speechTimeout") == "auto"
    assert gather.get("language") == "en-GB"


def test_a_keys_only_menu_asks_for_keys_only(make_engine: Any, call: Any) -> None:
    d = call(make_engine("input_menu.yaml"), plan_id="input_menu")
    root = assert_valid_twiml(render(d.last, URLS))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "dtmf"
    assert gather.get("hints") is None and gather.get("speechTimeout") is None


@pytest.mark.parametrize(
    ("words", "heard"),
    [
        ("Pay", "Paying."),
        ("I'd like to pay my bill please.", "Paying."),
        ("speak to someone", "Agent."),
        ("two", "Agent."),  # the key said as a number
        ("1", "Paying."),
        # "pay someone" (option 3) is longer than "pay" (option 1): the longest phrase wins
        ("pay someone", "Agent."),
    ],
)
def test_words_choose_an_option(menu: Any, words: str, heard: str) -> None:
    d = menu()
    d.say(words)
    assert d.ended
    assert d.heard == [heard]


def test_words_the_recognizer_is_unsure_of_are_no_match(menu: Any) -> None:
    d = menu()
    d.say("pay my bill", confidence=0.3)
    assert not d.ended
    assert d.heard == ["Sorry, I did not catch that.", "To pay, press 1. An agent, 2."]
    d.say("pay my bill", confidence=0.49)
    assert d.heard == ["No match."]


def test_words_for_no_option_and_a_tie_are_no_match(menu: Any) -> None:
    d = menu()
    d.say("what time is it")
    assert d.heard[0] == "Sorry, I did not catch that."
    d = menu()
    d.say("pay or an agent")  # two options side by side: the caller did not choose
    assert d.heard[0] == "Sorry, I did not catch that."


def test_no_words_and_no_keys_is_no_input(menu: Any) -> None:
    d = menu()
    d.say("   ")
    d.silence()
    assert d.heard == ["No input."]


def test_keys_still_work_at_a_menu_that_takes_words(menu: Any) -> None:
    d = menu()
    d.press("2")
    assert d.heard == ["Agent."]


def test_the_transcript_says_what_the_caller_said(menu: Any) -> None:
    d = menu()
    d.say("pay my bill")
    lines = [text for _, who, text in d.session.transcript if who == "caller"]
    assert lines == ['said "pay my bill" (0.92)']


def test_collect_digits_takes_an_amount_said_and_a_spoken_yes(make_engine: Any, call: Any) -> None:
    d = call(make_engine(DIGITS), plan_id="speech_digits")
    d.say("£42.50")
    assert d.heard == ["You entered £42.50. If that is right, press 1. To enter it again, press 2."]
    d.say("yes that's right")
    assert d.data["Amount"] == "42.50"
    d.say("four two one oh")
    assert d.ended
    assert d.data["Account"] == "4210"


def test_collect_digits_refuses_words_without_numbers_and_unsure_ones(
    make_engine: Any, call: Any
) -> None:
    d = call(make_engine(DIGITS), plan_id="speech_digits")
    d.press("42*50")
    d.press("1")
    d.say("my account number")  # no numbers in it
    assert "Say your account number." in d.heard
    d.say("four two one oh", confidence=0.6)  # under this applet's min_confidence 0.7
    assert "Say your account number." in d.heard
    assert "Account" not in d.data


@pytest.mark.parametrize("words", ["15", "one five", "that's not right", "twenty five"])
def test_only_a_yes_confirms_a_read_back(make_engine: Any, call: Any, words: str) -> None:
    d = call(make_engine(DIGITS), plan_id="speech_digits")
    d.say("25")
    d.say(words)
    assert "Amount" not in d.data  # asked again (or to enter it again), never confirmed


def test_a_speech_only_read_back_still_takes_the_keys_it_asks_for(
    make_engine: Any, call: Any
) -> None:
    plan = DIGITS.replace("input: [dtmf, speech]", "input: [speech]")
    d = call(make_engine(plan), plan_id="speech_digits")
    assert d.gather.input == "speech"
    d.say("42")
    assert d.gather.input == "dtmf speech"  # "If that is right, press 1"
    d.press("1")
    assert d.data["Amount"] == "42.00"


def test_curly_apostrophes_and_accents_do_not_stop_a_match(make_engine: Any, call: Any) -> None:
    plan = MENU.replace("say: [agent, speak to someone]", 'say: [agent, "siarad â rhywun"]')
    plan = plan.replace("say: [pay, pay my bill]", 'say: ["talu\'r cyfan"]')
    for words, heard in (("Talu\u2019r cyfan", "Paying."), ("siarad a rhywun", "Agent.")):
        d = call(make_engine(plan), plan_id="speech_menu")
        d.say(words)
        assert d.heard == [heard]


def test_option_words_may_use_placeholders(make_engine: Any, call: Any) -> None:
    plan = MENU.replace("say: [pay someone]", 'say: ["$(Payee)"]').replace(
        "defaults:", "data: {Payee: the gas board}\ndefaults:"
    )
    d = call(make_engine(plan), plan_id="speech_menu")
    assert "the gas board" in d.gather.hints and "$(" not in d.gather.hints
    d.say("the gas board")
    assert d.heard == ["Agent."]


def test_words_said_with_a_long_number_are_hidden_in_the_transcript(menu: Any) -> None:
    d = menu()
    d.say("four two four two four two four two four two four two four two four two")
    lines = [text for _, who, text in d.session.transcript if who == "caller"]
    assert lines == ['said "(a long number, hidden)" (0.92)']


def test_a_spoken_no_at_the_read_back_asks_again(make_engine: Any, call: Any) -> None:
    d = call(make_engine(DIGITS), plan_id="speech_digits")
    d.say("twelve")  # words for tens are not read: no digits, an invalid entry
    assert d.heard[-1] == "Say or key the amount."
    d.say("12")
    d.say("no")
    assert d.heard == ["Say or key the amount."]
    assert "Amount" not in d.data


@pytest.mark.parametrize(
    ("words", "decimal", "keys"),
    [
        ("4 2 4 2", False, "4242"),
        ("four two, four two", False, "4242"),
        ("oh one two", False, "012"),
        ("£1,000.50", True, "1000*50"),
        ("12 pounds 50", True, "12*50"),
        ("one two point five", True, "12*5"),
        # numbers in words that are not digits are refused, never read as another number
        ("twenty five", False, ""),
        ("one hundred", False, ""),
        ("twenty-one", False, ""),
        ("pum deg", False, ""),
        ("dau naw", False, "29"),  # Welsh
        ("12.50", False, "1250"),
    ],
)
def test_spoken_digits(words: str, decimal: bool, keys: str) -> None:
    assert spoken_digits(words, decimal=decimal) == keys


@pytest.mark.parametrize(
    ("words", "answer"),
    [("yes", "1"), ("Yes, correct.", "1"), ("ie", "1"), ("no", "2"), ("na", "2"),
     ("yes no", ""), ("maybe", ""), ("that's not right", "2"), ("not correct", "2"),
     ("one", "1"), ("2", "2"), ("15", ""), ("one five", ""), ("number one please", "")],
)  # fmt: skip
def test_yes_or_no(words: str, answer: str) -> None:
    assert yes_or_no(words) == answer


def test_the_webhook_reads_speech_result_and_confidence(tmp_path: Path, clock: Any) -> None:
    """Over HTTP, signed as Twilio posts it: SpeechResult and Confidence after a <Gather>."""
    plans = tmp_path / "callplans"
    plans.mkdir()
    number = "+442071230999"
    (plans / "speech_menu.yaml").write_text(
        MENU.replace("plan: speech_menu", f'plan: speech_menu\nnumbers: ["{number}"]')
    )
    settings = Settings(
        callplans=plans,
        database_url=f"sqlite:///{tmp_path}/calls.sqlite3",
        watch_plans=False,
        auth_token=TOKEN,
        public_url=PUBLIC,
    )
    with requests.Session() as http:
        app = create_app(settings, clock=clock, store=MemoryStore(), http=http)
        client = app.test_client()
        base = {"CallSid": "CA" + "5" * 32, "AccountSid": "AC" + "1" * 32, "From": CALLER,
                "To": number, "CallStatus": "in-progress", "Direction": "inbound"}  # fmt: skip

        def post(url: str, **extra: str) -> str:
            form = {**base, **extra}
            path = url.removeprefix(PUBLIC)
            answer = client.post(path, data=form, headers=sign(PUBLIC + path, form))
            assert answer.status_code == 200, answer.get_data(as_text=True)
            return answer.get_data(as_text=True)

        def action(document: str) -> str:
            gather = assert_valid_twiml(document).find("Gather")
            assert gather is not None
            return str(gather.get("action"))

        first = post(PUBLIC + "/voice")
        assert 'input="dtmf speech"' in first
        unsure = post(action(first), SpeechResult="pay", Confidence="0.2")
        assert "Sorry, I did not catch that." in unsure
        # a Confidence that is not a number counts as unsure, never as an error
        odd = post(action(unsure), SpeechResult="pay", Confidence="high")
        assert "No match." in odd
        app.extensions["ivr"].recorder.close()


def test_the_webhook_routes_confident_words(tmp_path: Path, clock: Any) -> None:
    plans = tmp_path / "callplans"
    plans.mkdir()
    (plans / "speech_menu.yaml").write_text(
        MENU.replace("plan: speech_menu", 'plan: speech_menu\nnumbers: ["+442071230999"]')
    )
    settings = Settings(
        callplans=plans, database_url=f"sqlite:///{tmp_path}/c.sqlite3", watch_plans=False
    )
    with requests.Session() as http:
        app = create_app(settings, clock=clock, store=MemoryStore(), http=http)
        client = app.test_client()
        base = {"CallSid": "CA" + "6" * 32, "From": CALLER, "To": "+442071230999"}
        first = client.post("/voice", data={**base, "CallStatus": "in-progress"})
        gather = assert_valid_twiml(first.data).find("Gather")
        assert gather is not None
        path = str(gather.get("action")).split("://", 1)[-1]
        path = path[path.index("/") :]
        sure = client.post(
            path, data={**base, "SpeechResult": "Pay my bill.", "Confidence": "0.87"}
        )
        assert b"Paying." in sure.data
        app.extensions["ivr"].recorder.close()
