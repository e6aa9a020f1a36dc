"""The strict YAML reader for call plans: YAML 1.2 scalars, string keys, duplicates, positions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ivr.lang.diagnostics import Report
from ivr.lang.yaml_source import read_yaml


def read(text: str) -> tuple[Any, Report]:
    report = Report("plan.yaml")
    return read_yaml(text, report), report


def value(scalar: str) -> Any:
    data, report = read(f"v: {scalar}\n")
    assert report.diagnostics == []
    return data["v"]


# --- scalars -----------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "NO", "On", "OFF", "y", "n"])
def test_yaml_11_booleans_stay_text(word: str) -> None:
    assert value(word) == word


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("true", True),
        ("false", False),
        ("True", True),
        ("FALSE", False),
    ],
)
def test_true_and_false_are_booleans(word: str, expected: bool) -> None:
    assert value(word) is expected


@pytest.mark.parametrize("word", ["1:30", "08:00-20:00", "12:00", "190:20:30"])
def test_sexagesimal_and_times_stay_text(word: str) -> None:
    assert value(word) == word


@pytest.mark.parametrize("word", ["2026-12-25", "2026-12-25T10:00:00Z", "2026-12-25 10:00"])
def test_dates_stay_text(word: str) -> None:
    result = value(word)
    assert result == word and not isinstance(result, date)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("42.50", Decimal("42.50")),
        ("0.1", Decimal("0.1")),
        (".5", Decimal("0.5")),
        ("-3.25", Decimal("-3.25")),
        ("1.5e3", Decimal("1.5e3")),
    ],
)
def test_decimals_become_decimal_not_float(word: str, expected: Decimal) -> None:
    result = value(word)
    assert type(result) is Decimal
    assert result == expected


def test_decimals_keep_the_written_precision() -> None:
    assert str(value("42.50")) == "42.50"
    assert str(value("100.00")) == "100.00"


@pytest.mark.parametrize(("word", "expected"), [("42", 42), ("-7", -7), ("0", 0), ("+5", 5)])
def test_decimal_integers_are_int(word: str, expected: int) -> None:
    result = value(word)
    assert type(result) is int and result == expected


@pytest.mark.parametrize("word", ["0x1F", "0o17", "1_000", ".inf", "-.inf", ".nan", "1,000"])
def test_other_yaml_11_numbers_stay_text(word: str) -> None:
    assert value(word) == word


@pytest.mark.parametrize("word", ["~", "null", "Null", "NULL", ""])
def test_nulls(word: str) -> None:
    assert value(word) is None


@pytest.mark.parametrize("word", ['"true"', "'42'", '"1.50"', "'null'", '"2026-12-25"'])
def test_quoted_scalars_stay_text(word: str) -> None:
    assert value(word) == word[1:-1]


def test_block_scalars_stay_text() -> None:
    data, report = read("a: |\n  42\nb: >-\n  true\n")
    assert report.diagnostics == []
    assert data == {"a": "42\n", "b": "true"}


def test_explicit_tags_do_not_convert() -> None:
    data, report = read("a: !!int '5'\nb: !!bool yes\n")
    assert report.diagnostics == []
    assert data == {"a": "5", "b": "yes"}


def test_lists_and_nested_maps() -> None:
    data, report = read("a: [1, two, 3.0]\nb:\n  - {c: yes}\n")
    assert report.diagnostics == []
    assert data == {"a": [1, "two", Decimal("3.0")], "b": [{"c": "yes"}]}


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_document_is_none_without_errors(text: str) -> None:
    data, report = read(text)
    assert data is None
    assert report.diagnostics == []


# --- keys --------------------------------------------------------------------------------------


def test_menu_keys_are_strings() -> None:
    data, report = read('options:\n  1: pay\n  "2": agent\n  0: op\n  "*": again\n  "#": end\n')
    assert report.diagnostics == []
    assert data == {"options": {"1": "pay", "2": "agent", "0": "op", "*": "again", "#": "end"}}
    assert all(type(k) is str for k in data["options"])


def test_every_key_is_text_as_written() -> None:
    data, report = read("true: a\nnull: b\nyes: c\n3.5: d\n2026-01-01: e\n")
    assert report.diagnostics == []
    assert list(data) == ["true", "null", "yes", "3.5", "2026-01-01"]


def test_map_or_list_as_key_is_an_error() -> None:
    data, report = read("? [a, b]\n: 1\nc: 2\n")
    assert data == {"c": 2}
    assert [d.format() for d in report.diagnostics] == [
        "plan.yaml:1:3: error: ?: mapping keys must be plain names, not lists or maps"
    ]


def test_merge_keys_are_refused() -> None:
    data, report = read("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert [d.format() for d in report.errors] == [
        "plan.yaml:3:3: error: other: merge keys (<<) are not supported in call plans"
    ]
    assert "<<" not in data["other"]


def test_aliases_are_expanded() -> None:
    data, report = read("a: &x hello\nb: *x\n")
    assert report.diagnostics == []
    assert data == {"a": "hello", "b": "hello"}


# --- duplicates --------------------------------------------------------------------------------


def test_duplicate_key_names_both_lines() -> None:
    data, report = read("plan: a\nstart: one\napplets: {}\nstart: two\n")
    [error] = report.errors
    assert (error.line, error.col, error.path) == (4, 1, ("start",))
    assert error.message == (
        "duplicate key 'start' (first defined on line 2); "
        "YAML would silently keep only the last one"
    )
    assert data["start"] == "one"  # the later one is not silently taken


def test_menu_key_written_two_ways_is_a_duplicate() -> None:
    _, report = read('options:\n  1: pay\n  "1": agent\n')
    assert [d.format() for d in report.diagnostics] == [
        "plan.yaml:3:3: error: options.1: duplicate key '1' (first defined on line 2); "
        "YAML would silently keep only the last one"
    ]


def test_duplicates_found_in_lists_and_flow_maps() -> None:
    text = "rules:\n  - {op: equals, op: in}\n  - a: 1\n    b: 2\n    a: 3\n"
    _, report = read(text)
    assert sorted((d.line, d.col, d.path) for d in report.errors) == [
        (2, 18, ("rules", 0, "op")),
        (5, 5, ("rules", 1, "a")),
    ]
    assert "first defined on line 3" in report.errors[-1].message


def test_a_duplicate_after_a_refused_merge_key_names_the_key_that_was_kept() -> None:
    _, report = read('<<: {}\n"<<": 2\n"<<": 3\n')
    assert [(e.line, e.message.split(";")[0]) for e in report.errors] == [
        (1, "merge keys (<<) are not supported in call plans"),
        (3, "duplicate key '<<' (first defined on line 2)"),
    ]


def test_same_key_in_different_maps_is_fine() -> None:
    _, report = read("a: {x: 1}\nb: {x: 2}\n")
    assert report.diagnostics == []


# --- positions ---------------------------------------------------------------------------------


PLAN = """\
plan: p
applets:
  welcome:
    type: say
    say:   "Hello"
    prompts:
      - say: one
      -   pause: 1
