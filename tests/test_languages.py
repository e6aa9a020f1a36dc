"""Plans in more than one language (issue 17): `languages:`, prompts per language, the caller's
language (Language), voices, formatters and the engine's own words in that language, and the
PCI bridge speaking the session's language."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ivr.adapters.twiml import render
from ivr.engine.actions import Say
from ivr.lang.formatters import Formatting, speak_date
from pci_bridge.config import BridgeConfig
from tests.test_pci_voice import VISA, PciHarness, card, pci  # noqa: F401 (fixture)
from tests.test_twiml import URLS, assert_valid_twiml

BILINGUAL = """
plan: bilingual
start: choose
languages:
  en-GB: {voice: Polly.Amy}
  cy-GB: {voice: Polly.Gwyneth}
defaults: {timezone: Europe/London}
data: {Due: "2026-12-04", Amount: "42.50"}
applets:
  choose:
    type: menu
    prompt:
      - {say: "Croeso.", language: cy-GB}
      - {say: "For English, press 9.", language: en-GB}
    options: {"9": english, "1": welsh}
    timeout: 2
    retries: 0
    on: {no_input: welsh, no_match: welsh}
  english:
    type: set_data
    set: {Language: en-GB}
    next: due
  welsh:
    type: set_data
    set: {Language: cy-GB}
    next: due
  due:
    type: say
    say:
      en-GB: "You owe $(Amount:currency), due $(Due:date)."
      cy-GB: "Mae arnoch $(Amount:currency), i'w dalu erbyn $(Due:date)."
    next: amount
  amount:
    type: collect_digits
    prompt: {en-GB: "Enter an amount.", cy-GB: "Rhowch swm."}
    store: Paid
    validate: {amount: {min: 1}}
    confirm: true
    next: bye
  bye:
    type: hangup
    say: {en-GB: "Goodbye.", cy-GB: "Hwyl fawr."}
"""


@pytest.fixture
def bilingual(make_engine: Any, call: Any) -> Any:
    return lambda: call(make_engine(BILINGUAL), plan_id="bilingual")


def test_a_call_starts_in_the_first_language_and_a_mixed_prompt_speaks_both(
    bilingual: Any,
) -> None:
    d = bilingual()
    assert d.data["Language"] == "en-GB"
    assert d.gather.prompts == (
        Say("Croeso.", "Polly.Gwyneth", "cy-GB"),
        Say("For English, press 9.", "Polly.Amy", "en-GB"),
    )
    assert_valid_twiml(render(d.last, URLS))


def test_welsh_prompts_dates_voice_and_the_engine_s_own_words(bilingual: Any) -> None:
    d = bilingual()
    d.silence()  # a Welsh caller listens on
    assert d.data["Language"] == "cy-GB"
    assert [a for a in d.last.actions if isinstance(a, Say)] == [
        Say("Mae arnoch £42.50, i'w dalu erbyn Dydd Gwener 4 Rhagfyr.", "Polly.Gwyneth", "cy-GB")
    ]
    assert d.gather.prompts == (Say("Rhowch swm.", "Polly.Gwyneth", "cy-GB"),)
    d.press("12*50")
    assert d.heard == [
        "Rydych wedi rhoi £12.50. Os yw hynny'n gywir, pwyswch 1. I'w roi eto, pwyswch 2."
    ]
    assert d.gather.prompts[0].voice == "Polly.Gwyneth"
    d.press("1")
    assert d.heard == ["Hwyl fawr."]
    root = assert_valid_twiml(render(d.last, URLS))
    assert root.find("Say").get("language") == "cy-GB"  # type: ignore[union-attr]


def test_english_after_pressing_9(bilingual: Any) -> None:
    d = bilingual()
    d.press("9")
    assert d.heard[0] == "You owe £42.50, due Friday 4 December."
    assert d.last.actions[0] == Say(d.heard[0], "Polly.Amy", "en-GB")


def test_a_language_the_plan_does_not_speak_falls_back_to_the_first(
    make_engine: Any, call: Any
) -> None:
    plan = BILINGUAL.replace("set: {Language: cy-GB}", "set: {Language: fr-FR}")
    d = call(make_engine(plan), plan_id="bilingual")
    d.press("1")
    assert d.heard[0] == "You owe £42.50, due Friday 4 December."


def test_the_apology_is_in_the_caller_s_language(make_engine: Any, call: Any) -> None:
    plan = """
