"""Data sources carried in by goto_plan count as set in the target plan's analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.engine.catalog import load_paths

GOTO = Path("tests") / "callplans" / "goto"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_sources_carried_by_goto_plan_are_not_reported_as_never_set() -> None:
    result = load_paths([GOTO])
    assert [d.format() for d in result.diagnostics] == [
        "tests/callplans/goto/back.yaml:6:10: warning: applets.hello.say: $(Nothing) is never "
        "set on any path into 'hello'; it will be empty"
    ]


def test_alone_the_target_plan_cannot_know_what_is_carried_in() -> None:
    result = load_paths([GOTO / "back.yaml"])
    names = sorted(d.message.split(")")[0] for d in result.warnings)
    assert names == ["$(Account", "$(Nothing"]


def test_the_shipped_plans_jump_without_false_warnings() -> None:
    assert load_paths([ROOT / "callplans"]).warnings == []
