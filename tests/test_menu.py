"""menu through the turn API: routing by key, repeat_key, re-prompts, no_input and no_match."""

from __future__ import annotations

import pytest

from tests.driver import Say

PROMPT = "For billing, press 1. For sales, press 2. To hear this again, press 9."
NO_INPUT_PROMPT = "Sorry, we did not hear a choice."
INVALID_PROMPT = "Sorry, that is not one of the options."


@pytest.fixture
def menu(make_engine, call):
    return lambda: call(make_engine("input_menu.yaml"), plan_id="input_menu")


def test_menu_asks_for_one_key(menu):
    d = menu()
    g = d.gather
    assert g.prompts == (Say(PROMPT, "Polly.Amy", "en-GB"),)
    assert (g.num_digits, g.finish_on_key, g.timeout) == (1, "", 6)


@pytest.mark.parametrize(
    ("key", "target", "heard"), [("1", "billing", "Billing."), ("2", "sales", "Sales.")]
)
def test_each_option_routes_and_stores_the_key(menu, key, target, heard):
    d = menu()
    d.press(key)
    assert d.ended
    assert d.heard == [heard]
    assert d.data["MenuChoice"] == key
    assert d.path == [("main_menu", key), (target, "end")]


def test_repeat_key_replays_without_using_a_retry(menu):
    d = menu()
    for _ in range(3):  # more than retries (1) allows
        d.press("9")
        assert not d.ended
        assert d.heard == [PROMPT]
    d.press("2")
    assert d.heard == ["Sales."]
    assert d.path == [("main_menu", "2"), ("sales", "end")]


def test_repeat_key_leaves_the_retry_for_a_wrong_key(menu):
    d = menu()
    d.press("9")
    d.press("9")
    d.press("5")
    assert d.heard == [INVALID_PROMPT, PROMPT]
    d.press("1")
    assert d.path == [("main_menu", "1"), ("billing", "end")]


def test_no_input_reprompts_then_ends_in_no_input(menu):
    d = menu()
    d.silence()
    assert d.heard == [NO_INPUT_PROMPT, PROMPT]
    assert d.gather.num_digits == 1
    d.silence()
    assert d.heard == ["No input."]
    assert "MenuChoice" not in d.data
    assert d.path == [("main_menu", "no_input"), ("said_nothing", "end")]


def test_wrong_key_plays_invalid_prompt_then_ends_in_no_match(menu):
    d = menu()
    d.press("5")
    assert d.heard == [INVALID_PROMPT, PROMPT]
    d.press("7")
    assert d.heard == ["No match."]
    assert "MenuChoice" not in d.data
    assert d.path == [("main_menu", "no_match"), ("no_match", "end")]


def test_retries_are_shared_last_attempt_decides_the_outcome(menu):
    d = menu()
    d.silence()
    d.press("5")
    assert d.path == [("main_menu", "no_match"), ("no_match", "end")]
    d = menu()
    d.press("5")
    d.silence()
    assert d.path == [("main_menu", "no_input"), ("said_nothing", "end")]


@pytest.fixture
def keys_menu(make_engine, call):
    return lambda: call(make_engine("input_menu_keys.yaml"), plan_id="input_menu_keys")


def test_star_and_hash_menu_does_not_use_a_finish_key(keys_menu):
    d = keys_menu()
    g = d.gather
    assert (g.num_digits, g.finish_on_key, g.timeout) == (1, "", 4)
    assert g.prompts[0].voice is None


@pytest.mark.parametrize(("key", "target"), [("*", "went_back"), ("#", "agent"), ("0", "operator")])
def test_star_and_hash_are_options(keys_menu, key, target):
    d = keys_menu()
    d.press(key)
    assert d.data["Key"] == key
    assert d.path == [("keys_menu", key), (target, "end")]


def test_retries_zero_ends_at_once(keys_menu):
    d = keys_menu()
    d.press("1")
    assert d.path == [("keys_menu", "no_match"), ("no_match", "end")]
    d = keys_menu()
    d.silence()
    assert d.path == [("keys_menu", "no_input"), ("said_nothing", "end")]
