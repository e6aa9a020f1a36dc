"""`layout:` in a plan: where an editor (or `ivr import studio`, from the Studio canvas) drew
each applet. Checked like every other key, ignored by calls, used by `ivr graph --format dot`."""

from __future__ import annotations

import pytest

from ivr.drawing.graph import dot
from ivr.engine.loader import load_text
from ivr.errors import PlanError

PLAN = """\
plan: drawn
start: hello
applets:
  hello: {type: say, say: Hello, next: bye}
  bye: {type: hangup}
layout:
  hello: {x: 40, y: -200}
  bye: {x: 0, y: 900}
"""


def test_positions_are_kept_on_the_plan_and_pinned_in_dot() -> None:
    plan, report = load_text(PLAN, "drawn.yaml")
    assert report.diagnostics == []
    assert (plan.layout["hello"].x, plan.layout["hello"].y) == (40, -200)
    text = dot(plan)
    assert '"hello" [label="hello\\nsay", penwidth=3, pos="20,100!"];' in text
    assert 'pos="0,-450!"' in text


def test_a_plan_without_layout_has_none_and_dot_pins_nothing() -> None:
    plan, _ = load_text(PLAN.split("layout:")[0], "plain.yaml")
    assert plan.layout == {}
    assert "pos=" not in dot(plan)


def test_a_position_for_an_applet_that_is_not_there_is_a_warning() -> None:
    _, report = load_text(PLAN + "  helo: {x: 1, y: 2}\n", "drawn.yaml")
    [warning] = report.warnings
    assert str(warning) == (
        "drawn.yaml:9:3: warning: layout.helo: no applet 'helo' (did you mean 'hello'?)"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  hello: {x: 1}", "drawn.yaml:7:10: error: layout.hello: missing required field 'y'"),
        (
            "  hello: {x: '1', y: 2}",
            "drawn.yaml:7:14: error: layout.hello.x: expected a whole number "
            "(at least -1000000, at most 1000000), found the text '1'",
        ),
        (
            "  hello: {x: 1, y: 2, z: 3}",
            "drawn.yaml:7:23: error: layout.hello.z: unknown field 'z'",
        ),
        ("  hello: [1, 2]", "drawn.yaml:7:10: error: layout.hello: expected a position {x, y}"),
    ],
)
def test_a_bad_position_is_an_error_where_it_is(entry: str, message: str) -> None:
    text = PLAN.replace("  hello: {x: 40, y: -200}", entry)
    with pytest.raises(PlanError) as caught:
        load_text(text, "drawn.yaml")
    assert any(str(d).startswith(message) for d in caught.value.diagnostics), [
        str(d) for d in caught.value.diagnostics
    ]
