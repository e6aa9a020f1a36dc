"""Deliberately broken and warning call plans: the exact diagnostics the loader and CLI report.

Every `tests/callplans/bad/NAME.yaml` and `tests/callplans/warn/NAME.yaml` is paired with
`NAME.expected`, the exact `FILE:LINE:COL: severity: PATH: MESSAGE` lines (FILE relative to the
repository root). Bad plans must be refused with exactly those errors; warning plans must load
with exactly those warnings.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.engine.catalog import load_paths
from ivr.engine.loader import load_file
from ivr.errors import PlanError
from ivr.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
CALLPLANS = Path("tests") / "callplans"
BAD = sorted((ROOT / CALLPLANS / "bad").glob("*.yaml"))
WARN = sorted((ROOT / CALLPLANS / "warn").glob("*.yaml"))

# Checked across plans by ivr.engine.catalog.load_paths: the file alone loads with load_file.
CROSS_PLAN = {"goto_unknown_plan", "goto_unknown_applet"}


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def expected_lines(plan: Path) -> list[str]:
    return plan.with_suffix(".expected").read_text(encoding="utf-8").splitlines()


@pytest.fixture(autouse=True)
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Diagnostics name files as given; run from the repository root so they are relative."""
    monkeypatch.chdir(ROOT)


def test_every_plan_has_an_expected_file_and_back() -> None:
    for folder in ("bad", "warn"):
        plans = {p.stem for p in (ROOT / CALLPLANS / folder).glob("*.yaml")}
        expected = {p.stem for p in (ROOT / CALLPLANS / folder).glob("*.expected")}
        assert plans == expected, folder
    assert len(BAD) >= 40 and len(WARN) >= 2


@pytest.mark.parametrize("plan", BAD, ids=lambda p: p.stem)
def test_bad_plan_is_refused_with_exact_errors(plan: Path) -> None:
    expected = expected_lines(plan)
    assert expected, "a bad plan lists at least one error"
    assert all(": error: " in line for line in expected)
    result = load_paths([relative(plan)])
    assert sorted(d.format() for d in result.diagnostics) == sorted(expected)
    assert result.plans == []
    assert result.refused == [relative(plan)]


@pytest.mark.parametrize("plan", WARN, ids=lambda p: p.stem)
def test_warning_plan_loads_with_exact_warnings(plan: Path) -> None:
    expected = expected_lines(plan)
    assert all(": warning: " in line for line in expected)
    result = load_paths([relative(plan)])
    assert sorted(d.format() for d in result.diagnostics) == sorted(expected)
    assert result.errors == []
    assert [p.id for p, _ in result.plans] == [plan.stem]


@pytest.mark.parametrize("plan", BAD, ids=lambda p: p.stem)
def test_broken_plan_file_never_yields_a_plan(plan: Path) -> None:
    if plan.stem in CROSS_PLAN:
        # Fine on its own; refused once the other plans are known (see the test above).
        loaded, _ = load_file(relative(plan))
        assert loaded.id == plan.stem
        return
    with pytest.raises(PlanError) as caught:
        load_file(relative(plan))
    lines = [d.format() for d in caught.value.diagnostics]
    assert sorted(lines) == sorted(expected_lines(plan))
    assert str(caught.value).startswith(lines[0])


def test_many_errors_are_reported_together() -> None:
    plan = ROOT / CALLPLANS / "bad" / "many_errors.yaml"
    with pytest.raises(PlanError) as caught:
        load_file(relative(plan))
    assert len(caught.value.diagnostics) == len(expected_lines(plan)) == 4
    assert str(caught.value).endswith("(and 3 more)")


def test_warning_plan_is_returned_with_its_warnings() -> None:
    plan, report = load_file("tests/callplans/warn/unreachable_applet.yaml")
    assert "old_welcome" in plan.applets
    assert [d.format() for d in report.warnings] == expected_lines(
        ROOT / CALLPLANS / "warn" / "unreachable_applet.yaml"
    )


