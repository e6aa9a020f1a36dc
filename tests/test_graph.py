"""`ivr graph PLAN_ID_OR_FILE`: applets as nodes, routed outcomes as labelled arrows; a data
router's arrows say their conditions (`Balance > 5`), not `rule_1`."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

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
    assert '    verified -->|"Verified = true"| collections_case' in out
    assert '    collections_plan -->|"goto_plan"| plan_collections_outbound' in out
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


# --- drawn: SVG and a self-contained HTML page ----------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def drawn(plan: str, fmt: str = "svg") -> str:
    code, out = graph(plan, "--callplans", str(ROOT / "callplans"), "--format", fmt)
    assert code == 0, out
    return out


def boxes(root: ElementTree.Element) -> dict[str, tuple[float, float, float, float]]:
    """Applet id → (x, y, width, height) of its box."""
    out = {}
    for group in root.iter(f"{SVG}g"):
        if (group.get("id") or "").startswith("applet-"):
            rect = group.find(f"{SVG}rect")
            assert rect is not None
            out[group.get("id", "").removeprefix("applet-")] = tuple(
                float(rect.get(k, "0")) for k in ("x", "y", "width", "height")
            )
    return out


def test_svg_draws_every_applet_once_without_overlap_and_labels_router_arrows() -> None:
    from ivr.engine.loader import load_file

    plan, _ = load_file(ROOT / "callplans" / "self_service_payment.yaml")
    root = ElementTree.fromstring(drawn("self_service_payment"))
    assert root.tag == f"{SVG}svg"
    placed = boxes(root)
    # each applet, and once each plan a goto_plan continues in
    assert set(placed) == set(plan.applets) | {"collections_outbound"}
    items = list(placed.items())
    for i, (a, (ax, ay, aw, ah)) in enumerate(items):
        for b, (bx, by, bw, bh) in items[i + 1 :]:
            apart = ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
            assert apart, f"{a} and {b} overlap"
    texts = {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}
    assert {"Verified = true", "OpenCount ≤ 0", "CardToken is set"} <= texts
    assert not any(t.startswith("rule_") for t in texts)
    # the fallback, routed to from many applets, is drawn once; the rest point at tags
    tags = [g for g in root.iter(f"{SVG}g") if "goto" in (g.get("class") or "").split()]
    assert plan.fallback in {g.get("data-to") for g in tags}
    assert {g.get("data-to") for g in tags} <= set(plan.applets)


def test_arrows_run_down_except_those_going_back() -> None:
    root = ElementTree.fromstring(drawn("main_menu"))
    placed = boxes(root)
    arrows = [g for g in root.iter(f"{SVG}g") if g.get("data-from")]
    assert arrows
    for arrow in arrows:
        source, target = arrow.get("data-from", ""), arrow.get("data-to", "")
        if target not in placed:
            continue
        back = "back" in (arrow.get("class") or "")
        assert (placed[target][1] > placed[source][1]) != back, (source, target)


def test_the_drawing_is_the_same_every_time() -> None:
    assert drawn("self_service_payment") == drawn("self_service_payment")


def test_the_html_page_is_self_contained() -> None:
    page = drawn("self_service_payment", "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Call plan self_service_payment</title>" in page
    assert "<svg " in page and page.rstrip().endswith("</html>")
    outside = re.findall(r"(?:src|href)\s*=|@import|url\((?!#)|<script|<link", page)
    assert outside == []
    assert re.findall(r"https?://[^\s\"'<]+", page) == ["http://www.w3.org/2000/svg"]
