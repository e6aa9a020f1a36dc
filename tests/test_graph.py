"""`ivr graph PLAN_ID_OR_FILE`: applets as nodes, routed outcomes as labelled arrows; a data
router's arrows say their conditions (`Balance > 5`), not `rule_1`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ivr.tools.cli import main
from tests.conftest import ROOT

WARN = ROOT / "tests" / "callplans" / "warn"


def graph(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["graph", *args])
    return result.exit_code, result.output


def test_router_arrows_say_their_conditions_in_mermaid() -> None:
    code, out = graph(str(WARN / "ordering_compares_text.yaml"))
    assert code == 0
    assert out.startswith("flowchart TD\n")
    assert '    route -->|"Balance #62; 5"| owes' in out
    assert '    route -->|"Due #60; 2026-11-30"| overdue' in out
    assert '    route -->|"Balance between £10 and £200"| owes' in out
    assert '    route -->|"default"| nothing_due' in out
    assert "rule_1" not in out


def test_dot_output_is_utf8_with_the_same_labels() -> None:
    code, out = graph(str(WARN / "ordering_compares_text.yaml"), "--format", "dot")
    assert code == 0
    assert out.startswith('digraph "ordering_compares_text" {')
    assert '"route" -> "owes" [label="Balance between £10 and £200"];' in out
    assert '"route" -> "nothing_due" [label="default"];' in out


def test_a_plan_id_is_found_in_the_plans_folder(tmp_path: Path) -> None:
    code, out = graph("self_service_payment", "--callplans", str(ROOT / "callplans"))
    assert code == 0
    assert '    verified -->|"Verified = true"| bills_due' in out
    assert '    bills_due -->|"OpenCount ≤ 0"| nothing_due' in out
    assert '    card_route -->|"CardToken is set"| card_menu' in out


def test_an_unknown_plan_id_suggests_the_nearest() -> None:
    code, out = graph("self_servce_payment", "--callplans", str(ROOT / "callplans"))
    assert code == 1
    assert "no plan file or plan id 'self_servce_payment'" in out
    assert "(did you mean 'self_service_payment'?)" in out


def test_a_broken_plan_file_prints_its_diagnostics() -> None:
    bad = ROOT / "tests" / "callplans" / "bad" / "tab_indent.yaml"
    code, out = graph(str(bad))
    assert code == 1
    assert "tab_indent.yaml:6:1: error: YAML syntax: a tab in the indentation" in out