plan: broken_cy
start: welsh
languages: [en-GB, cy-GB]
data: {Language: cy-GB}
applets:
  welsh:
    type: set_data
    set: {Language: cy-GB}
    next: ask
  ask:
    type: collect_digits
    prompt: {en-GB: "Enter.", cy-GB: "Rhowch."}
    store: X
    validate: {choice: {count: "$(NotANumber)"}}
    next: bye
  bye: {type: hangup}
"""
    d = call(make_engine(plan), plan_id="broken_cy")
    assert d.ended
    assert d.heard == [
        "Mae'n ddrwg gennym, ni allwn barhau â'ch galwad ar hyn o bryd. Ffoniwch eto yn nes "
        "ymlaen. Hwyl fawr."
    ]
    assert d.last.actions[0] == Say(d.heard[0], None, "cy-GB")  # no voice given for Welsh


def test_data_does_not_choose_the_language_the_plan_starts_in(make_engine: Any, call: Any) -> None:
    plan = BILINGUAL.replace(
        'data: {Due: "2026-12-04"', 'data: {Language: cy-GB, Due: "2026-12-04"'
    )
    d = call(make_engine(plan), plan_id="bilingual")
    assert d.data["Language"] == "en-GB"  # Language is the engine's: the first language


@pytest.mark.parametrize(
    ("language", "spoken"),
    [
        ("en-GB", "Friday 4 December"),
        ("cy-GB", "Dydd Gwener 4 Rhagfyr"),
        ("es-ES", "viernes 4 de diciembre"),
        ("", "Friday 4 December"),
        ("fr-FR", "Friday 4 December"),  # no words for it: English
    ],
)
def test_speak_date_in_each_language(language: str, spoken: str) -> None:
    fmt = Formatting("GBP", date(2026, 11, 30), language=language)
    assert speak_date("2026-12-04", fmt) == spoken
    assert speak_date("2027-01-04", fmt).endswith("2027")


def test_a_plan_in_welsh_alone_speaks_welsh_dates(make_engine: Any, call: Any) -> None:
    plan = """
plan: welsh_only
start: due
defaults: {language: cy-GB, voice: Polly.Gwyneth}
data: {Due: "2026-12-04"}
applets:
  due: {type: hangup, say: "Dyddiad: $(Due:date)."}
"""
    d = call(make_engine(plan), plan_id="welsh_only")
    assert d.last.actions[0] == Say("Dyddiad: Dydd Gwener 4 Rhagfyr.", "Polly.Gwyneth", "cy-GB")


# --- the PCI bridge speaks the session's language ------------------------------------------


def test_the_bridge_takes_a_card_in_welsh(pci: Any) -> None:  # noqa: F811
    harness: PciHarness = pci()
    session = harness.create(language="cy-GB")
    paid = harness.pay(session, card())
    said = paid.said
    assert "Rydych yn talu £42.50 i Example Telecom." in said
    assert "Rhowch rif eich cerdyn, yna pwyswch hash." in said
    assert "wedi llwyddo" in said
    assert "Rydym yn eich trosglwyddo'n ôl" not in said  # after a payment the call goes on
    assert "Enter your card number" not in said
    assert harness.view(session["session_id"])["result"]["outcome"] == "success"
    for exchange in paid.transport.exchanges:
        if exchange.is_twiml and "<Say" in exchange.body:
            root = assert_valid_twiml(exchange.body)
            for say in root.iter("Say"):
                assert (say.get("voice"), say.get("language")) == ("Polly.Gwyneth", "cy-GB")


def test_the_bridge_speaks_its_own_language_without_one(pci: Any) -> None:  # noqa: F811
    harness: PciHarness = pci()
    for extra in ({}, {"language": None}, {"language": ""}):
        session = harness.create(**extra)
        paid = harness.pay(session, card())
        assert "Enter your card number, then press hash." in paid.said


@pytest.mark.parametrize("language", ["fr-FR", "welsh", "cy", 42])
def test_a_language_the_bridge_does_not_speak_is_refused(pci: Any, language: Any) -> None:  # noqa: F811
    harness: PciHarness = pci()
    body = {"amount": "10.00", "currency": "GBP", "reference": "A1", "language": language}
    answer = harness.app.test_client().post("/pci/v1/sessions", json=body)
    assert answer.status_code == 400
    problem = answer.get_json()
    assert "language" in str(problem)


def test_operator_prompt_overrides_apply_to_the_bridge_s_own_language_only() -> None:
    config = BridgeConfig(prompts={"number": "Key the long number."})
    assert config.prompt("number") == "Key the long number."
    assert config.prompt("number", "en-GB") == "Key the long number."
    assert config.prompt("number", "cy-GB") == "Rhowch rif eich cerdyn, yna pwyswch hash."
    assert config.voice_for("cy-GB") == "Polly.Gwyneth"
    assert config.voice_for(None) == config.voice_for("en-GB") == "Polly.Amy"


def test_an_item_in_its_own_language_speaks_its_dates_and_has_its_voice_or_none(
    make_engine: Any, call: Any
) -> None:
    plan = """
