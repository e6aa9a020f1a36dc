"""say and set_data through the turn API: what is spoken, loops, for_each, missing data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.driver import Hangup, Pause, Play, Say

AMY = ("Polly.Amy", "en-GB")


def performed(actions: Any) -> list[Any]:
    """What the caller actually hears, with `loop` expanded: Say(x, loop=2) is x twice."""
    out: list[Any] = []
    for a in actions:
        if isinstance(a, Say):
            out += [Say(a.text, a.voice, a.language)] * a.loop
        elif isinstance(a, Play):
            out += [Play(a.url)] * a.loop
        else:
            out.append(a)
    return out


# --- say -------------------------------------------------------------------------------


def test_say_play_prompts_and_voice(make_engine, call):
    d = call(make_engine("input_say.yaml"), plan_id="input_say")
    assert d.ended
    assert list(d.last.actions) == [
        Say("Hello. Your balance is £42.50, due on Friday 27 November.", *AMY),
        Play("https://example.com/audio/chime.mp3"),
        Say("Please wait.", *AMY),
        Pause(2),
        Play("https://example.com/audio/hold.mp3"),
        Say("Thank you for waiting.", *AMY),
        Say("Have a nice day.", "Polly.Joanna", "en-US"),
        Say("Goodbye.", *AMY),
        Hangup(),
    ]
    assert d.path == [
        ("hello", "next"),
        ("chime", "next"),
        ("parts", "next"),
        ("american", "next"),
        ("goodbye", "end"),
    ]
    assert d.session.missing == []


def test_loop_repeats_a_single_text(make_engine, call):
    d = call(make_engine("input_say_loop.yaml"), plan_id="input_say_loop")
    heard = performed(d.last.actions)
    assert heard[:3] == [Say("Single.")] * 3
    assert heard[3] != Say("Single.")


def test_loop_repeats_a_prompts_list_as_a_whole(make_engine, call):
    d = call(make_engine("input_say_loop.yaml"), plan_id="input_say_loop")
    heard = performed(d.last.actions)[3:]
    assert heard == [
        Say("First."),
        Pause(1),
        Say("Second."),
        Say("First."),
        Pause(1),
        Say("Second."),
        Say("Goodbye."),
        Hangup(),
    ]


def test_for_each_speaks_once_per_item_with_item_and_index(make_engine, call):
    d = call(make_engine("input_for_each.yaml"), plan_id="input_for_each")
    actions = list(d.last.actions)
    assert actions[:4] == [
        Say("Bill 1, reference A 1, £42.50.", *AMY),
        Pause(1),
        Say("Bill 2, reference B 2, £100.", *AMY),
        Pause(1),
    ]


def test_empty_or_missing_list_says_nothing_and_continues(make_engine, call):
    d = call(make_engine("input_for_each.yaml"), plan_id="input_for_each")
    assert not any("Never spoken" in text for text in d.heard)
    assert d.path == [
        ("list_bills", "next"),
        ("list_none", "next"),
        ("list_missing", "next"),
        ("missing_value", "next"),
        ("goodbye", "end"),
    ]
    assert "Statements" in d.session.missing
    assert "NoBills" not in d.session.missing  # present, just empty


def test_missing_data_source_renders_empty_and_is_recorded(make_engine, call):
    d = call(make_engine("input_for_each.yaml"), plan_id="input_for_each")
    assert d.heard[-2:] == ["Your reference is . Your bill is .", "Goodbye."]
    missing = d.session.missing
    assert "Reference" in missing
    assert any(m.startswith("Bills") for m in missing)  # a path into nothing
    record = d.record()
    assert record is not None
    assert "Reference" in record.missing and "Statements" in record.missing


# --- set_data --------------------------------------------------------------------------


def test_set_values_are_visible_from_the_next_applet(make_engine, call):
    d = call(make_engine("input_set_data.yaml"), plan_id="input_set_data")
    assert d.heard[0] == (
        "A new, B old, C new-old, count 5, flag true, off false, price 1.50, fresh []."
    )
    assert d.path == [("first", "next"), ("second", "next"), ("report", "next"), ("goodbye", "end")]


def test_set_values_are_not_visible_inside_the_same_applet(make_engine, call):
    d = call(make_engine("input_set_data.yaml"), plan_id="input_set_data")
    data = d.data
    assert data["A"] == "new"
    assert data["B"] == "old"  # $(A) as it was on entry
    assert data["C"] == "new-old"  # the next applet sees both
    assert data["Fresh"] == "zed"
    assert data["SeesFresh"] == ""  # Fresh did not exist yet inside `second`
    assert "Fresh" in d.session.missing


def test_set_keeps_numbers_and_booleans(make_engine, call):
    d = call(make_engine("input_set_data.yaml"), plan_id="input_set_data")
    data = d.data
    assert data["Count"] == 5 and type(data["Count"]) is int
    assert data["Flag"] is True
    assert data["Off"] is False
    assert data["Nothing"] is None
    assert not isinstance(data["Price"], float)  # money is never a float
    assert Decimal(str(data["Price"])) == Decimal("1.50")
