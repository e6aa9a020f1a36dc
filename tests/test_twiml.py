"""TwiML: exact documents for a gather and a dial turn, and every turn of the example plans and
the route_* test plans validated against Twilio's XML Schema (../shared/twiml-xsd/)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from ivr.adapters.twiml import render
from ivr.engine.actions import Dial, Enqueue, Gather, Hangup, Pause, Play, Say, Turn
from ivr.engine.catalog import Catalog
from ivr.engine.loader import load_file, load_text
from ivr.engine.records import MemoryRecorder
from ivr.engine.stores import MemoryStore
from ivr.engine.turns import Engine
from tests.conftest import EXAMPLES, PLANS, ROOT, LoopbackServer

# A copy of ../shared/twiml-xsd (MIT, see its LICENSE) so a fresh clone can validate TwiML;
# test_vendored_schema_matches_shared keeps the copy identical to the shared one.
XSD_DIR = Path(__file__).resolve().parent / "twiml-xsd"
SHARED_XSD_DIR = ROOT.parent / "shared" / "twiml-xsd"
XSD = XSD_DIR / "twiml_v20100401_twilioRealtimeCallSchema.xsd"


# --- the XSD helper ------------------------------------------------------------------------


@cache
def twiml_schema() -> etree.XMLSchema:
    """Twilio's voice TwiML schema (loaded once; its includes are local files)."""
    return etree.XMLSchema(etree.parse(str(XSD)))


def assert_valid_twiml(document: str | bytes) -> etree._Element:
    """Parse a TwiML document, validate it against the XSD and return its root element."""
    data = document.encode() if isinstance(document, str) else document
    root = etree.fromstring(data)
    schema = twiml_schema()
    if not schema.validate(root):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        raise AssertionError(f"TwiML does not validate: {errors}\n{data.decode()}")
    return root


class Urls:
    """TurnUrls with a query string, so `&` must be escaped in attributes and text."""

    base = "https://ivr.example.com/voice"

    def keys(self, turn: int) -> str:
        return f"{self.base}/keys?call=CA1&turn={turn}"

    def dial(self, turn: int) -> str:
        return f"{self.base}/dial?call=CA1&turn={turn}"

    def queue(self, turn: int) -> str:
        return f"{self.base}/queue?call=CA1&turn={turn}"


URLS = Urls()


def validate(turn: Turn, urls: Any = URLS) -> etree._Element:
    """Render a turn and validate it; the root element for further checks."""
    return assert_valid_twiml(render(turn, urls))


def test_schema_rejects_invalid_twiml() -> None:
    assert_valid_twiml("<Response><Say>Hi</Say><Hangup/></Response>")
    with pytest.raises(AssertionError, match="does not validate"):
        assert_valid_twiml("<Response><Speak>Hi</Speak></Response>")
    with pytest.raises(AssertionError, match="does not validate"):
        assert_valid_twiml('<Response><Dial timeLimit="soon">+44</Dial></Response>')


# --- exact documents -----------------------------------------------------------------------

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
KEYS_1 = "https://ivr.example.com/voice/keys?call=CA1&amp;turn=1"


def first_turn(make_engine: Any, call: Any, plan: str) -> Turn:
    return call(make_engine(f"{plan}.yaml"), plan_id=plan).last


def test_gather_turn_exact(make_engine: Any, call: Any) -> None:
    turn = first_turn(make_engine, call, "route_rules_no_fallback")
    assert turn.turn == 1
    assert render(turn, URLS) == (
        f"{HEAD}<Response>"
        f'<Gather action="{KEYS_1}" actionOnEmptyResult="true" finishOnKey="#" input="dtmf" '
        'method="POST" timeout="5">'
        '<Say language="en-GB" voice="Polly.Amy">Enter anything.</Say>'
        "</Gather>"
        f'<Redirect method="POST">{KEYS_1}</Redirect>'
        "</Response>"
    )
    validate(turn)


