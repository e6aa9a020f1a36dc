"""transfer (numbers, queue) and transfer_to_pci: what is dialled and where each status leads."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.engine.actions import Dial, Enqueue, Say

TRANSFER = "route_transfer.yaml"
DDI = "+441000000102"


def start_transfer(make_engine: Any, call: Any, key: str) -> Any:
    c = call(make_engine(TRANSFER), called=DDI)
    c.press(key)
    return c


# --- transfer: one number ------------------------------------------------------------------


def test_number_announce_then_dial(make_engine: Any, call: Any) -> None:
    c = start_transfer(make_engine, call, "1")
    assert not c.ended
    *lead, dial = c.last.actions
    assert lead == [Say("Connecting you to an agent.")]
    assert dial == Dial(
        number="+442071230200", caller_id=DDI, timeout=25, time_limit=3600, record=False
    )
    assert c.session.waiting == "dial"


@pytest.mark.parametrize("status", ["completed", "answered"])
def test_number_answered_goes_to_next_and_is_delivered(
    make_engine: Any, call: Any, status: str
) -> None:
    c = start_transfer(make_engine, call, "1")
    c.dial(status)
    assert c.ended
    assert c.heard == ["Thank you for calling."]
    assert c.data["InteractionOutcome"] == "Delivered"
    assert c.path[-2:] == [("to_number", "next"), ("after", "end")]
    assert c.record().outcome == "Delivered"


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_number_not_answered_goes_to_failure(make_engine: Any, call: Any, status: str) -> None:
    c = start_transfer(make_engine, call, "1")
    c.dial(status)
    assert c.ended
    assert c.heard == ["Nobody could take your call."]
    assert c.path[-2:] == [("to_number", "failure"), ("failed", "end")]
    assert c.data["InteractionOutcome"] != "Delivered"
    assert c.record().outcome != "Delivered"


# --- transfer: numbers in order ------------------------------------------------------------


def test_numbers_are_tried_in_order(make_engine: Any, call: Any) -> None:
    c = start_transfer(make_engine, call, "2")
    assert c.dialled.number == "+442071230201"
    assert c.dialled.timeout == 15  # ring_timeout from the plan defaults
    assert c.dialled.caller_id is None  # the caller's own number
    c.dial("no-answer")
    assert not c.ended
    assert c.last.actions == (Dial(number="+442071230202", timeout=15),)
    c.dial("completed")
    assert c.heard == ["Thank you for calling."]
    assert c.data["InteractionOutcome"] == "Delivered"
    assert c.path[-2:] == [("to_numbers", "next"), ("after", "end")]


@pytest.mark.parametrize("first", ["busy", "no-answer", "failed"])
def test_numbers_all_unanswered_go_to_failure(make_engine: Any, call: Any, first: str) -> None:
    c = start_transfer(make_engine, call, "2")
    c.dial(first)
    assert c.dialled.number == "+442071230202"
    c.dial("busy")
    assert c.ended
    assert c.heard == ["Nobody could take your call."]
    assert ("to_numbers", "failure") in c.path


# --- transfer: queue -----------------------------------------------------------------------


def test_queue_enqueues_after_announce(make_engine: Any, call: Any) -> None:
    c = start_transfer(make_engine, call, "3")
    assert c.last.actions == (Say("Please hold for the next agent."), Enqueue("support"))
    assert c.session.waiting == "queue"


@pytest.mark.parametrize("result", ["bridged", "bridging-in-process"])
def test_queue_bridged_is_delivered(make_engine: Any, call: Any, result: str) -> None:
    c = start_transfer(make_engine, call, "3")
    c.queue(result)
    assert c.heard == ["Thank you for calling."]
    assert c.data["InteractionOutcome"] == "Delivered"
    assert c.path[-2:] == [("to_queue", "next"), ("after", "end")]


@pytest.mark.parametrize("result", ["queue-full", "error", "system-error"])
def test_queue_failure(make_engine: Any, call: Any, result: str) -> None:
    c = start_transfer(make_engine, call, "3")
    c.queue(result)
    assert c.heard == ["Nobody could take your call."]
    assert c.data["InteractionOutcome"] != "Delivered"
    assert c.path[-2:] == [("to_queue", "failure"), ("failed", "end")]


# --- transfer_to_pci -----------------------------------------------------------------------


def start_pci(make_engine: Any, call: Any) -> Any:
    return call(make_engine("route_pci.yaml"), plan_id="route_pci")


def test_pci_dial_is_unrecorded_with_the_session_clid(make_engine: Any, call: Any) -> None:
    c = start_pci(make_engine, call)
    assert c.last.actions == (
        Say("Transferring you to our secure payment line."),
        Dial(
            number="+442071230999",
            caller_id="+15550001234",
            timeout=20,
            time_limit=600,
            record=False,
        ),
    )


def test_pci_twiml_does_not_record(make_engine: Any, call: Any) -> None:
    from tests.test_twiml import URLS, validate

    c = start_pci(make_engine, call)
    dial = validate(c.last, URLS).find("Dial")
    assert dial is not None
    assert dial.get("record") == "do-not-record"
    assert dial.get("callerId") == "+15550001234"
    assert dial.get("timeout") == "20"
    assert dial.get("timeLimit") == "600"
    assert dial.findtext("Number") == "+442071230999"


@pytest.mark.parametrize("status", ["completed", "answered"])
def test_pci_completed_goes_to_next(make_engine: Any, call: Any, status: str) -> None:
    c = start_pci(make_engine, call)
    c.dial(status)
    assert c.heard == ["The payment line has finished."]
    assert c.data["PciLegStatus"] == status
    assert c.path == [("intro", "next"), ("pay", "next"), ("done", "end")]
    assert c.record().outcome == "PaymentLegDone"


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_pci_not_completed_goes_to_failure(make_engine: Any, call: Any, status: str) -> None:
    c = start_pci(make_engine, call)
    c.dial(status)
    assert c.heard == ["The payment line is not available."]
    assert c.data["PciLegStatus"] == status
    assert c.path == [("intro", "next"), ("pay", "failure"), ("failed", "end")]
    assert c.record().outcome == "PaymentLegFailed"


def test_pci_leg_keeps_nothing_but_its_status(make_engine: Any, call: Any) -> None:
    """During the payment leg the session holds no per-applet state and no new data; keys that
    reach the engine for that turn (they never should) are not stored; afterwards only the
    DialCallStatus was added."""
    c = start_pci(make_engine, call)
    before = dict(c.data)
    session = c.session
    assert session.waiting == "dial"
    assert session.state == {}
    stray = c.engine.keys(c.call_sid, c.last.turn, "4111111111111111")
    assert stray == c.last  # the same answer: nothing ran
    assert "4111111111111111" not in c.engine.store.get(c.call_sid)
    assert c.data == before
    c.dial("completed", duration=95)
    after = c.data
    assert {k: v for k, v in after.items() if k not in before} == {"PciLegStatus": "completed"}
    assert {k: after[k] for k in before if k != "InteractionOutcome"} == {
        k: v for k, v in before.items() if k != "InteractionOutcome"
    }
    assert "4111111111111111" not in c.engine.store.get(c.call_sid)
