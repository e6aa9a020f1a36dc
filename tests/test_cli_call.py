"""`ivr call` and `ivr calls` through click's CliRunner: the transcript a person reads, the JSON
a script reads (with secrets masked), key entries, hang-ups, unknown numbers, and the call
records left behind in the configured database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ivr.adapters.voice import NOT_IN_SERVICE
from ivr.tools.cli import main
from tests.conftest import CLI_ENVIRONMENT as ENVIRONMENT
from tests.conftest import PLANS, LoopbackServer, Seen

CALLER = "+447700900123"
MENU = "+441000000900"  # tests/plans/sim_menu.yaml
LOOKUP = "+441000000901"  # tests/plans/sim_lookup.yaml
SECRET = "s3cr3t-Tok3n-value"


pytestmark = pytest.mark.usefixtures("keep_logging")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config.yaml in tmp_path: its own SQLite database and a callplans/ folder with the
    sim_* plans; run from tmp_path with no IVR_* or Twilio variables set."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    plans = tmp_path / "callplans"
    plans.mkdir()
    for plan in sorted(PLANS.glob("sim_*.yaml")):
        shutil.copy(plan, plans / plan.name)
    file = tmp_path / "config.yaml"
    file.write_text(f"database: sqlite:///{tmp_path}/x.sqlite3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return file


def ivr(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def lines(result: Result) -> list[str]:
    return result.stdout.splitlines()


# --- the plain transcript ----------------------------------------------------------------------


def test_the_transcript_shows_what_the_caller_hears_and_presses(config: Path) -> None:
    result = ivr(config, "call", MENU, "--from", CALLER, "--keys", "1 1234#")
    assert result.exit_code == 0, result.output
    out = lines(result)
    assert out[0].startswith("Call CA") and out[0].endswith(f"call from {CALLER} to {MENU}")
    assert out[1:7] == [
        '  Caller hears: "Welcome to the test line."',
        '  Caller hears: "For your account press 1, for an agent press 2."',
        "  Caller presses: 1",
        '  Caller hears: "Enter your 4 digit account number, then press hash."',
        "  Caller presses: 1234",
        '  Caller hears: "Account 1 2 3 4. Goodbye."',
    ]
    assert out[-3].startswith("Call ended after ")
    assert out[-2:] == [
        "Outcome: AccountGiven",
        "Path: welcome (next) → menu (1) → ask_account (next) → read_back (end)",
    ]


def test_the_transcript_shows_a_transfer(config: Path) -> None:
    result = ivr(config, "call", MENU, "--from", CALLER, "--keys", "2")
    out = lines(result)
    assert '  Caller hears: "Connecting you to an agent."' in out
    assert any("dials +441000000999" in line and "presenting +441000000900" in line for line in out)
    assert out[-2:] == [
        "Outcome: Delivered",
        "Path: welcome (next) → menu (2) → agent (next) → goodbye (end)",
    ]


@pytest.mark.parametrize("keys", [["1 2,3"], ["1", "2,3"], ["1,2", "3"], [" 1 ,2 , 3 "]])
def test_keys_are_split_on_spaces_and_commas(config: Path, keys: list[str]) -> None:
    args = [arg for entry in keys for arg in ("--keys", entry)]
    result = ivr(config, "call", MENU, "--from", CALLER, *args)
    out = lines(result)
    assert [line.strip() for line in out if "presses" in line] == [
        "Caller presses: 1",
        "Caller presses: 2",
        "Caller presses: 3",
    ]
    assert out.count('  Caller hears: "That is not 4 digits."') == 1
    assert out[-1] == "Path: welcome (next) → menu (1) → ask_account (invalid) → sorry (end)"


def test_a_dash_is_no_input(config: Path) -> None:
    result = ivr(config, "call", MENU, "--from", CALLER, "--keys", "- -")
    out = lines(result)
    assert out.count("  Caller presses nothing") == 2
    assert '  Caller hears: "Sorry, we did not hear a choice."' in out
    assert out[-2:] == ["Outcome: NoInput", "Path: welcome (next) → menu (no_input) → silent (end)"]


def test_hangup_after_n_prompts(config: Path) -> None:
    result = ivr(config, "call", MENU, "--from", CALLER, "--keys", "1 1234", "--hangup-after", "1")
    out = lines(result)
    assert "  Caller presses: 1" in out
    assert "  Caller presses: 1234" not in out
    assert out[-4] == "  the caller hangs up"
    assert "(the caller hung up): 1 entry, " in out[-3]
    assert out[-2:] == [
        "Outcome: Abandoned",
        "Path: welcome (next) → menu (1) → ask_account (caller_hung_up)",
    ]


def test_a_withheld_caller(config: Path) -> None:
    result = ivr(config, "call", MENU, "--keys", "1 1234")
    assert "call from a withheld number to +441000000900" in lines(result)[0]
    assert lines(result)[-2] == "Outcome: AccountGiven"


@pytest.mark.parametrize("caller", [[], ["--from", ""], ["--from", "anonymous"]])
def test_a_withheld_caller_has_an_empty_clid(config: Path, caller: list[str]) -> None:
    call = json.loads(ivr(config, "call", MENU, *caller, "--keys", "2", "--json").stdout)
    assert call["data"]["CLID"] == ""
    assert call["outcome"] == "Delivered"


def test_an_unknown_number_is_not_in_service(config: Path) -> None:
    result = ivr(config, "call", "+449999000000", "--from", CALLER)
    assert result.exit_code == 0
    out = lines(result)
    assert f'  Caller hears: "{NOT_IN_SERVICE}"' in out
    assert "Outcome: NotInService" in out  # recorded from its status callback
    assert not any(line.startswith("Path:") for line in out)


def test_verbose_shows_the_key_settings_of_each_prompt(config: Path) -> None:
    result = ivr(config, "call", MENU, "--from", CALLER, "--keys", "1 1234", "-v")
    assert "  (waits for up to 1 key(s), timeout 5s)" in lines(result)


# --- JSON ------------------------------------------------------------------------------------


def test_json_gives_transcript_path_data_and_outcome(config: Path) -> None:
    result = ivr(config, "call", MENU, "--from", CALLER, "--keys", "1,1234#", "--json")
    assert result.exit_code == 0
    call = json.loads(result.stdout)
    assert call["outcome"] == "AccountGiven"
    assert call["plan"] == "sim_menu"
    assert (call["from"], call["to"], call["ended_by"]) == (CALLER, MENU, "twiml")
    assert call["path"] == [
        {"applet": "welcome", "outcome": "next"},
        {"applet": "menu", "outcome": "1"},
        {"applet": "ask_account", "outcome": "next"},
        {"applet": "read_back", "outcome": "end"},
    ]
    assert call["data"]["Account"] == "1234"
    assert call["data"]["Choice"] == "1"
    assert call["data"]["CLID"] == CALLER
    said = [e["text"] for e in call["transcript"] if e["kind"] == "say"]
    assert said[-1] == "Account 1 2 3 4. Goodbye."
    pressed = [e["text"] for e in call["transcript"] if e["kind"] == "keys"]
    assert pressed == ["1", "1234"]
    assert call["duration"] > 0


def echo_token(seen: Seen) -> tuple[int, dict[str, str], str]:
    """A service that names the caller and echoes the bearer token back."""
    token = seen.headers.get("Authorization", "").removeprefix("Bearer ")
    return 200, {"Content-Type": "application/json"}, json.dumps({"name": "Ada", "token": token})


def test_json_never_shows_a_secret(
    config: Path, http_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = config.parent / "callplans" / "sim_lookup.yaml"
    plan.write_text(
        plan.read_text(encoding="utf-8").replace(
            "http://127.0.0.1:9/api", f"{http_server.url}/api"
        ),
        encoding="utf-8",
    )
    http_server.handle("GET", "/api/whoami", echo_token)
    monkeypatch.setenv("SIM_API_TOKEN", SECRET)
    result = ivr(config, "call", LOOKUP, "--from", CALLER, "--json")
    assert http_server.seen[0].headers["Authorization"] == f"Bearer {SECRET}"
    call = json.loads(result.stdout)
    assert call["outcome"] == "Greeted"
    assert call["data"]["Name"] == "Ada"
    assert call["data"]["Token"] == "****"
    assert SECRET not in result.output
    plain = ivr(config, "call", LOOKUP, "--from", CALLER, "-v")
    assert '  Caller hears: "Hello Ada. Goodbye."' in lines(plain)
    assert SECRET not in plain.output


def test_json_on_a_call_that_fails_without_a_secret(
    config: Path, http_server: LoopbackServer
) -> None:
    plan = config.parent / "callplans" / "sim_lookup.yaml"
    plan.write_text(
        plan.read_text(encoding="utf-8").replace(
            "http://127.0.0.1:9/api", f"{http_server.url}/api"
        ),
        encoding="utf-8",
    )
    http_server.handle("GET", "/api/whoami", echo_token)
    call = json.loads(ivr(config, "call", LOOKUP, "--from", CALLER, "--json").stdout)
    assert http_server.seen == []
    assert call["outcome"] == "NotFound"
    assert call["path"][0] == {"applet": "lookup", "outcome": "failure"}
    assert "SIM_API_TOKEN" in call["data"]["LastError"]


# --- ivr calls ------------------------------------------------------------------------------


def test_calls_lists_the_recorded_calls(config: Path) -> None:
    assert "no calls recorded yet" in ivr(config, "calls").stdout
    ivr(config, "call", MENU, "--from", CALLER, "--keys", "1 1234")
    ivr(config, "call", MENU, "--keys", "- -")
    ivr(config, "call", MENU, "--from", CALLER, "--keys", "2")
    result = ivr(config, "calls")
    assert result.exit_code == 0
    head, *out = lines(result)
    assert head.split() == [
        "STARTED",
        "CALLSID",
        "CALLER",
        "NUMBER",
        "PLAN",
        "OUTCOME",
        "SECS",
        "PATH",
    ]
    assert len(out) == 3
    assert all("sim_menu" in line and MENU in line for line in out)
    rows: dict[str, Any] = {line.split()[5]: line for line in out}
    assert set(rows) == {"AccountGiven", "NoInput", "Delivered"}
    assert CALLER in rows["AccountGiven"]
    assert "withheld" in rows["NoInput"]
    assert rows["AccountGiven"].endswith(
        "welcome(next) → menu(1) → ask_account(next) → read_back(end)"
    )
    records = json.loads(ivr(config, "calls", "--json").stdout)
    assert {r["outcome"] for r in records} == {"AccountGiven", "NoInput", "Delivered"}
    assert all(r["plan_id"] == "sim_menu" and r["ddi"] == MENU for r in records)
    assert len(json.loads(ivr(config, "calls", "--json", "--limit", "1").stdout)) == 1
    # filters, and one call in full
    only = lines(ivr(config, "calls", "--outcome", "NoInput"))[1:]
    assert len(only) == 1 and "withheld" in only[0]
    assert lines(ivr(config, "calls", "--caller", CALLER))[1:] and all(
        CALLER in line for line in lines(ivr(config, "calls", "--caller", CALLER))[1:]
    )
    assert ivr(config, "calls", "--plan", "no_such_plan").stdout.strip() == "no calls match"
    sid = rows["AccountGiven"].split()[1]
    detail = ivr(config, "calls", sid)
    assert detail.exit_code == 0
    text = detail.stdout
    assert f"call      {sid}" in text and "outcome   AccountGiven" in text
    assert f"caller    {CALLER}" in text and "plan      sim_menu (version " in text
    assert "welcome → next" in text and "read_back → end" in text
    assert json.loads(ivr(config, "calls", sid, "--json").stdout)["call_sid"] == sid
    missing = ivr(config, "calls", "CA" + "0" * 32)
    assert missing.exit_code == 1 and "no call CA" in missing.output


# --- what the simulator refuses, and spoken words ------------------------------------------------


@pytest.mark.parametrize("caller", ["07700900123", "447700900123", "+44 7700 900123", "bob"])
def test_a_caller_id_that_is_not_e164_is_refused(config: Path, caller: str) -> None:
    result = ivr(config, "call", MENU, "--from", caller, "--keys", "2")
    assert result.exit_code == 2
    assert f"Invalid value for --from: '{caller}' is not an E.164 number" in result.output
    assert "leave it empty for a withheld number" in result.output


@pytest.mark.parametrize("keys", ["1 abc", "one", "1,2x"])
def test_letters_in_keys_are_refused_with_the_way_to_speak(config: Path, keys: str) -> None:
    result = ivr(config, "call", MENU, "--from", CALLER, "--keys", keys)
    assert result.exit_code == 2
    assert "is not keys: a key pad has 0-9, * and #" in result.output
    assert "use --say" in result.output


def test_words_said_at_a_prompt_for_keys_are_heard_as_nothing(config: Path) -> None:
    result = ivr(
        config, "call", MENU, "--from", CALLER, "--keys", "~ 2", "--say", "an agent please"
    )
    assert result.exit_code == 0, result.output
    out = lines(result)
    said = out.index('  Caller says "an agent please": this prompt takes keys only')
    assert out[said + 1] == '  Caller hears: "Sorry, we did not hear a choice."'  # a time-out
    assert "  Caller presses: 2" in out[said + 2 :]
    assert out[-2] == "Outcome: Delivered"


def test_a_tilde_without_words_is_refused(config: Path) -> None:
    result = ivr(config, "call", MENU, "--from", CALLER, "--keys", "~")
    assert result.exit_code == 2
    assert "a '~' has no --say left to take" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0207", "--keys", "1"], "Invalid value for NUMBER: '0207' is not an E.164 number"),
        ([MENU, "--hangup-after", "-1"], "-1 is not in the range x>=0"),
        ([MENU, "--callplans", "/no/such/folder"], "Directory '/no/such/folder' does not exist"),
        ([MENU, "--url", "http://127.0.0.1:9"], "cannot reach http://127.0.0.1:9: nothing answers"),
    ],
)
def test_call_refuses_what_it_cannot_do(config: Path, args: list[str], message: str) -> None:
    result = ivr(config, "call", *args)
    assert result.exit_code != 0
    assert message in result.output


def test_calls_since_must_be_a_date(config: Path) -> None:
    result = ivr(config, "calls", "--since", "yesterday")
    assert result.exit_code == 2
    assert "'yesterday' is not an ISO 8601 date or time" in result.output
