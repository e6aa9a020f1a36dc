"""Run-time rules of the engine: hangup and call records, goto_plan, fallback, the step limit,
repeated webhooks, hang-ups in any order, plan versions pinned per call, withheld callers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ivr.engine.actions import Hangup, Pause, Say
from ivr.engine.loader import load_text
from ivr.engine.turns import APOLOGY
from tests.conftest import PLANS

RULES = "route_rules.yaml"


# --- hangup and the call record ------------------------------------------------------------


def test_hangup_says_goodbye_sets_outcome_and_ends(make_engine: Any, call: Any) -> None:
    engine = make_engine("route_hangup.yaml")
    c = call(engine, called="+441000000105", caller="+447700900123")
    assert c.ended
    assert c.last.actions == (
        Say("Hello.", "Polly.Amy", "en-GB"),
        Say("Thank you for calling.", "Polly.Amy", "en-GB"),
        Pause(1),
        Say("Goodbye.", "Polly.Amy", "en-GB"),
        Hangup(),
    )
    assert c.data["InteractionOutcome"] == "PaymentTaken"
    record = c.record()
    assert record is not None
    assert record.call_sid == c.call_sid
    assert record.plan_id == "route_hangup"
    assert record.plan_version == engine.catalog.current("route_hangup").version
    assert record.clid == "+447700900123"
    assert record.ddi == "+441000000105"
    assert record.outcome == "PaymentTaken"
    assert [(s.applet, s.outcome) for s in record.path] == [("hello", "next"), ("bye", "end")]
    assert record.started_at and record.ended_at


def test_hangup_record_is_written_once(make_engine: Any, call: Any) -> None:
    engine = make_engine("route_hangup.yaml")
    c = call(engine, plan_id="route_hangup")
    assert len(engine.recorder.records) == 1
    c.hangup()  # the status callback that follows
    c.hangup()  # and a repeated one
    assert len(engine.recorder.records) == 1
    assert engine.recorder.records[0].outcome == "PaymentTaken"


def test_status_callback_after_hangup_removes_the_session(make_engine: Any, call: Any) -> None:
    """Sessions are removed when the call ends; the status callback says it has."""
    engine = make_engine("route_hangup.yaml")
    c = call(engine, plan_id="route_hangup")
    c.hangup()
    assert engine.session(c.call_sid) is None


# --- goto_plan -----------------------------------------------------------------------------


def goto_engine(make_engine: Any) -> Any:
    return make_engine("route_goto_from.yaml", "route_goto_target.yaml")


def test_goto_plan_at_applet_carries_data(make_engine: Any, call: Any) -> None:
    engine = goto_engine(make_engine)
    c = call(engine, plan_id="route_goto_from")
    c.press("1")
    assert c.ended
    # Colour and Greeting carried over win over the target's constants; Only comes from it
    assert c.heard == [
        "Colour red, greeting from the first plan, only target only, plan route_goto_target."
    ]
    assert c.data["PlanId"] == "route_goto_target"
    assert c.session.plan_id == "route_goto_target"
    assert c.path == [
        ("remember", "next"),
        ("choose", "1"),
        ("to_middle", "goto_plan:route_goto_target"),
        ("middle", "end"),
    ]


def test_goto_plan_without_applet_starts_at_start(make_engine: Any, call: Any) -> None:
    engine = goto_engine(make_engine)
    c = call(engine, plan_id="route_goto_from")
    c.press("2")
    assert c.heard == [
        "Start of target.",
        "Colour red, greeting from the first plan, only target only, plan route_goto_target.",
    ]
    record = c.record()
    assert record.plan_id == "route_goto_target"
    assert [(s.applet, s.plan) for s in record.path] == [
        ("remember", "route_goto_from"),
        ("choose", "route_goto_from"),
        ("to_start", "route_goto_from"),
        ("first", "route_goto_target"),
        ("middle", "route_goto_target"),
    ]


# --- unrouted outcomes and errors ----------------------------------------------------------


def test_unrouted_outcome_goes_to_fallback(make_engine: Any, call: Any) -> None:
    c = call(make_engine(RULES), plan_id="route_rules")
    c.press("1")
    c.silence()  # retries 0: no_input, which is not routed
    assert c.ended
    assert c.heard == ["Sorry, something went wrong."]
    assert c.path[-2:] == [("unrouted", "no_input"), ("sorry", "end")]
    assert c.record().outcome == "Fallback"


def test_unrouted_outcome_without_fallback_apologises_and_logs_an_error(
    make_engine: Any, call: Any, caplog: pytest.LogCaptureFixture
) -> None:
    c = call(make_engine("route_rules_no_fallback.yaml"), plan_id="route_rules_no_fallback")
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        c.silence()
    assert c.ended
    assert c.last.actions == (Say(APOLOGY, "Polly.Amy", "en-GB"), Hangup())
    assert c.record().outcome == "Error"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "no error was logged: " + repr([r.getMessage() for r in caplog.records])
    assert any(c.call_sid in r.getMessage() for r in errors)


def test_applet_error_goes_to_fallback(
    make_engine: Any, call: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A choice count placeholder that is not a number raises EngineError on entry."""
    c = call(make_engine(RULES), plan_id="route_rules")
    with caplog.at_level(logging.ERROR):
        c.press("2")
    assert c.ended
    assert c.heard[-1] == "Sorry, something went wrong."
    assert c.path[-2:] == [("bad_choice", "error"), ("sorry", "end")]
    assert c.record().outcome == "Fallback"
    assert any(
        r.exc_info
        and type(r.exc_info[1]).__name__ == "EngineError"
        and c.call_sid in r.getMessage()
        for r in caplog.records
    )


