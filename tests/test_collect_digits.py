"""collect_digits through the turn API: validation, re-prompts, confirmation and defaults."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.driver import CallDriver, Gather, Pause, Say

NO_INPUT = [("said_nothing", "end")]
INVALID = [("said_wrong", "end")]


def press_finish_key(d: CallDriver, key: str = "#") -> None:
    """The caller pressed only the finish key: Twilio sends empty Digits."""
    turn = d.engine.keys(d.call_sid, d.last.turn, "", finished_on_key=key)
    d.last = turn
    d.turns.append(turn)


def stored(d: CallDriver, name: str) -> str | None:
    return d.data.get(name)


# --- digits ----------------------------------------------------------------------------


def test_digits_prompt_and_gather_parameters(make_engine, call):
    d = call(make_engine("input_digits.yaml"), plan_id="input_digits")
    assert d.heard == ["Enter your account number, then press hash."]
    g = d.gather
    assert (g.num_digits, g.finish_on_key, g.timeout) == (None, "#", 5)
    assert g.prompts == (Say("Enter your account number, then press hash.", "Polly.Amy", "en-GB"),)


@pytest.mark.parametrize("entry", ["1234", "00001234", "12345678"])
def test_digits_within_length_bounds_are_stored(make_engine, call, entry):
    d = call(make_engine("input_digits.yaml"), plan_id="input_digits")
    d.press(entry)
    assert d.ended
    assert d.heard == [f"Account {entry}."]
    assert stored(d, "Account") == entry
    assert d.path == [("ask_account", "next"), ("done", "end")]


@pytest.mark.parametrize("entry", ["123", "123456789", "12*4", "1234*"])
def test_digits_out_of_bounds_or_not_digits_are_invalid(make_engine, call, entry):
    d = call(make_engine("input_digits.yaml"), plan_id="input_digits")
    d.press(entry)
    assert not d.ended  # one retry left
    assert d.heard == ["Enter your account number, then press hash."]
    d.press(entry)
    assert d.heard == ["Invalid."]
    assert "Account" not in d.data
    assert d.path == [("ask_account", "invalid"), *INVALID]


def test_fixed_length_asks_for_num_digits_and_custom_finish_key(make_engine, call):
    d = call(make_engine("input_fixed_length.yaml"), plan_id="input_fixed_length")
    g = d.gather
    assert (g.num_digits, g.finish_on_key, g.timeout) == (4, "*", 9)
    d.press("0042")
    assert stored(d, "Pin") == "0042"
    assert d.heard == ["PIN 0042."]


# --- amount ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "amount"),
    [
        ("42*50", "42.50"),
        ("42", "42.00"),
        ("42*5", "42.50"),
        ("42*", "42.00"),
        ("1", "1.00"),
        ("1*00", "1.00"),
        ("500", "500.00"),
        ("499*99", "499.99"),
    ],
)
def test_amount_is_stored_as_two_decimal_string(make_engine, call, entry, amount):
    d = call(make_engine("input_amount.yaml"), plan_id="input_amount")
    g = d.gather
    assert (g.num_digits, g.finish_on_key) == (None, "#")
    d.press(entry)
    assert stored(d, "Amount") == amount
    assert d.heard == [f"Amount {amount}."]
    assert d.path == [("ask_amount", "next"), ("done", "end")]


@pytest.mark.parametrize(
    "entry",
    [
        "42*505",  # too many decimals
        "4*2*5",  # two stars
        "42**5",  # two stars together
        "*",  # nothing but the decimal point
        "0*99",  # below the minimum (from MinAmount)
        "500*01",  # above the maximum (from MaxAmount)
        "1000",
    ],
)
def test_invalid_amounts(make_engine, call, entry):
    d = call(make_engine("input_amount.yaml"), plan_id="input_amount")
    d.press(entry)
    assert "Amount" not in d.data
    assert d.path == [("ask_amount", "invalid"), *INVALID]


@pytest.mark.parametrize(
    ("entry", "ok"),
    [
        ("4*99", False),
        ("5", True),
        ("99*99", True),
        ("100", False),
    ],
)
def test_amount_literal_bounds(make_engine, call, entry, ok):
    d = call(make_engine("input_amount_literal.yaml"), plan_id="input_amount_literal")
    d.press(entry)
    assert d.path[0] == ("ask_amount", "next" if ok else "invalid")


# --- date ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "iso"),
    [
        ("2011", "2026-11-20"),  # today, allowed with min_days 0
        ("2111", "2026-11-21"),
        ("0112", "2026-12-01"),
        ("2012", "2026-12-20"),  # the last day of the 30-day window
    ],
)
def test_date_is_the_next_such_date(make_engine, call, entry, iso):
    d = call(make_engine("input_date.yaml"), plan_id="input_date")  # clock: 2026-11-20
    g = d.gather
    assert (g.num_digits, g.finish_on_key) == (4, "#")
    d.press(entry)
    assert stored(d, "PayDate") == iso
    assert d.path == [("ask_date", "next"), ("done", "end")]


@pytest.mark.parametrize(
    "entry",
    [
        "2112",  # 31 days ahead: out of the window
        "1911",  # yesterday: next year, out of the window
        "3102",  # no such date
        "3111",  # 31 November does not exist
        "0013",
        "0000",
        "201",
        "20111",
    ],
)
def test_invalid_dates(make_engine, call, entry):
    d = call(make_engine("input_date.yaml"), plan_id="input_date")
    d.press(entry)
    assert "PayDate" not in d.data
    assert d.path == [("ask_date", "invalid"), *INVALID]


def test_date_across_the_year_end(make_engine, call, clock):
    clock.set(datetime(2026, 12, 30, 12, 0, tzinfo=UTC))
    d = call(make_engine("input_date.yaml"), plan_id="input_date")
    d.press("0201")
    assert stored(d, "PayDate") == "2027-01-02"


def test_date_uses_the_plan_timezone(make_engine, call, clock):
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
    clock.set(datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    engine = make_engine("input_date.yaml")
    d = call(engine, plan_id="input_date")
    d.press("0107")
    assert stored(d, "PayDate") == "2026-07-01"
    d = call(engine, plan_id="input_date")
    d.press("3006")  # yesterday in London: next year's 30 June, out of the window
    assert d.path == [("ask_date", "invalid"), *INVALID]


@pytest.mark.parametrize(
    ("entry", "iso"),
    [
        ("2011", None),  # today: before min_days 2
        ("2111", None),
        ("2211", "2026-11-22"),
        ("3011", "2026-11-30"),  # 10 days: the last day allowed
        ("0112", None),
    ],
)
def test_date_window_excludes_today_when_min_days_is_positive(make_engine, call, entry, iso):
    d = call(make_engine("input_date_window.yaml"), plan_id="input_date_window")
    d.press(entry)
    assert stored(d, "PayDate") == iso
    assert d.path[0] == ("ask_date", "next" if iso else "invalid")


# --- choice ----------------------------------------------------------------------------


def test_choice_count_from_a_placeholder_then_a_literal(make_engine, call):
    d = call(make_engine("input_choice.yaml"), plan_id="input_choice")
    assert d.heard == ["You have 3 bills. Press the number of the bill to pay."]
    assert d.gather.num_digits == 1
    d.press("3")
    assert d.heard == ["Press 1 for your saved card or 2 for a new card."]
    assert d.gather.num_digits == 1
    d.press("2")
    assert d.heard == ["Bill 3, card 2."]
    assert (stored(d, "BillChoice"), stored(d, "CardChoice")) == ("3", "2")
    assert d.path == [("choose_bill", "next"), ("choose_card", "next"), ("done", "end")]


@pytest.mark.parametrize("entry", ["4", "0", "9"])
def test_choice_outside_placeholder_count_is_invalid(make_engine, call, entry):
    d = call(make_engine("input_choice.yaml"), plan_id="input_choice")
    d.press(entry)
    assert d.path == [("choose_bill", "invalid"), *INVALID]


def test_choice_outside_literal_count_is_invalid(make_engine, call):
    d = call(make_engine("input_choice.yaml"), plan_id="input_choice")
    d.press("1")
    d.press("3")
    assert d.path == [("choose_bill", "next"), ("choose_card", "invalid"), *INVALID]


@pytest.mark.parametrize(("entry", "ok"), [("12", True), ("1", True), ("13", False), ("0", False)])
def test_choice_of_more_than_nine(make_engine, call, entry, ok):
    d = call(make_engine("input_choice_many.yaml"), plan_id="input_choice_many")
    assert d.gather.num_digits is None  # two keys may be needed: ended by the finish key
    d.press(entry)
    assert d.path[0] == ("choose", "next" if ok else "invalid")
    if ok:
        assert stored(d, "Choice") == entry


# --- regex -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "ok"), [("12", True), ("34", True), ("1234", False), ("123", False), ("3", False)]
)
def test_regex_is_a_full_match(make_engine, call, entry, ok):
    d = call(make_engine("input_regex.yaml"), plan_id="input_regex")
    d.press(entry)
    assert d.path[0] == ("ask_code", "next" if ok else "invalid")


# --- re-prompts ------------------------------------------------------------------------

PROMPT = Say("Enter your six digit account number.", "Polly.Amy", "en-GB")
NO_INPUT_PROMPT = Say("Sorry, we did not hear anything.", "Polly.Amy", "en-GB")
INVALID_PROMPT = Say("Sorry, that is not a valid account number.", "Polly.Amy", "en-GB")


def test_no_input_plays_no_input_prompt_then_prompt(make_engine, call):
    d = call(make_engine("input_retries.yaml"), plan_id="input_retries")
    assert d.gather.prompts == (PROMPT,)
    d.silence()
    assert not d.ended
    assert d.gather.prompts == (NO_INPUT_PROMPT, PROMPT)
    assert (d.gather.num_digits, d.gather.finish_on_key) == (6, "#")


def test_invalid_plays_invalid_prompt_then_prompt(make_engine, call):
    d = call(make_engine("input_retries.yaml"), plan_id="input_retries")
    d.press("12")
    assert d.gather.prompts == (INVALID_PROMPT, Pause(1), PROMPT)
    assert d.heard == [INVALID_PROMPT.text, PROMPT.text]


def test_retries_allow_a_good_entry_on_the_last_attempt(make_engine, call):
    d = call(make_engine("input_retries.yaml"), plan_id="input_retries")
    d.silence()
    d.press("12")
    assert not d.ended
    d.press("123456")
    assert stored(d, "Account") == "123456"
    assert d.path == [("ask_account", "next"), ("done", "end")]


def test_retries_are_shared_and_end_in_no_input_after_silence(make_engine, call):
    d = call(make_engine("input_retries.yaml"), plan_id="input_retries")
    d.press("12")
    d.silence()
    assert not d.ended
    d.silence()  # third failure with retries 2
    assert d.ended
    assert d.heard == ["No input."]
    assert d.path == [("ask_account", "no_input"), *NO_INPUT]


def test_retries_exhausted_end_in_invalid_after_an_entry(make_engine, call):
    d = call(make_engine("input_retries.yaml"), plan_id="input_retries")
    d.silence()
    d.silence()
    assert not d.ended
    d.press("99")
    assert d.heard == ["Invalid."]
    assert d.path == [("ask_account", "invalid"), *INVALID]


def test_only_the_finish_key_is_no_input(make_engine, call):
    d = call(make_engine("input_retries.yaml"), plan_id="input_retries")
    press_finish_key(d)
    assert d.gather.prompts == (NO_INPUT_PROMPT, PROMPT)
    d.press("1")
    press_finish_key(d)
    assert d.path == [("ask_account", "no_input"), *NO_INPUT]


def test_reprompt_without_texts_repeats_the_prompt(make_engine, call):
    d = call(make_engine("input_retries_plain.yaml"), plan_id="input_retries_plain")
    d.silence()
    assert d.heard == ["Enter your account number."]
    d.press("*")
    assert d.heard == ["Invalid."]
    assert d.path == [("ask_account", "invalid"), *INVALID]


# --- confirm ---------------------------------------------------------------------------


def readback(d: CallDriver) -> str:
    """The read-back turn: one Say in a one-key Gather."""
    g = d.gather
    assert g.num_digits == 1
    assert len(d.heard) == 1
    text = d.heard[0]
    assert "press 1" in text and "press 2" in text
    return text


def test_confirm_reads_an_amount_as_currency_and_1_accepts(make_engine, call):
    d = call(make_engine("input_confirm.yaml"), plan_id="input_confirm")
    d.press("42*5")
    text = readback(d)
    assert "£42.50" in text
    assert d.gather.prompts[0].voice == "Polly.Amy"
    assert "Amount" not in d.data  # not stored until accepted
    d.press("1")
    assert stored(d, "Amount") == "42.50"
    assert d.heard == ["Enter the day and month."]


def test_confirm_reads_a_whole_amount_without_pence(make_engine, call):
    d = call(make_engine("input_confirm.yaml"), plan_id="input_confirm")
    d.press("100")
    text = readback(d)
    assert "£100" in text and "£100.00" not in text


def test_confirm_2_re_enters(make_engine, call):
    d = call(make_engine("input_confirm.yaml"), plan_id="input_confirm")
    d.press("42")
    readback(d)
    d.press("2")
    assert d.heard == ["Enter the amount."]
    d.press("7")
    assert "£7" in readback(d)
    d.press("1")
    assert stored(d, "Amount") == "7.00"


def test_confirm_reads_a_date_and_digits(make_engine, call):
    d = call(make_engine("input_confirm.yaml"), plan_id="input_confirm")
    d.press("10")
    d.press("1")
    d.press("2511")
    text = readback(d)
    assert "Wednesday 25 November" in text and "2026" not in text
    d.press("1")
    d.press("1234")
    assert "1 2 3 4" in readback(d)
    d.press("1")
    assert d.heard == ["Paying 10.00 on 2026-11-25 from 1234."]
    assert d.path == [
        ("ask_amount", "next"),
        ("ask_date", "next"),
        ("ask_account", "next"),
        ("done", "end"),
    ]


def test_confirm_reads_next_years_date_with_the_year(make_engine, call, clock):
    clock.set(datetime(2026, 12, 30, 12, 0, tzinfo=UTC))
    d = call(make_engine("input_confirm.yaml"), plan_id="input_confirm")
    d.press("10")
    d.press("1")
    d.press("0201")
    assert "Saturday 2 January 2027" in readback(d)


def test_confirm_not_asked_for_an_invalid_entry(make_engine, call):
    d = call(make_engine("input_confirm.yaml"), plan_id="input_confirm")
    d.press("1000")  # above max 500
    assert d.heard == ["Enter the amount."]


# --- defaults --------------------------------------------------------------------------


def test_defaults_are_inherited(make_engine, call):
    d = call(make_engine("input_defaults.yaml"), plan_id="input_defaults")
    g = d.gather
    assert g.timeout == 7
    assert g.prompts == (Say("Enter your reference.", "Polly.Brian", "en-GB"),)
    d.silence()  # retries 1 from the defaults
    assert isinstance(d.waiting, Gather)
    d.silence()
    assert d.path == [("inherits", "no_input"), *NO_INPUT]


def test_defaults_finish_on_key_is_inherited(make_engine, call):
    d = call(make_engine("input_defaults.yaml"), plan_id="input_defaults")
    assert d.gather.finish_on_key == "*"


def test_applet_fields_override_defaults(make_engine, call):
    d = call(make_engine("input_defaults.yaml"), plan_id="input_defaults")
    d.press("123")
    g = d.gather
    assert (g.timeout, g.finish_on_key) == (3, "#")
    assert g.prompts == (Say("Enter your postcode digits.", "Polly.Joanna", "en-US"),)
    d.silence()  # retries 0 here
    assert d.path == [("inherits", "next"), ("overrides", "no_input"), *NO_INPUT]


def test_confirm_re_entry_is_not_a_failed_attempt(make_engine, call):
    """Pressing 2 is the caller's choice, not a no-input or invalid entry: with retries 0
    the caller can still re-enter, and then has the same attempts as at first."""
    d = call(make_engine("input_confirm_no_retries.yaml"), plan_id="input_confirm_no_retries")
    d.press("42")
    readback(d)
    d.press("2")
    assert not d.ended
    assert d.heard == ["Enter the amount."]
    d.press("43")
    readback(d)
    d.press("1")
    assert d.data["Amount"] == "43.00"
    assert d.path == [("ask_amount", "next"), ("done", "end")]


def test_confirm_silence_or_other_key_uses_retries(make_engine, call):
    d = call(make_engine("input_confirm.yaml"), plan_id="input_confirm")  # retries 2
    d.press("42")
    d.silence()
    assert "£42" in readback(d)  # asked again
    d.press("5")
    assert "£42" in readback(d)
    d.silence()
    assert d.path == [("ask_amount", "no_input"), ("said_nothing", "end")]
    assert "Amount" not in d.data


PIN_PLAN = """
plan: set_pin
start: ask_pin
applets:
  ask_pin:
    type: collect_digits
    prompt: "Choose a PIN."
    store: CardPin
    min_length: 4
    max_length: 4
    confirm: true
    next: done
    on: {no_input: done, invalid: done}
  done:
    type: hangup
    say: "Your PIN $(CardPin) is set. Call reference 4242424242424242."
"""


def test_the_transcript_hides_what_a_secret_looking_name_holds(make_engine, call):
    """Keys typed into CardPin, its read-back and a prompt that says it are not kept; nor is
    a card-number-like run in a prompt."""
    engine = make_engine(PIN_PLAN)
    d = call(engine, plan_id="set_pin")
    d.press("9876")
    d.press("1")
    assert d.ended and "9876" in " ".join(d.heard)  # the caller heard it
    record = d.record()
    assert record is not None and record.transcript
    kept = " ".join(line.text for line in record.transcript)
    assert "9876" not in kept and "9 8 7 6" not in kept, kept
    assert "4242424242424242" not in kept and "[REDACTED]" in kept
    assert "pressed ••••" in kept
    assert all("9876" not in str(step.data) for step in record.path)