def test_menu_gather_turn_exact(make_engine: Any, call: Any) -> None:
    turn = first_turn(make_engine, call, "route_version")
    assert render(turn, URLS) == (
        f"{HEAD}<Response>"
        f'<Gather action="{KEYS_1}" actionOnEmptyResult="true" finishOnKey="" input="dtmf" '
        'method="POST" numDigits="1" timeout="5">'
        "<Say>Version test. Press 1.</Say>"
        "</Gather>"
        f'<Redirect method="POST">{KEYS_1}</Redirect>'
        "</Response>"
    )


def test_gather_redirects_to_its_own_action(make_engine: Any, call: Any) -> None:
    c = call(make_engine("route_transfer.yaml"), plan_id="route_transfer")
    c.silence()  # a re-prompt: turn 2
    root = validate(c.last)
    gather, redirect = list(root)
    assert gather.tag == "Gather" and redirect.tag == "Redirect"
    assert gather.get("action") == URLS.keys(2) == redirect.text
    assert gather.get("input") == "dtmf"
    assert gather.get("actionOnEmptyResult") == "true"


def test_dial_turn_exact(make_engine: Any, call: Any) -> None:
    turn = first_turn(make_engine, call, "route_pci")
    assert render(turn, URLS) == (
        f"{HEAD}<Response>"
        "<Say>Transferring you to our secure payment line.</Say>"
        '<Dial action="https://ivr.example.com/voice/dial?call=CA1&amp;turn=1" '
        'callerId="+15550001234" method="POST" record="do-not-record" timeLimit="600" '
        'timeout="20"><Number>+442071230999</Number></Dial>'
        "</Response>"
    )
    validate(turn)


def test_enqueue_and_hangup_turns(make_engine: Any, call: Any) -> None:
    c = call(make_engine("route_transfer.yaml"), plan_id="route_transfer")
    c.press("3")
    assert render(c.last, URLS) == (
        f"{HEAD}<Response><Say>Please hold for the next agent.</Say>"
        '<Enqueue action="https://ivr.example.com/voice/queue?call=CA1&amp;turn=2" '
        'method="POST">support</Enqueue></Response>'
    )
    c.queue("bridged")
    assert render(c.last, URLS) == (
        f"{HEAD}<Response><Say>Thank you for calling.</Say><Hangup /></Response>"
    )


def test_every_verb_renders_valid() -> None:
    turn = Turn(
        "CA1",
        7,
        (
            Say("Hello & welcome <friend>", "Polly.Amy", "en-GB", loop=2),
            Play("https://x/a.mp3"),
            Play("https://x/b.mp3", loop=3),
            Pause(2),
            Gather((Say("Press 1"), Play("https://x/c.mp3"), Pause(1)), 4, "#", 7),
        ),
    )
    root = validate(turn)
    assert root.find("Say").text == "Hello & welcome <friend>"
    assert root.find("Gather").get("numDigits") == "4"
    validate(Turn("CA1", 8, (Dial("+442071230200", None, 30, None, True),)))
    validate(Turn("CA1", 9, (Enqueue("support"),)))
    validate(Turn("CA1", 10, (Say("Bye"), Hangup())))


# --- every turn of the example plans and the route_* plans --------------------------------


@dataclass
class Script:
    """One way through a plan: keys for each Gather, statuses for each Dial and queue."""

    name: str
    start: dict[str, Any]
    keys: list[str] = field(default_factory=list)
    dials: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    when: datetime | None = None
    hangup_at_dial: bool = False


def drive(engine: Engine, sid: str, script: Script, limit: int = 40) -> list[Turn]:
    """All turns of one call following `script` (silence once the keys run out)."""
    keys, dials, queues = list(script.keys), list(script.dials), list(script.queues)
    turn = engine.start_call(sid, **{"caller": "+447700900123", **script.start})
    turns = [turn]
    while not turn.ended and len(turns) < limit:
        waits = turn.waits_for
        if waits == "keys":
            turn = engine.keys(sid, turn.turn, keys.pop(0) if keys else "")
        elif waits == "dial":
            if script.hangup_at_dial:
                engine.end_call(sid)
                turn = engine.dial_ended(sid, turn.turn, "completed")
            else:
                turn = engine.dial_ended(sid, turn.turn, dials.pop(0) if dials else "completed")
        elif waits == "queue":
            turn = engine.queue_left(sid, turn.turn, queues.pop(0) if queues else "bridged")
        else:
            raise AssertionError(f"turn {turn.turn} neither ends nor waits: {turn}")
        turns.append(turn)
    assert turn.ended, f"{script.name}: the call did not end within {limit} turns"
    engine.end_call(sid)
    return turns


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday, open

    def __call__(self) -> datetime:
        return self.now


