"""`ivr test`: scenario files run through the simulator and reported like a test runner — the
shipped callplans/ pass; wrong expectations fail with a readable diff; malformed files name the
file and key; canned web services (`times:`, `error:`, unanswered requests); coverage per plan;
`-k`. And the pytest fixture `ivr_phone` that runs the same simulator from Python."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from ivr.app.local_phone import LocalPhone
from ivr.tools.cli import main
from ivr.tools.testing import ivr_phone  # noqa: F401  (the fixture, as a conftest would enable it)
from tests.conftest import CLI_ENVIRONMENT as ENVIRONMENT
from tests.conftest import PLANS, ROOT

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
MALFORMED = SCENARIOS / "malformed"
CALLPLANS = ROOT / "callplans"
CALLER = "+447700900123"


pytestmark = pytest.mark.usefixtures("keep_logging")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config.yaml in tmp_path: a database of its own and callplans/ holding the sim_* plans."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIM_API_TOKEN", "scenario-token")
    plans = tmp_path / "callplans"
    plans.mkdir()
    for plan in sorted(PLANS.glob("sim_*.yaml")):
        shutil.copy(plan, plans / plan.name)
    file = tmp_path / "config.yaml"
    file.write_text(
        f"database: sqlite:///{tmp_path}/x.sqlite3\ndemo_billing: true\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    return file


def ivr_test(config: Path, *args: str | Path) -> Result:
    result = CliRunner().invoke(main, ["test", *map(str, args), "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"ivr test crashed: {result.exception!r}\n{result.output}"
    )
    return result


def out(result: Result) -> list[str]:
    return result.stdout.splitlines()


def summary(result: Result) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+) passed, (\d+) failed", out(result)[-1])
    assert match, out(result)[-1]
    return int(match[1]), int(match[2])


def count_scenarios(folder: Path) -> int:
    total = 0
    for file in folder.rglob("*.yaml"):
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and "scenarios" in raw and "applets" not in raw:
            total += len(raw["scenarios"])
    return total


# --- the shipped scenarios -------------------------------------------------------------------


def test_the_shipped_callplans_pass_and_their_coverage_adds_up(config: Path) -> None:
    """One run of the shipped scenarios (they take a while; `./scripts/test.sh` runs them with
    an explicit path too): all pass, and every coverage line is consistent."""
    result = ivr_test(config, "--callplans", CALLPLANS)
    assert result.exit_code == 0, result.output
    expected = count_scenarios(CALLPLANS)
    assert expected > 0
    assert out(result)[-1] == f"{expected} passed, 0 failed"
    assert not any(line.lstrip().startswith(("FAIL", "ERROR")) for line in out(result))
    lines = out(result)
    assert "coverage" in lines
    pattern = re.compile(
        r"  (\w+): applets (\d+)/(\d+) \((\d+)%\), outcomes (\d+)/(\d+) "
        r"\((\d+)%\)"
    )
    rows = [m for m in map(pattern.fullmatch, lines) if m]
    assert rows, lines
    # the README shows this run: its coverage lines and count are this run's
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for row in rows:
        assert row[0] in readme, f"README.md's ivr test output is stale: {row[0]}"
    assert f"\n{expected} passed, 0 failed\n" in readme
    for row in rows:
        plan = next(
            p
            for p in CALLPLANS.rglob("*.yaml")  # the top-level key, not a goto_plan
            if re.search(rf"^plan: {row[1]}$", p.read_text(encoding="utf-8"), re.M)
        )
        applets = yaml.safe_load(plan.read_text(encoding="utf-8"))["applets"]
        seen, total, percent = int(row[2]), int(row[3]), int(row[4])
        assert total == len(applets)
        assert percent == round(100 * seen / total)
        assert int(row[7]) == round(100 * int(row[5]) / int(row[6]))


def test_a_scenario_file_may_name_the_plan_instead_of_a_number(config: Path) -> None:
    result = ivr_test(config, SCENARIOS / "by_plan", "--no-coverage")
    assert out(result)[-1] == "1 passed, 0 failed", result.output
    assert result.exit_code == 0


# --- wrong expectations: a readable diff -----------------------------------------------------


def test_wrong_expectations_fail_with_a_readable_diff(config: Path) -> None:
    file = SCENARIOS / "failing" / "sim_menu.yaml"
    result = ivr_test(config, file, "--no-coverage")
    assert result.exit_code == 1
    lines = out(result)
    assert lines[0] == str(file)
    assert [line.split(" (")[0] for line in lines if line.startswith("  FAIL")] == [
        "  FAIL wrong path",
        "  FAIL wrong outcome",
        "  FAIL phrase not heard",
        "  FAIL wrong data",
    ]
    text = "\n".join(lines)
    assert (
        "\n".join(
            [
                "       path differs:",
                "       --- expected path",
                "       +++ actual path",
            ]
        )
        in text
    )
    assert (
        "\n".join(
            [
                "        welcome",
                "        menu",
                "       -agent",
                "       -goodbye",
                "       +ask_account",
                "       +read_back",
            ]
        )
        in text
    )
    assert "       outcome: expected 'AccountGiven', got 'Delivered'" in lines
    assert "       not heard (in order): 'Please hold'" in lines
    heard_at = lines.index("       not heard (in order): 'Please hold'")
    assert lines[heard_at + 1 : heard_at + 3] == [
        "         heard:",
        "           Welcome to the test line.",
    ]
    assert "       data Account: expected '4321', got '1234'" in lines
    assert not any("data Choice" in line for line in lines)
    assert lines[-1] == "0 passed, 4 failed"


def test_a_failing_file_fails_the_whole_run(config: Path) -> None:
    result = ivr_test(config, SCENARIOS / "sim_menu.yaml", SCENARIOS / "failing")
    assert result.exit_code == 1
    assert summary(result) == (4, 4)


# --- malformed files ----------------------------------------------------------------------------


# Each malformed file: its one problem, exactly as said, at its line and column.
MALFORMED_FILES = {
    "bad_service_error.yaml": (
        ":5:55: error: scenarios[0].services[0]: error must be timeout or refused, found 'explode'"
    ),
    "bad_start_time.yaml": (
        ":4:17: error: scenarios[0].start_time: 'next tuesday' is not an ISO 8601 date-time "
        "(2026-11-18T10:00:00Z)"
    ),
    "dial_not_a_map.yaml": (
        ":5:11: error: scenarios[0].dial: should be a map of numbers to how they answer "
        '({"+442071230200": busy})'
    ),
    "expect_not_a_map.yaml": (":5:13: error: scenarios[0]: expect should be a map, found a list"),
    "hangup_after_not_a_number.yaml": (
        ":4:19: error: scenarios[0]: hangup_after should be a whole number, found 'two'"
    ),
    "keys_not_a_list.yaml": (
        ':4:11: error: scenarios[0].keys: should be a list, as in ["1", "42#", {say: "pay"}], '
        "found 2"
    ),
    "words_confidence_over_one.yaml": (
        ":4:17: error: scenarios[0].keys[1]: confidence: a number from 0 to 1, found 2"
    ),
    "no_number.yaml": (
        ":2:5: error: scenarios[0]: give number: (the number dialled), here or at the top, or plan:"
    ),
    "no_scenarios_list.yaml": (":3:3: error: scenarios should be a list, found a map"),
    "not_yaml.yaml": (
        ":3:11: error: YAML syntax: the quoted text that starts here is never closed: "
        "add its closing quote"
    ),
    "path_not_a_list.yaml": (
        ":6:13: error: scenarios[0].expect: path should be a list, found 'welcome'"
    ),
    "scenario_not_a_map.yaml": (
        ":3:5: error: scenarios[0]: expected a map (- name: ..., keys: [...], expect: {...})"
    ),
    "service_without_url.yaml": (":3:5: error: services[0]: a service answer needs url:"),
    "unknown_expect_key.yaml": (
        ":5:14: error: scenarios[0].expect: unknown key 'outcom' (did you mean 'outcome'?)"
    ),
    "unknown_file_key.yaml": (":2:1: error: unknown key 'caler' (did you mean 'caller'?)"),
    "unknown_scenario_key.yaml": (
        ":5:5: error: scenarios[0]: unknown key 'expct' (did you mean 'expect'?)"
    ),
    "unknown_service_key.yaml": (
        ":5:48: error: scenarios[0].services[0]: unknown key 'stauts' (did you mean 'status'?)"
    ),
}


def test_every_malformed_fixture_is_listed() -> None:
    assert {p.name for p in MALFORMED.glob("*.yaml")} == set(MALFORMED_FILES)


@pytest.mark.parametrize("name", sorted(MALFORMED_FILES))
def test_a_malformed_file_is_not_run_and_its_problem_is_said_at_line_and_column(
    config: Path, name: str
) -> None:
    file = MALFORMED / name
    result = CliRunner().invoke(main, ["test", str(file), "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"ivr test crashed on {name}: {result.exception!r}"
    )
    assert result.exit_code == 1
    assert out(result) == [
        f"{file}: not run, the file has 1 error(s):",
        f"  {file}{MALFORMED_FILES[name]}",
        "0 passed, 1 failed",
    ]


def test_every_problem_of_a_file_is_said_at_once(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "many.yaml"
    file.write_text(
        'number: "+442071230100"\n'
        "scenarios:\n"
        "  - name: one\n"
        '    kyes: ["0"]\n'
        '    dial: {"+442071230200": answered}\n'
        "    expect: {outcom: Delivered, ended_by: me}\n"
        "  - {name: two, name: again, queue_result: full}\n",
        encoding="utf-8",
    )
    result = ivr_test(config, file)
    assert result.exit_code == 1
    assert out(result)[1:-1] == [
        f"  {file}:4:5: error: scenarios[0]: unknown key 'kyes' (did you mean 'keys'?)",
        f"  {file}:5:29: error: scenarios[0].dial: +442071230200 must be one of completed, "
        "busy, no-answer, failed, found 'answered'",
        f"  {file}:6:14: error: scenarios[0].expect: unknown key 'outcom' (did you mean "
        "'outcome'?)",
        f"  {file}:6:43: error: scenarios[0].expect: ended_by must be twiml or caller, found 'me'",
        f"  {file}:7:17: error: scenarios[1].name: duplicate key 'name' (first defined on line "
        "7); YAML would silently keep only the last one",
        f"  {file}:7:44: error: scenarios[1]: queue_result must be one of bridged, "
        "bridging-in-process, queue-full, error, hangup, leave, redirected, "
        "redirected-from-bridged, system-shutdown, found 'full'",
    ]


def test_malformed_files_are_reported_and_the_others_still_run(config: Path) -> None:
    result = ivr_test(
        config, SCENARIOS / "sim_menu.yaml", MALFORMED / "unknown_file_key.yaml", "--no-coverage"
    )
    assert result.exit_code == 1
    assert out(result)[-1] == "4 passed, 1 failed"
    assert sum(line.endswith("not run, the file has 1 error(s):") for line in out(result)) == 1


# --- canned web services ------------------------------------------------------------------------


def test_canned_answers_with_times_and_errors(config: Path) -> None:
    result = ivr_test(config, SCENARIOS / "sim_lookup.yaml", "--no-coverage")
    passed = [line.split(" (")[0] for line in out(result) if line.startswith("  PASS")]
    assert passed == [
        "  PASS the service answers",
        "  PASS a timeout is retried once",
        "  PASS a refused connection is retried once",
        "  PASS a server error is retried once",
        "  PASS timeouts every time fail",
        "  PASS refused every time fails",
    ], result.output
    assert result.exit_code == 0


def test_an_unanswered_request_is_reported(config: Path) -> None:
    result = ivr_test(config, SCENARIOS / "unanswered", "--no-coverage")
    assert result.exit_code == 1
    lines = out(result)
    assert lines[1].startswith("  FAIL nobody answers the lookup")
    assert lines[2].startswith("       no canned answer for: GET http://127.0.0.1:9/api/whoami")
    assert "phone=" not in lines[2]  # query strings (caller numbers) stay out of the report
    assert lines[-1] == "0 passed, 1 failed"


# --- coverage and selection ---------------------------------------------------------------------


def test_coverage_per_plan_with_what_was_not_run(config: Path) -> None:
    result = ivr_test(config, SCENARIOS / "sim_menu.yaml")
    assert result.exit_code == 0, result.output
    lines = out(result)
    start = lines.index("coverage")
    assert lines[start:] == [
        "coverage",
        "  sim_menu: applets 7/9 (78%), outcomes 9/15 (60%)",
        "    applets not run: silent, sorry",
        "    outcomes not taken: ask_account.invalid, ask_account.no_input, menu.no_input, "
        "menu.no_match, silent.end, sorry.end",
        "4 passed, 0 failed",
    ]


def test_no_coverage(config: Path) -> None:
    result = ivr_test(config, SCENARIOS / "sim_menu.yaml", "--no-coverage")
    assert "coverage" not in out(result)
    assert out(result)[-1] == "4 passed, 0 failed"


@pytest.mark.parametrize("select", ["agent", "AGENT"])
def test_k_selects_scenarios_by_name(config: Path, select: str) -> None:
    result = ivr_test(config, SCENARIOS / "sim_menu.yaml", "-k", select, "--no-coverage")
    assert result.exit_code == 0
    assert [line.split(" (")[0] for line in out(result)[1:-1]] == [
        "  PASS an agent answers",
        "  PASS the agent line is busy",
    ]
    assert out(result)[-1] == "2 passed, 0 failed"


def test_k_selection_coverage_counts_only_what_ran(config: Path) -> None:
    result = ivr_test(config, SCENARIOS / "sim_menu.yaml", "-k", "busy")
    assert "  sim_menu: applets 4/9 (44%), outcomes 4/15 (27%)" in out(result)


def test_no_scenario_files(config: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = ivr_test(config, empty)
    assert result.exit_code == 1
    assert out(result) == [f"no scenario files found in {empty}"]


# --- the ivr_phone fixture ----------------------------------------------------------------------


def test_ivr_phone_runs_the_shipped_plans(ivr_phone, tmp_path: Path) -> None:  # noqa: F811
    phone: LocalPhone = ivr_phone(
        callplans=CALLPLANS,
        dial={"+442071230200": "busy"},
        start=datetime(2026, 11, 18, 10, 0, tzinfo=UTC),
    )
    call = phone.call("+442071230100", CALLER, ["0"])
    assert call.outcome == "Delivered"
    assert [a for a, _ in call.path] == [
        "opening_hours",
        "welcome",
        "list_services",
        "main_menu",
        "agent",
        "goodbye",
    ]
    assert "Welcome to EXAMPLE TELECOM." in call.heard()
    assert call.data is not None and call.data["MenuChoice"] == "0"
    busy = [e for e in call.result.events if e.kind == "dial_result"]
    assert [e.data["status"] for e in busy] == ["busy", "completed"]
    hung_up = phone.call("+442071230100", CALLER, hangup_after=0)
    assert (hung_up.outcome, hung_up.result.ended_by) == ("Abandoned", "caller")
    assert (tmp_path / "calls.sqlite3").exists()


def test_ivr_phone_with_canned_services(ivr_phone, config: Path) -> None:  # noqa: F811
    phone: LocalPhone = ivr_phone(
        callplans=config.parent / "callplans",
        services=[{"url": "http://127.0.0.1:9/api/whoami", "json": {"name": "Grace"}}],
    )
    call = phone.call("+441000000901", CALLER)
    assert call.outcome == "Greeted", call.heard()
    assert call.heard() == ["Hello Grace. Goodbye."]
    assert call.data is not None and call.data["Name"] == "Grace"


def test_letters_in_keys_are_an_error_at_their_position(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "letters.yaml"
    file.write_text('number: "+441000000900"\nscenarios:\n  - keys: ["1", "abc"]\n')
    result = ivr_test(config, file)
    assert out(result)[1] == (
        f"  {file}:3:17: error: scenarios[0].keys[1]: 'abc' is not keys: a key pad has 0-9, "
        "* and #; '-' presses nothing"
    )


def test_mistakes_against_the_plan_are_said_plainly(config: Path, tmp_path: Path) -> None:
    file = tmp_path / "typos.yaml"
    file.write_text(
        'number: "+441000000900"\n'
        "scenarios:\n"
        "  - name: typos\n"
        '    keys: ["2"]\n'
        "    services:\n"
        '      - {method: GET, url: "http://api.example/acounts", json: {}}\n'
        "    expect:\n"
        "      path: [welcom, menu, agent, goodbye]\n"
        "      data: {Choice: 2.0}\n"
        "  - name: nobody answers\n"
        '    number: "+449999000000"\n'
    )
    lines = out(ivr_test(config, file, "--no-coverage"))
    assert "       path: no applet 'welcom' in sim_menu (did you mean 'welcome'?)" in lines
    assert any(
        line.startswith("       data Choice: expected 2.0, got '2' (quote it") for line in lines
    ), lines
    assert (
        "       service answer never used: GET http://api.example/acounts (no request of the "
        "call matched its method and url)"
    ) in lines
    assert any(
        line.startswith("       no plan answers +449999000000: the plans in") for line in lines
    )


def test_a_plan_file_given_to_ivr_test_is_named_for_what_it_is(config: Path) -> None:
    plan = ROOT / "callplans" / "self_service_payment.yaml"
    lines = out(ivr_test(config, plan))
    assert "this is a call plan, not a scenario file" in lines[1]
