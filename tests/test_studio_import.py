"""`ivr import studio`: Studio flow definitions kept in tests/studio/flows (a menu, an HTTP
look-up, every split condition, a payment, hand-overs to other flows, every widget that cannot
be imported) are imported, validated, and run through scenario files that check the prompts
and routes Studio would take; unsupported widgets are reported, and --strict refuses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from ivr.engine.loader import load_file
from ivr.studio.build import Options
from ivr.studio.flow import FlowError, parse_flow
from ivr.studio.importer import import_flow
from ivr.tools.cli import main
from tests.conftest import CLI_ENVIRONMENT as ENVIRONMENT

STUDIO = Path(__file__).resolve().parent / "studio"
FLOWS = STUDIO / "flows"
SCENARIOS = STUDIO / "scenarios"
SUBFLOWS = [
    "--subflow",
    "FW0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a=pay_by_phone",
    "--subflow",
    "FW1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b=ivr_menu",
]
NOT_IMPORTABLE = {
    "sms_send": "send-message",
    "sms_wait": "send-and-wait-for-reply",
    "check_fn": "run-function",
    "flex": "send-to-flex",
    "voicemail": "record-voicemail",
    "recording": "record-call",
    "stream": "fork-stream",
    "bot": "connect-virtual-agent",
    "dial_out": "make-outgoing-call-v2",
    "legacy_twiml": "add-twiml-redirect",
    "verify": "run-subflow",
    "sip_desk": "connect-call-to",
    "taskrouter": "enqueue-call",
    "counter": "set-variables",
    "spoken": "say-play",
    "opening": "split-based-on",
    "hangup_widget": "hang-up",
}


def ivr(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"ivr crashed: {result.exception!r}\n{result.output}"
    )
    return result


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fixture flow imported into one callplans folder, as a user would."""
    folder = tmp_path_factory.mktemp("studio") / "callplans"
    folder.mkdir()
    for flow in sorted(FLOWS.glob("*.json")):
        result = ivr("import", "studio", flow, "-o", folder / f"{flow.stem}.yaml", *SUBFLOWS)
        assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_every_imported_flow_validates(plans: Path) -> None:
    result = ivr("validate", plans)
    assert result.exit_code == 0, result.output
    assert f"{len(list(FLOWS.glob('*.json')))} plan(s) valid, 0 refused" in result.output


@pytest.mark.parametrize(
    "scenario", sorted(p.name for p in SCENARIOS.glob("*.yaml")), ids=lambda n: n[:-5]
)
def test_imported_plans_take_the_routes_studio_takes(
    plans: Path, scenario: str, environment: None
) -> None:
    result = ivr("test", "--callplans", plans, SCENARIOS / scenario)
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output and "FAIL" not in result.output


def test_the_menu_keeps_names_prompts_routes_and_the_canvas(plans: Path) -> None:
    plan, _ = load_file(plans / "ivr_menu.yaml")
    assert plan.start == "greeting" and plan.fallback == "not_imported"
    menu = plan.applets["main_menu"]  # MainMenu, snake-cased
    assert menu.type == "collect_digits"
    assert menu.config.store == "main_menu_Digits" and menu.config.max_length == 1
    assert menu.routes == {"next": "split_menu", "invalid": "split_menu", "no_input": "no_choice"}
    assert plan.applets["to_agent"].config.number.source == "+442071230200"
    assert "sms_reply" not in plan.applets  # only on the SMS trigger's path
    assert (plan.layout["greeting"].x, plan.layout["greeting"].y) == (40, 200)
    assert (plan.layout["power_cut"].x, plan.layout["power_cut"].y) == (0, 900)


def test_every_unsupported_widget_is_reported_and_the_plan_still_validates(
    tmp_path: Path,
) -> None:
    out = tmp_path / "not_importable.yaml"
    result = ivr("import", "studio", FLOWS / "not_importable.json", "-o", out)
    assert result.exit_code == 0, result.output
    for name, kind in NOT_IMPORTABLE.items():
        line = next(
            (ln for ln in result.stderr.splitlines() if f"'{name}' ({kind}): not imported:" in ln),
            None,
        )
        assert line is not None, f"{name} not reported:\n{result.stderr}"
        assert line.startswith(f"{FLOWS / 'not_importable.json'}: warning: states[")
    assert f"{len(NOT_IMPORTABLE)} widget(s) not imported" in result.stderr
    assert "speech is not imported" in result.stderr  # the menu's speech branch
    plan, _ = load_file(out)
    for name in NOT_IMPORTABLE:
        applet = plan.applets[name]
        assert applet.type == "set_data" and applet.routes == {"next": "not_imported"}
    text = out.read_text()
    assert "# Not imported (each is a placeholder that routes to the fallback):" in text
    assert "#   - check_fn (run-function): Twilio Functions run in Twilio's cloud" in text
    validate = ivr("validate", out)
    assert validate.exit_code == 0, validate.output