def run_scripts(
    plans: Iterable[Any], scripts: list[Script], http: Any = None
) -> tuple[list[Turn], Callable[[], Engine]]:
    clock = Clock()
    catalog = Catalog(plans)
    kwargs = {"http": http} if http is not None else {}
    secrets = {"BILLING_TOKEN": "t", "PCI_API_KEY": "k"}
    engine = Engine(
        catalog,
        MemoryStore(),
        clock=clock,
        secrets=secrets.get,
        recorder=MemoryRecorder(),
        **kwargs,
    )
    turns: list[Turn] = []
    for i, script in enumerate(scripts):
        clock.now = script.when or datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
        turns.extend(drive(engine, f"CA{i:032d}", script))
    return turns, lambda: engine


def verbs(turns: Iterable[Turn]) -> set[type]:
    found: set[type] = set()
    for turn in turns:
        for action in turn.actions:
            found.add(type(action))
            if isinstance(action, Gather):
                found.update(type(p) for p in action.prompts)
    return found


def demo_services(server: LoopbackServer) -> None:
    """The billing and PCI services the example plans call, on a real loopback server."""
    account = {
        "id": "12345678",
        "balance": "42.50",
        "due_date": "2026-11-01",
        "status": "active",
        "bills": [{"amount": "42.50"}],
    }
    server.route("GET", "/demo/billing/accounts", body={"account": account})
    server.route(
        "POST",
        "/demo/billing/accounts/lookup",
        headers={"Content-Type": "application/xml"},
        body=(
            "<account><id>87654321</id><balance>0</balance><due_date>2026-12-01</due_date>"
            "<status>active</status></account>"
        ),
    )
    server.route(
        "POST",
        "/pci/v1/sessions",
        status=201,
        body={"session_id": "ps_1", "transfer_number": "+442071230999", "clid": "+15550001234"},
    )
    server.route(
        "GET",
        "/pci/v1/sessions/ps_1",
        body={"result": {"outcome": "SUCCESS", "confirmation_code": "AB12CD"}},
    )


def example_plans(base_url: str) -> list[Any]:
    plans = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        text = path.read_text().replace("http://127.0.0.1:8080", base_url)
        plans.append(load_text(text, str(path))[0])
    return plans


PAY = ["4250", "1", "0112", "1", "12"]  # amount (no star: 4250.00 is over the max), ...

EXAMPLE_SCRIPTS = [
    Script("menu-pay", {"called": "+442071230100"}, ["1", "42*50", "1", "0112", "1", "12"]),
    Script(
        "menu-pay-pci-busy",
        {"called": "+442071230100"},
        ["1", "42*50", "1", "0112", "2", "7"],
        dials=["busy", "no-answer", "busy"],
        queues=["queue-full"],
    ),
    Script("menu-agent", {"called": "+442071230100"}, ["0"], dials=["no-answer", "completed"]),
    Script(
        "menu-agent-queue",
        {"called": "+442071230100"},
        ["0"],
        dials=["busy", "busy"],
        queues=["bridged"],
    ),
    Script("menu-repeat-invalid", {"called": "+442071230100"}, ["*", "5", "7", "9"]),
    Script("menu-silent", {"called": "+442071230100"}),
    Script(
        "menu-closed", {"called": "+442071230100"}, when=datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    ),
    Script("menu-hangup-in-transfer", {"called": "+442071230100"}, ["0"], hangup_at_dial=True),
    Script("lookup-by-clid", {"called": "+442071230101"}),
    Script("lookup-silent", {"called": "+442071230101", "caller": "anonymous"}),
    Script("pay", {"called": "+442071230102"}, ["42*50", "1", "0112", "1", "12"]),
    Script("pay-invalid", {"called": "+442071230102"}, ["0", "99999", "0"]),
    Script("pay-over-max", {"called": "+442071230102"}, PAY),
]