plan: mixed
start: hello
languages:
  en-GB: {voice: Polly.Amy}
  cy-GB:
data: {Due: "2026-12-04"}
applets:
  hello:
    type: hangup
    prompts:
      - {say: "Date $(Due:date).", language: en-GB}
      - {say: "Dyddiad $(Due:date).", language: cy-GB}
"""
    d = call(make_engine(plan), plan_id="mixed")
    assert d.last.actions[:2] == (
        Say("Date Friday 4 December.", "Polly.Amy", "en-GB"),
        Say("Dyddiad Dydd Gwener 4 Rhagfyr.", None, "cy-GB"),  # no voice of its own
    )


def test_an_applet_with_its_own_language_speaks_its_dates(make_engine: Any, call: Any) -> None:
    plan = BILINGUAL.replace(
        "  bye:\n    type: hangup\n",
        "  bye:\n    type: hangup\n    language: cy-GB\n",
    )
    plan = plan.replace(
        'say: {en-GB: "Goodbye.", cy-GB: "Hwyl fawr."}',
        'say: {en-GB: "Bye $(Due:date).", cy-GB: "Hwyl $(Due:date)."}',
    )
    d = call(make_engine(plan), plan_id="bilingual")
    d.press("9")  # an English call
    d.press("12*50")
    d.press("1")
    assert d.last.actions[0] == Say("Hwyl Dydd Gwener 4 Rhagfyr.", "Polly.Gwyneth", "cy-GB")


def test_a_call_placed_in_a_language_starts_in_it(make_engine: Any) -> None:
    engine = make_engine(BILINGUAL.replace("start: choose", "start: due"))
    for n, (language, first) in enumerate(
        [("cy-GB", "Mae arnoch"), ("fr-FR", "You owe"), (None, "You owe")]
    ):
        data = {"Language": language} if language else None
        sid = f"CA{n:032d}"
        turn = engine.start_call(sid, caller="+447700900123", plan_id="bilingual", data=data)
        said = [a.text for a in turn.actions if isinstance(a, Say)]
        assert said[0].startswith(first), (language, said)  # fr-FR is not spoken: the first


def test_the_apology_of_a_plan_spoken_in_welsh_alone_is_welsh(make_engine: Any, call: Any) -> None:
    plan = """
plan: welsh_broken
start: ask
defaults: {language: cy-GB}
applets:
  ask:
    type: collect_digits
    prompt: "Rhowch."
    store: X
    validate: {choice: {count: "$(NotANumber)"}}
    next: bye
  bye: {type: hangup}
"""
    d = call(make_engine(plan), plan_id="welsh_broken")
    assert d.heard[-1].startswith("Mae'n ddrwg gennym, ni allwn barhau")


def test_operator_overrides_hold_for_every_region_of_the_bridge_s_language() -> None:
    config = BridgeConfig(prompts={"number": "Key the long number."})
    assert config.prompt("number", "en-US") == "Key the long number."