"""


def test_positions_of_values_and_keys() -> None:
    _, report = read(PLAN)
    assert report.where(()) == (1, 1)
    assert report.where(("plan",)) == (1, 7)
    assert report.where(("plan",), key=True) == (1, 1)
    assert report.where(("applets", "welcome"), key=True) == (3, 3)
    assert report.where(("applets", "welcome")) == (4, 5)  # the map starts at its first key
    assert report.where(("applets", "welcome", "say")) == (5, 12)
    assert report.where(("applets", "welcome", "say"), key=True) == (5, 5)
    assert report.where(("applets", "welcome", "prompts", 0)) == (7, 9)
    assert report.where(("applets", "welcome", "prompts", 1, "pause")) == (8, 18)
    assert report.where(("applets", "welcome", "prompts", 1, "pause"), key=True) == (8, 11)
    # a path the file does not have: its deepest part that it has
    assert report.where(("applets", "welcome", "nothing", "here")) == (4, 5)
    assert report.where(("applets", "welcome", "prompts", 9)) == (7, 7)


def test_diagnostics_resolve_paths_to_positions() -> None:
    _, report = read(PLAN)
    report.error(("applets", "welcome", "say"), "value")
    report.error(("applets", "welcome", "say"), "key", key=True)
    report.error(("applets", "welcome", "missing", "deeper"), "nearest parent")
    report.warning(("applets", "welcome"), "applet", key=True)
    assert [(d.severity, d.line, d.col) for d in report.diagnostics] == [
        ("error", 5, 12),
        ("error", 5, 5),
        ("error", 4, 5),
        ("warning", 3, 3),
    ]
    assert report.diagnostics[0].format() == ("plan.yaml:5:12: error: applets.welcome.say: value")


@pytest.mark.parametrize(
    ("text", "line", "col", "problem"),
    [
        ('a: "open\n', 1, 4, "the quoted text that starts here is never closed"),
        ("a:\n  b: 1\n c: 2\n", 3, 2, ""),
        ("a: [1, 2\n", 1, 4, ""),
        ("a: b: c\n", 1, 5, "a ':' where YAML did not expect one: quote a text"),
        ("a:\n\tb: 1\n", 2, 1, "a tab in the indentation: YAML indents with spaces only"),
        ("m:\n  *: a\n", 2, 4, "a bare * starts a YAML alias: quote it where it is a menu key"),
    ],
)
def test_syntax_errors_have_a_position(text: str, line: int, col: int, problem: str) -> None:
    data, report = read(text)
    assert data is None
    [error] = report.diagnostics
    assert error.severity == "error"
    assert (error.line, error.col) == (line, col)
    assert error.message.startswith("YAML syntax: " + problem)


def test_aliases_may_not_repeat_a_large_text_many_times() -> None:
    """A few aliases of one long string are as costly as many small ones: text counts too."""
    big = "word " * 100_000  # 500 kB
    text = f'a: &s "{big}"\n' + "".join(f"b{i}: *s\n" for i in range(3))
    report = Report("big.yaml")
    assert read_yaml(text, report) is None
    [error] = report.errors
    assert "repeat more than 1,000,000 characters of text" in error.message
    assert error.path == ("b2",)  # b0 and b1 repeat exactly the 1,000,000 allowed
    ok = Report("ok.yaml")
    assert read_yaml(f'a: &s "{big}"\nb: *s\n', ok) is not None and not ok.errors


def test_aliases_within_the_budgets_load() -> None:
    report = Report("ok.yaml")
    value = read_yaml("a: &a [1, 2, 3]\nb: *a\nc: *a\n", report)
    assert value == {"a": [1, 2, 3], "b": [1, 2, 3], "c": [1, 2, 3]} and not report.errors
