"""data_router: every operator with every type, conversion failures, and routing in the engine."""

from __future__ import annotations

from typing import Any

import pytest

from applets.data_router import OPERATORS, Rule, evaluate
from ivr.lang.templates import Ref


def rule(op: str, type_: str = "string", value: Any = None) -> Rule:
    return Rule(source=Ref("X"), op=op, value=value, type=type_, goto="target")


def check(op: str, type_: str, actual: Any, expected: Any) -> bool:
    return evaluate(rule(op, type_, expected), actual, expected)


# (op, type, data source value, rendered rule value, matches?)
CASES = [
    # strings compare case-insensitively
    ("equals", "string", "Active", "ACTIVE", True),
    ("equals", "string", "Active", "Inactive", False),
    ("equals", "string", "10.50", "10.5", False),  # text, not numbers
    ("not_equals", "string", "Active", "active", False),
    ("not_equals", "string", "Active", "Closed", True),
    ("contains", "string", "Premium Gold", "GOLD", True),
    ("contains", "string", "Premium", "gold", False),
    ("not_contains", "string", "Premium", "gold", True),
    ("not_contains", "string", "Premium Gold", "gold", False),
    ("starts_with", "string", "DECLINED_CARD", "decl", True),
    ("starts_with", "string", "NOT_DECLINED", "decl", False),
    ("ends_with", "string", "Report.CSV", ".csv", True),
    ("ends_with", "string", "csv.txt", "csv", False),
    ("matches", "string", "AB12CD", "[A-Z0-9]{6}", True),
    ("matches", "string", "ab12cd", "[A-Z0-9]{6}", True),
    ("matches", "string", "AB12CD9", "[A-Z0-9]{6}", False),  # full match, not search
    ("matches", "string", "XAB12CD", "[A-Z0-9]{6}", False),
    ("matches", "string", "4", "4|5", True),
    ("matches", "string", "45", "4|5", False),
    ("in", "string", "Closed", ["closed", "suspended"], True),
    ("in", "string", "open", ["closed", "suspended"], False),
    ("between", "string", "B", ["a", "c"], True),
    ("between", "string", "d", ["A", "C"], False),
    ("greater_than", "string", "b", "A", True),
    ("greater_or_equal", "string", "A", "a", True),
    ("less_than", "string", "a", "B", True),
    ("less_or_equal", "string", "b", "A", False),
    # numbers are decimals: "10.50" is more than 9 (as text it would be less)
    ("equals", "number", "10.50", "10.5", True),
    ("equals", "number", "10.50", 10, False),
    ("not_equals", "number", "10.50", "10.5", False),
    ("not_equals", "number", "10.50", 9, True),
    ("greater_than", "number", "10.50", 9, True),
    ("greater_than", "number", "9", "10.50", False),
    ("greater_than", "number", "10", "10.00", False),
    ("greater_or_equal", "number", "10", "10.00", True),
    ("greater_or_equal", "number", "9.99", "10", False),
    ("less_than", "number", "-1", 0, True),
    ("less_than", "number", "0", 0, False),
    ("less_than", "number", "9", "10.50", True),
    ("less_or_equal", "number", "0.00", 0, True),
    ("less_or_equal", "number", "0.01", 0, False),
    ("in", "number", "2.0", [1, 2, 3], True),
    ("in", "number", "4", [1, 2, 3], False),
    ("between", "number", "10", [10, 20], True),  # inclusive at both ends
    ("between", "number", "20.00", [10, 20], True),
    ("between", "number", "20.01", [10, 20], False),
    ("between", "number", "9.99", [10, 20], False),
    ("between", "number", "15", ["10.5", "15.0"], True),
    # dates
    ("equals", "date", "2026-11-20", "2026-11-20", True),
    ("not_equals", "date", "2026-11-20", "2026-11-21", True),
    ("less_than", "date", "2026-11-19", "2026-11-20", True),
    ("less_than", "date", "2026-11-20", "2026-11-20", False),
    ("less_or_equal", "date", "2026-11-20", "2026-11-20", True),
    ("greater_than", "date", "2027-01-01", "2026-12-31", True),
    ("greater_than", "date", "2026-02-01", "2026-10-01", False),  # not text order of months
    ("greater_or_equal", "date", "2026-11-19", "2026-11-20", False),
    ("in", "date", "2026-12-25", ["2026-12-24", "2026-12-25"], True),
    ("between", "date", "2026-11-01", ["2026-11-01", "2026-11-30"], True),
    ("between", "date", "2026-11-30", ["2026-11-01", "2026-11-30"], True),
    ("between", "date", "2026-12-01", ["2026-11-01", "2026-11-30"], False),
    # booleans
    ("equals", "boolean", "true", True, True),
    ("equals", "boolean", "TRUE", "true", True),
    ("equals", "boolean", True, "true", True),
    ("equals", "boolean", "false", True, False),
    ("equals", "boolean", False, "false", True),
    ("not_equals", "boolean", "false", "true", True),
    ("not_equals", "boolean", "true", "true", False),
    ("in", "boolean", "true", [True], True),
]


@pytest.mark.parametrize(("op", "type_", "actual", "expected", "result"), CASES)
def test_operator(op: str, type_: str, actual: Any, expected: Any, result: bool) -> None:
    assert check(op, type_, actual, expected) is result