def test_strict_refuses_the_flow_naming_each_widget_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "strict.yaml"
    result = ivr("import", "studio", FLOWS / "not_importable.json", "--strict", "-o", out)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    for name, kind in NOT_IMPORTABLE.items():
        assert any(": error: states[" in ln and f"'{name}' ({kind})" in ln for ln in lines), name
    assert "not written: 18 widget(s) not imported exactly (--strict)" in result.stderr
    assert not out.exists()
    clean = ivr("import", "studio", FLOWS / "ivr_menu.json", "--strict", "-o", out)
    assert clean.exit_code == 0, clean.output
    assert out.exists()


def test_the_plan_goes_to_standard_output_and_an_existing_file_is_kept(tmp_path: Path) -> None:
    result = ivr("import", "studio", FLOWS / "ivr_menu.json", "--plan-id", "front_menu")
    assert result.exit_code == 0
    plan = yaml.safe_load(result.stdout)
    assert plan["plan"] == "front_menu" and plan["start"] == "greeting"
    out = tmp_path / "kept.yaml"
    out.write_text("mine\n")
    again = ivr("import", "studio", FLOWS / "ivr_menu.json", "-o", out)
    assert again.exit_code != 0 and "exists (use --force" in again.output
    assert out.read_text() == "mine\n"


def test_the_payment_uses_the_bridge_the_vcc_way(plans: Path) -> None:
    plan, _ = load_file(plans / "pay_by_phone.yaml")
    assert plan.data["PciUrl"] == "http://127.0.0.1:8080/pci/v1"
    assert plan.secrets == ("PCI_API_KEY",)
    kinds = [plan.applets[a].type for a in ("pay", "pay_transfer", "pay_result", "pay_route")]
    assert kinds == ["data_connector", "transfer_to_pci", "data_connector", "data_router"]
    assert plan.applets["pay"].routes["status_201"] == "pay_transfer"
    assert plan.applets["pay"].routes["failure"] == "agent"  # providerError
    assert plan.applets["pay_route"].routes["default"] == "agent"


def test_flows_arrive_in_the_wrappers_studio_the_cli_and_terraform_use() -> None:
    definition = json.loads((FLOWS / "ivr_menu.json").read_text())
    shapes = [
        definition,
        {"sid": "FW123", "friendly_name": "Menu", "definition": definition},
        [{"sid": "FW123", "definition": definition}],
        {"flow_definition": None, "definition": json.dumps(definition)},
    ]
    for shape in shapes:
        flow = parse_flow(json.dumps(shape))
        imported = import_flow(flow, Options(plan_id="menu"))
        assert "  main_menu:\n    type: collect_digits" in imported.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON: line 1 column 2"),
        ('{"states": {}}', "expected an object with a 'states' list"),
        (
            '{"states": [{"name": "Trigger", "type": "trigger", "transitions": '
            '[{"event": "incomingCall", "next": "nowhere"}]}], "initial_state": "Trigger"}',
            "transition 'incomingCall' goes to 'nowhere', which is not a widget of this flow",
        ),
        (
            '{"states": [{"name": "Trigger", "type": "trigger", "transitions": '
            '[{"event": "incomingMessage"}]}], "initial_state": "Trigger"}',
            "the flow does not answer calls",
        ),
        (
            '{"states": [{"name": "a", "type": "say-play"}, {"name": "a", "type": "say-play"}]}',
            "states[1]: a second widget named 'a'",
        ),
    ],
)
def test_a_broken_flow_is_refused_saying_what_and_where(
    tmp_path: Path, text: str, message: str
) -> None:
    flow = tmp_path / "broken.json"
    flow.write_text(text)
    result = ivr("import", "studio", flow, "-o", tmp_path / "out.yaml")
    assert result.exit_code == 1
    assert f"{flow}: error: " in result.stderr and message in result.stderr
    assert not (tmp_path / "out.yaml").exists()
    with pytest.raises(FlowError):
        import_flow(parse_flow(text), Options(plan_id="broken"))


def test_the_guide_shows_what_the_importer_writes() -> None:
    guide = (STUDIO.parent.parent / "docs" / "migrating-from-studio.md").read_text()
    after = guide.split("```yaml\n")[-1].split("```")[0]
    imported = import_flow(
        parse_flow((FLOWS / "ivr_menu.json").read_text()),
        Options(plan_id="ivr_menu"),
        source_name="ivr_menu.json",
    )
    assert after == imported.text
    shown = guide.split("```json\n")[1].split("```")[0].replace("}\n{", "},\n{")
    states = json.loads((FLOWS / "ivr_menu.json").read_text())["states"]
    assert json.loads(f"[{shown}]") == [
        s for s in states if s["name"] in ("MainMenu", "split_menu")
    ]


def flow_of(*widgets: dict) -> str:
    """A flow whose call starts at the first of `widgets`."""
    trigger = {
        "name": "Trigger",
        "type": "trigger",
        "transitions": [{"event": "incomingCall", "next": widgets[0]["name"]}],
    }
    return json.dumps({"initial_state": "Trigger", "states": [trigger, *widgets]})