def test_example_plans_emit_valid_twiml(http_server: LoopbackServer) -> None:
    demo_services(http_server)
    plans = example_plans(http_server.url)
    assert {p.id for p in plans} == {"account_lookup", "main_menu", "pay_by_card"}
    turns, engine = run_scripts(plans, EXAMPLE_SCRIPTS)
    for turn in turns:
        validate(turn)
    assert verbs(turns) >= {Say, Play, Pause, Gather, Dial, Enqueue, Hangup}
    outcomes = [r.outcome for r in engine().recorder.records]
    assert len(outcomes) == len(EXAMPLE_SCRIPTS)
    # "menu-hangup-in-transfer" is Delivered too: the transfer's action, arriving after the
    # status callback, tells that the agent answered.
    assert set(outcomes) == {
        "PaymentTaken",
        "AgentsBusy",
        "Delivered",
        "NoInput",
        "OutOfHours",
        "BalanceHeard",
    }


def test_example_account_lookup_by_number_emits_valid_twiml(http_server: LoopbackServer) -> None:
    demo_services(http_server)
    http_server.route("GET", "/demo/billing/accounts", status=404, body={"error": "none"})
    plans = example_plans(http_server.url)
    scripts = [
        Script("lookup-by-number", {"called": "+442071230101"}, ["12345678", "1"]),
        Script("lookup-reenter", {"called": "+442071230101"}, ["12345678", "2", "87654321", "1"]),
        Script("lookup-bad", {"called": "+442071230101"}, ["1", "", "2"]),
    ]
    turns, _ = run_scripts(plans, scripts)
    for turn in turns:
        validate(turn)
    assert any(
        "nothing to pay" in " ".join(a.text for a in t.actions if isinstance(a, Say)) for t in turns
    )


ROUTE_PLANS = sorted(
    p
    for p in PLANS.glob("route_*.yaml")
    # route_ping/route_pong loop forever (see test_engine_rules)
    if p.stem not in ("route_ping", "route_pong")
)
GENERIC_KEYS = [
    [],
    ["1"],
    ["2"],
    ["3"],
    ["4"],
    ["5"],
    ["9"],
    ["999"],
    ["42"],
    ["1", "1"],
    ["2", "", "1"],
]
GENERIC_DIALS = [["completed"], ["busy", "no-answer"], ["failed", "failed"]]


def test_route_plans_emit_valid_twiml() -> None:
    plans = [load_file(p)[0] for p in ROUTE_PLANS]
    assert len(plans) >= 12
    scripts = [
        Script(
            f"{plan.id}-{i}-{j}",
            {"plan_id": plan.id},
            keys,
            dials=dials,
            queues=["queue-full"] if j else ["bridged"],
        )
        for plan in plans
        for i, keys in enumerate(GENERIC_KEYS)
        for j, dials in enumerate(GENERIC_DIALS)
    ]
    scripts.append(
        Script(
            "time-closed", {"plan_id": "route_time"}, when=datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
        )
    )
    turns, _ = run_scripts(plans, scripts)
    for turn in turns:
        validate(turn)
    assert verbs(turns) >= {Say, Pause, Gather, Dial, Enqueue, Hangup}


def test_route_plan_folder_loads_cleanly() -> None:
    from ivr.engine.catalog import load_paths

    result = load_paths([Path(p) for p in sorted(PLANS.glob("route_*.yaml"))])
    assert result.diagnostics == []
    assert len(result.plans) == len(list(PLANS.glob("route_*.yaml")))


def test_vendored_schema_matches_shared() -> None:
    """The copy in tests/twiml-xsd is byte-identical to ../shared/twiml-xsd when present."""
    if not SHARED_XSD_DIR.is_dir():
        pytest.skip("../shared/twiml-xsd is not beside this checkout")
    shared = {p.name: p.read_bytes() for p in SHARED_XSD_DIR.iterdir() if p.is_file()}
    ours = {p.name: p.read_bytes() for p in XSD_DIR.iterdir() if p.is_file()}
    assert ours == shared