def test_every_operator_is_covered() -> None:
    covered = {case[0] for case in CASES} | {"is_null", "is_not_null"}
    assert covered == set(OPERATORS)
    for type_ in ("string", "number", "date", "boolean"):
        assert any(case[1] == type_ for case in CASES)


@pytest.mark.parametrize("type_", ["string", "number", "date", "boolean"])
@pytest.mark.parametrize(
    ("actual", "null"),
    [
        (None, True),
        ("", True),
        ("x", False),
        ("0", False),
        (0, False),
        ("2026-11-20", False),
    ],
)
def test_null_operators(type_: str, actual: Any, null: bool) -> None:
    """A missing data source (None) and an empty value are null, whatever the rule's type."""
    assert evaluate(rule("is_null", type_), actual, None) is null
    assert evaluate(rule("is_not_null", type_), actual, None) is (not null)


# A value that cannot be converted to the rule's type makes the rule not match, whichever way
# the comparison points (so not_equals must not match either).
UNCONVERTIBLE = [
    ("equals", "number", "abc", "5"),
    ("not_equals", "number", "abc", "5"),
    ("not_equals", "number", "", "5"),
    ("greater_than", "number", "12", "abc"),
    ("less_than", "number", "abc", "12"),
    ("less_or_equal", "number", "twelve", "12"),
    ("greater_or_equal", "number", "12", ""),
    ("in", "number", "abc", [1, 2]),
    ("between", "number", "abc", [1, 20]),
    ("between", "number", "15", ["a", 20]),
    ("between", "number", "15", [1, "z"]),
    ("equals", "date", "31/12/2026", "2026-12-31"),
    ("not_equals", "date", "31/12/2026", "2026-12-31"),
    ("less_than", "date", "not a date", "2027-01-01"),
    ("less_than", "date", "2026-11-20", "tomorrow"),
    ("greater_than", "date", "2026-13-01", "2026-01-01"),
    ("between", "date", "2026-11-20", ["2026-11-01", "soon"]),
    ("equals", "boolean", "maybe", "true"),
    ("not_equals", "boolean", "maybe", "true"),
    ("not_equals", "boolean", "true", "perhaps"),
    ("in", "boolean", "maybe", [True, False]),
    ("greater_than", "boolean", "true", "false"),  # booleans have no order
]


@pytest.mark.parametrize(("op", "type_", "actual", "expected"), UNCONVERTIBLE)
def test_unconvertible_value_never_matches(op: str, type_: str, actual: Any, expected: Any) -> None:
    assert check(op, type_, actual, expected) is False


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("not_equals", "closed"),
        ("not_contains", "closed"),
        ("equals", ""),
    ],
)
def test_missing_string_source_compares_like_empty_text(op: str, value: str) -> None:
    """A missing data source renders as empty text (VCC), and is_null treats missing and empty
    alike: a string rule must give the same answer for a missing source as for ''."""
    assert check(op, "string", None, value) is check(op, "string", "", value)
    assert check(op, "string", "", value) is True


def test_invalid_regex_at_run_time_does_not_match() -> None:
    assert check("matches", "string", "abc", "([") is False


def test_numbers_in_data_sources_compare_as_numbers() -> None:
    from decimal import Decimal

    assert check("equals", "number", Decimal("10.50"), "10.5") is True
    assert check("greater_than", "number", 10, "9.99") is True
    assert check("equals", "string", 42, "42") is True


# --- through the engine ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "heard"),
    [
        ("999", "Route account."),  # rule 2 wins although rule 3 (> 100) also matches
        ("101", "Route big."),  # greater_than $(Limit) as a number
        ("100", "Route other."),
        ("07", "Route prefix."),  # starts_with $(Prefix)
        ("079", "Route prefix."),
        ("10", "Route teen."),  # between [$(Low), 20], inclusive
        ("20", "Route teen."),
        ("21", "Route other."),
        ("2", "Route small."),
        ("42", "Route forties."),  # matches wins over the later equals "42"
        ("4", "Route other."),  # matches is a full match
        ("400", "Route big."),
    ],
)
def test_engine_routes_first_matching_rule(
    make_engine: Any, call: Any, entry: str, heard: str
) -> None:
    engine = make_engine("route_data_router.yaml")
    c = call(engine, plan_id="route_data_router")
    c.press(entry)
    assert c.ended
    assert c.heard == [heard]


def test_engine_missing_source_is_null(make_engine: Any, call: Any) -> None:
    engine = make_engine("route_data_router.yaml")
    c = call(engine, plan_id="route_data_router")
    c.silence()
    assert c.heard == ["Route null."]
    assert c.path == [("ask", "no_input"), ("route", "rule_1"), ("r_null", "end")]


def test_engine_rule_paths_and_unconvertible_rule_falls_through(
    make_engine: Any, call: Any
) -> None:
    """Account.balance > "abc" cannot convert, so the next rule is checked; Account.opened is
    before $(Today) as dates; Account.status equals ACTIVE case-insensitively; Account.vip is a
    boolean yes; "10.50" > 9 as a decimal."""
    engine = make_engine("route_data_router.yaml")
    c = call(engine, plan_id="route_data_router")
    c.press("999")
    assert c.heard == ["Route account."]
    assert c.path == [
        ("ask", "next"),
        ("route", "rule_2"),
        ("account", "rule_2"),
        ("account_2", "rule_2"),
        ("account_3", "rule_1"),
        ("r_account", "end"),
    ]