def say(name: str, text: str, then: str | None = None) -> dict:
    event = {"event": "audioComplete", **({"next": then} if then else {})}
    return {"name": name, "type": "say-play", "transitions": [event], "properties": {"say": text}}


def test_a_flow_that_comes_back_to_capture_payments_opens_a_new_session(
    tmp_path: Path, environment: None
) -> None:
    pay = {
        "name": "pay",
        "type": "capture-payments",
        "transitions": [
            {"event": "success", "next": "paid"},
            {"event": "maxFailedAttempts", "next": "again"},
            {"event": "providerError"},
        ],
        "properties": {"payment_amount": "5.00", "currency": "gbp"},
    }
    flow = tmp_path / "retry.json"
    flow.write_text(
        flow_of(pay, say("again", "Let us try another card.", "pay"), say("paid", "All paid."))
    )
    plans = tmp_path / "plans"
    plans.mkdir()
    assert ivr("import", "studio", flow, "-o", plans / "retry.yaml").exit_code == 0
    scenarios = tmp_path / "retry_test.yaml"
    scenarios.write_text(
        "plan: retry\nscenarios:\n  - name: declined, then paid with another card\n"
        '    keys: ["4000000000000002#", "1230", "123", "1", "2", "4242424242424242#", "1230",'
        ' "123", "1"]\n'
        "    expect:\n      heard: [Let us try another card, All paid]\n"
        "      path: [pay, pay_transfer, pay_result, pay_route, again, pay, pay_transfer,"
        " pay_result, pay_route, paid, end_of_flow]\n"
    )
    result = ivr("test", "--callplans", plans, scenarios, "--no-coverage")
    assert result.exit_code == 0, result.output


def test_flow_variables_never_take_a_name_the_plan_gives_something_else() -> None:
    gather = {
        "name": "menu",
        "type": "gather-input-on-call",
        "transitions": [{"event": "keypress", "next": "keep"}],
        "properties": {"say": "Press a key.", "number_of_digits": 1},
    }
    keep = {
        "name": "keep",
        "type": "set-variables",
        "transitions": [{"event": "next", "next": "tell"}],
        "properties": {
            "variables": [
                {"key": "menu_Digits", "value": "mine"},
                {"key": "CLID", "value": "also mine"},
                {"key": "a-b", "value": "{{widgets.menu.Digits}}"},
            ]
        },
    }
    tell = say(
        "tell", "{{flow.variables.menu_Digits}} {{widgets.menu.Digits}} {{flow.variables.a-b}}"
    )
    imported = import_flow(parse_flow(flow_of(gather, keep, tell)), Options(plan_id="names"))
    plan = yaml.safe_load(imported.text)
    assert plan["applets"]["keep"]["set"] == {
        "menu_Digits_var": "mine",
        "CLID_var": "also mine",
        "a_b": "$(menu_Digits)",
    }
    assert plan["applets"]["tell"]["say"] == "$(menu_Digits_var) $(menu_Digits) $(a_b)"
    assert "flow variable 'menu_Digits' is the data source menu_Digits_var" in imported.notes


@pytest.mark.parametrize(
    ("widget", "said"),
    [
        (
            {"name": "w", "type": "make-http-request", "transitions": [],
             "properties": {"url": "https://x.example", "parameters": 5}},
            "not imported: properties.parameters: expected a list of {key, value}",
        ),
        (
            {"name": "w", "type": "split-based-on", "properties": {"input": "{{flow.variables.x}}"},
             "transitions": [{"event": "match", "next": "w", "conditions": [
                 {"type": ["x"], "arguments": ["{{flow.variables.x}}"], "value": "5"}]}]},
            "the condition's type must be text",
        ),
        (
            {"name": "w", "type": "say-play", "transitions": [],
             "properties": {"say": "Hi", "loop": 1e999, "offset": {"x": 1e999, "y": 1e12}}},
            "properties.loop inf is not a number: played once",
        ),
        (
            {"name": "w", "type": "say-play", "transitions": [],
             "properties": {"say": "Costs $(5) #(x)", "voice": "{{flow.variables.v}}"}},
            "properties.voice '{{flow.variables.v}}' is not carried over",
        ),
        (
            {"name": "w", "type": "connect-call-to", "transitions": [],
             "properties": {"noun": "number", "to": "+442071230200", "caller_id": "15551230000"}},
            "'15551230000' is not an E.164 number: the caller's own number is presented",
        ),
        (
            {"name": "w", "type": "say-play", "transitions": [],
             "properties": {"say": "Your id is {{widgets.h.parsed.account-id}}"}},
            "not imported",
        ),
    ],
)  # fmt: skip
def test_odd_widgets_are_imported_or_reported_never_a_crash(
    tmp_path: Path, widget: dict, said: str
) -> None:
    flow = tmp_path / "odd.json"
    flow.write_text(flow_of(widget))
    result = ivr("import", "studio", flow, "-o", tmp_path / "odd.yaml")
    assert result.exit_code == 0, result.output
    assert said in result.stderr
    assert ivr("validate", tmp_path / "odd.yaml").exit_code == 0