# --- the command line ------------------------------------------------------------------------


def validate(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output.splitlines()


def test_cli_validate_exits_1_and_prints_the_error() -> None:
    code, lines = validate("tests/callplans/bad/unknown_top_level_key.yaml")
    assert code == 1
    assert lines[0] == (
        "tests/callplans/bad/unknown_top_level_key.yaml:3:1: error: fallbak: "
        "unknown top-level key 'fallbak' (did you mean 'fallback'?)"
    )
    assert lines[-1] == "0 plan(s) valid, 1 refused: 1 error(s), 0 warning(s)"


def test_cli_validate_prints_every_error_of_several_files() -> None:
    names = ["many_errors", "missing_next_target", "goto_unknown_plan"]
    code, lines = validate(*(f"tests/callplans/bad/{n}.yaml" for n in names))
    assert code == 1
    wanted = [
        line for n in names for line in expected_lines(ROOT / CALLPLANS / "bad" / f"{n}.yaml")
    ]
    assert sorted(lines[:-1]) == sorted(wanted)
    assert lines[-1] == "0 plan(s) valid, 3 refused: 6 error(s), 0 warning(s)"


def test_cli_validate_callplans_is_clean() -> None:
    count = len(
        [
            p
            for p in (ROOT / "callplans").rglob("*.yaml")
            if "tests" not in p.relative_to(ROOT / "callplans").parts
        ]
    )
    assert count >= 3
    clean = f"{count} plan(s) valid, 0 refused: 0 error(s), 0 warning(s)"
    assert validate("callplans") == (0, [clean])
    assert validate("--strict", "callplans") == (0, [clean])
    assert validate() == (0, [clean])  # callplans/ is the default


def test_cli_validate_warnings_pass_unless_strict() -> None:
    plan = "tests/callplans/warn/unreachable_applet.yaml"
    warning = expected_lines(ROOT / plan)
    code, lines = validate(plan)
    assert code == 0
    assert lines == [*warning, "1 plan(s) valid, 0 refused: 0 error(s), 1 warning(s)"]
    code, lines = validate("--strict", plan)
    assert code == 1
    assert lines[:-1] == warning


def test_cli_validate_quiet_prints_only_diagnostics() -> None:
    plan = "tests/callplans/bad/missing_start.yaml"
    code, lines = validate("--quiet", plan)
    assert code == 1
    assert lines == expected_lines(ROOT / plan)


def test_cli_validate_missing_path_is_a_usage_error() -> None:
    code, lines = validate("tests/callplans/bad/no_such_plan.yaml")
    assert code == 2
    assert any("does not exist" in line for line in lines)


@pytest.mark.parametrize("name", ["alias_bomb", "depth_bomb", "oversized_file"])
def test_hostile_files_are_refused_in_well_under_a_second(name: str) -> None:
    """The limits bound the work: the alias bomb would expand to 387 million values, the
    depth bomb would recurse 900 deep, the oversized file is not even read."""
    started = time.monotonic()
    with pytest.raises(PlanError) as caught:
        load_file(CALLPLANS / "bad" / f"{name}.yaml")
    assert time.monotonic() - started < 1.0
    assert [d.format() for d in caught.value.diagnostics] == expected_lines(
        ROOT / CALLPLANS / "bad" / f"{name}.yaml"
    )


def test_the_size_limit_is_configurable(tmp_path: Path) -> None:
    plan = ROOT / CALLPLANS / "bad" / "oversized_file.yaml"
    loaded, _ = load_file(plan, max_bytes=plan.stat().st_size)
    assert loaded.id == "oversized_file"
    result = CliRunner().invoke(
        main, ["validate", relative(plan)], env={"IVR_MAX_PLAN_BYTES": str(plan.stat().st_size)}
    )
    assert result.exit_code == 0, result.output