# --- at most 100 applets per turn ----------------------------------------------------------


@pytest.mark.parametrize("key", ["3", "5"])
def test_loop_without_caller_step_ends_at_fallback(
    make_engine: Any, call: Any, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    c = call(make_engine(RULES), plan_id="route_rules")
    before = len(c.path)
    with caplog.at_level(logging.ERROR):
        c.press(key)
    assert c.ended
    assert c.heard == ["Sorry, something went wrong."]
    steps = c.path[before:]
    assert steps[-1] == ("sorry", "end")
    ran = steps[1:-1]  # after the menu, before the fallback
    assert 2 < len(ran) <= 100
    assert {a for a, _ in ran} <= {"loop_a", "loop_b", "count_loop"}
    assert any(r.levelno >= logging.ERROR for r in caplog.records)


def test_loop_through_its_own_fallback_still_ends(make_engine: Any, call: Any) -> None:
    c = call(make_engine("route_loop_fallback.yaml"), plan_id="route_loop_fallback")
    assert c.ended
    assert c.heard == [APOLOGY]
    assert len(c.path) <= 200


class Hung(BaseException):
    """A BaseException, so that the engine's `except Exception` cannot swallow it."""


def test_goto_plan_loop_ends_at_fallback(
    make_engine: Any, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """route_ping → route_pong → route_ping ... has no caller step: the step limit applies to
    goto_plan as to any applet. (The guard stops the test after 1000 jumps instead of hanging.)"""
    engine = make_engine("route_ping.yaml", "route_pong.yaml")
    current = engine.catalog.current
    jumps = 0

    def counted(plan_id: str) -> Any:
        nonlocal jumps
        jumps += 1
        if jumps > 1000:
            raise Hung("1000 goto_plan jumps in one turn")
        return current(plan_id)

    monkeypatch.setattr(engine.catalog, "current", counted)
    try:
        c = call(engine, plan_id="route_ping")
    except Hung as exc:
        pytest.fail(f"the goto_plan loop never ends: {exc}")
    assert c.ended
    assert c.heard == ["Stopped."]
    assert len(c.path) <= 101


# --- repeated webhooks ---------------------------------------------------------------------


def test_repeated_start_returns_the_same_turn(make_engine: Any, call: Any) -> None:
    engine = make_engine(RULES)
    c = call(engine, plan_id="route_rules")
    again = engine.start_call(c.call_sid, caller="+447700900123", plan_id="route_rules")
    assert again == c.last
    assert len(c.path) == 0 and c.session.turn == 1


def test_repeated_keys_webhook_runs_nothing_twice(make_engine: Any, call: Any) -> None:
    engine = make_engine(RULES)
    c = call(engine, plan_id="route_rules")
    turn = c.last.turn
    first = engine.keys(c.call_sid, turn, "4")
    path = list(c.path)
    assert first.waits_for == "dial"
    again = engine.keys(c.call_sid, turn, "4")
    assert again == first
    assert c.path == path
    # a repeat with other digits for the same turn is still a repeat
    assert engine.keys(c.call_sid, turn, "1") == first
    assert c.path == path


def test_repeated_dial_webhook_runs_nothing_twice(make_engine: Any, call: Any) -> None:
    engine = make_engine(RULES)
    c = call(engine, plan_id="route_rules")
    c.press("4")
    turn = c.last.turn
    first = engine.dial_ended(c.call_sid, turn, "completed", 60)
    path = list(c.path)
    assert path[-1] == ("agent", "next")
    assert first.waits_for == "keys"  # back at the menu
    again = engine.dial_ended(c.call_sid, turn, "completed", 60)
    assert again == first
    assert c.path == path
    assert c.session.turn == first.turn


def test_end_call_twice_writes_one_record(make_engine: Any, call: Any) -> None:
    engine = make_engine(RULES)
    c = call(engine, plan_id="route_rules")
    first = c.hangup()
    assert first is not None
    assert c.hangup() is None
    assert len(engine.recorder.records) == 1
    assert engine.recorder.records[0].path[-1].outcome == "caller_hung_up"


def test_status_callback_before_dial_action(make_engine: Any, call: Any) -> None:
    """The record does not depend on the order: the late action tells how the transfer went,
    and the record comes out as when the action arrives first (see the next test)."""
    engine = make_engine(RULES)
    c = call(engine, plan_id="route_rules")
    c.press("4")
    turn = c.last.turn
    record = c.hangup()  # the status callback arrives first
    assert record is not None and record.outcome == "Abandoned"  # all that is known yet
    late = engine.dial_ended(c.call_sid, turn, "completed", 60)  # then the dial action
    assert late.ended
    assert isinstance(late.actions[-1], Hangup)
    assert len(engine.recorder.records) == 1
    written = engine.recorder.records[0]
    assert written.outcome == "Delivered"
    assert [(s.applet, s.outcome) for s in written.path][-2:] == [
        ("agent", "next"),
        ("choose", "caller_hung_up"),
    ]
    again = engine.dial_ended(c.call_sid, turn, "completed", 60)  # a repeat changes nothing
    assert again.actions == late.actions
    assert c.hangup() is None
    assert len(engine.recorder.records) == 1


def test_dial_action_then_status_callback(make_engine: Any, call: Any) -> None:
    engine = make_engine(RULES)
    c = call(engine, plan_id="route_rules")
    c.press("4")
    c.dial("completed")  # the dial action first: back at the menu
    assert c.data["InteractionOutcome"] == "Delivered"
    record = c.hangup()
    assert record is not None and record.outcome == "Delivered"
    assert [(s.applet, s.outcome) for s in record.path][-2:] == [
        ("agent", "next"),
        ("choose", "caller_hung_up"),
    ]
    assert c.hangup() is None
    assert len(engine.recorder.records) == 1


# --- plan versions -------------------------------------------------------------------------


def test_call_keeps_the_plan_version_it_started_with(make_engine: Any, call: Any) -> None:
    engine = make_engine("route_version.yaml")
    old = engine.catalog.current("route_version").version
    running = call(engine, called="+441000000107")
    text = (PLANS / "route_version.yaml").read_text().replace("Old goodbye.", "New goodbye.")
    engine.catalog.add(load_text(text, "route_version.yaml")[0])
    new = engine.catalog.current("route_version").version
    assert new != old
    fresh = call(engine, called="+441000000107")
    running.press("1")
    assert running.heard == ["Old goodbye."]
    assert running.record().plan_version == old
    fresh.press("1")
    assert fresh.heard == ["New goodbye."]
    assert fresh.record().plan_version == new


def test_pinned_version_served_by_another_process(make_engine: Any, call: Any, store: Any) -> None:
    """A second engine sharing the store, which only ever loaded the new version, finishes a
    call on the version it started with."""
    first = make_engine("route_version.yaml", store=store)
    running = call(first, called="+441000000107")
    text = (PLANS / "route_version.yaml").read_text().replace("Old goodbye.", "New goodbye.")
    second = make_engine(text, store=store)
    turn = second.keys(running.call_sid, running.last.turn, "1")
    assert [a.text for a in turn.actions if isinstance(a, Say)] == ["Old goodbye."]


# --- withheld callers ----------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["anonymous", "", "+266696687", "Anonymous"])
def test_withheld_caller_has_empty_clid(make_engine: Any, call: Any, caller: str) -> None:
    engine = make_engine("route_hangup.yaml")
    c = call(engine, called="+441000000105", caller=caller)
    assert c.data["CLID"] == ""
    assert c.record().clid == ""


def test_a_session_written_by_a_newer_worker_still_loads() -> None:
    """A rolling deploy: a field this version does not know is left out, not a crash."""
    from ivr.engine.session import Session

    text = Session("CA1", "p", "v", "2026-11-30T10:00:00+00:00").to_json()
    newer = text[:-1] + ',"a_field_from_the_future":[1,2]}'
    assert Session.from_json(newer).call_sid == "CA1"
