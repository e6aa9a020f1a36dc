"""Placeholders and formatters: `$(Name.path:formatter)`, `$$`, missing data, errors."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ivr.errors import MissingSecret, TemplateError
from ivr.lang.formatters import FORMATTERS, Formatting
from ivr.lang.templates import Scope, Template

TODAY = date(2026, 11, 20)
GBP = Formatting("GBP", TODAY)

DATA: dict[str, Any] = {
    "Amount": "42.50",
    "Name": "Ada Lovelace",
    "Account": {"id": "ACC-1", "status": "open", "owner": {"phone": "+447700900123"}},
    "Bills": [
        {"ref": "A1", "amount": "42.50", "lines": [{"name": "Broadband"}]},
        {"ref": "B2", "amount": 100},
    ],
    "Count": 5,
    "Price": Decimal("1.50"),
    "Flag": True,
    "Nothing": None,
    "Empty": "",
}


def render(
    text: str, data: dict[str, Any] | None = None, fmt: Formatting = GBP, **kwargs: Any
) -> tuple[str, list[str]]:
    scope = Scope(DATA if data is None else data, fmt, **kwargs)
    return Template.parse(text).render(scope), scope.missing


def fmt(name: str, value: Any, formatting: Formatting = GBP) -> str:
    return FORMATTERS[name](value, formatting)


# --- formatters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        ("42.50", "£42.50"),
        ("42.5", "£42.50"),
        (Decimal("42.5"), "£42.50"),
        ("100", "£100"),
        ("100.00", "£100"),
        (100, "£100"),
        ("0.05", "£0.05"),
    ],
)
def test_currency(value, spoken):
    assert fmt("currency", value) == spoken


def test_currency_follows_the_plan_currency():
    assert fmt("currency", "42.5", Formatting("USD", TODAY)) == "$42.50"
    assert fmt("currency", "100", Formatting("EUR", TODAY)) == "€100"


def test_currency_rounded_to_a_whole_amount_has_no_pence():
    assert fmt("currency", "99.999") == "£100"


def test_currency_of_nothing_is_empty():
    assert fmt("currency", None) == ""
    assert fmt("currency", "") == ""


@pytest.mark.parametrize(
    ("value", "today", "spoken"),
    [
        ("2024-11-15", date(2024, 1, 1), "Friday 15 November"),  # the spec's example
        ("2026-11-27", TODAY, "Friday 27 November"),
        ("2026-11-27T09:30:00+00:00", TODAY, "Friday 27 November"),
        (date(2026, 11, 27), TODAY, "Friday 27 November"),
        ("2032-01-05", date(2031, 12, 1), "Monday 5 January 2032"),
        # The spec's "Monday 5 January 2027": 5 January 2027 is a Tuesday.
        ("2027-01-05", TODAY, "Tuesday 5 January 2027"),
        ("2025-03-01", TODAY, "Saturday 1 March 2025"),  # other years too
    ],
)
def test_date(value, today, spoken):
    assert fmt("date", value, Formatting("GBP", today)) == spoken


@pytest.mark.parametrize(
    ("value", "spoken"), [("1234", "1 2 3 4"), (1234, "1 2 3 4"), ("12 34", "1 2 3 4"), ("", "")]
)
def test_digits(value, spoken):
    assert fmt("digits", value) == spoken


@pytest.mark.parametrize(("value", "n"), [([1, 2, 3], "3"), ([], "0"), (None, "0"), ("", "0")])
def test_count(value, n):
    assert fmt("count", value) == n


def test_urlencode():
    assert fmt("urlencode", "a b&c/d?e=f") == "a%20b%26c%2Fd%3Fe%3Df"
    assert fmt("urlencode", "+447700900123") == "%2B447700900123"
    assert fmt("urlencode", "£5") == "%C2%A35"


def test_json_is_a_string_literal():
    text = 'He said "hi"\n'
    assert fmt("json", text) == '"He said \\"hi\\"\\n"'
    assert json.loads(fmt("json", text)) == text
    assert fmt("json", None) == '""'
    assert fmt("json", 42) == '"42"'


def test_lower_upper():
    assert fmt("lower", "Ada LOVELACE") == "ada lovelace"
    assert fmt("upper", "Ada Lovelace") == "ADA LOVELACE"


def test_last4():
    assert fmt("last4", "4111111111111111") == "1111"
    assert fmt("last4", 4242424242) == "4242"
    assert fmt("last4", "12") == "12"
    assert fmt("last4", None) == ""


@pytest.mark.parametrize(
    ("value", "minor"),
    [("42.50", "4250"), ("42.5", "4250"), ("100", "10000"), ("0.05", "5"), (Decimal("1.5"), "150")],
)
def test_minor_units(value, minor):
    assert fmt("minor_units", value) == minor


def test_remove_leading_plus():
    assert fmt("remove_leading_plus", "+442071230001") == "442071230001"
    assert fmt("remove_leading_plus", "442071230001") == "442071230001"
    assert fmt("remove_leading_plus", "") == ""


def test_every_formatter_in_the_spec_exists():
    spec = {
        "currency",
        "digits",
        "date",
        "count",
        "urlencode",
        "json",
        "lower",
        "upper",
        "last4",
        "minor_units",
        "remove_leading_plus",
    }
    assert spec <= set(FORMATTERS)


# --- placeholders ----------------------------------------------------------------------


def test_plain_text_and_values():
    assert render("Hello $(Name).")[0] == "Hello Ada Lovelace."
    assert render("$(Count) $(Price) $(Flag) [$(Nothing)] [$(Empty)]")[0] == "5 1.50 true [] []"


def test_formatter_in_a_placeholder():
    assert render("You owe $(Amount:currency).")[0] == "You owe £42.50."
    assert render("$(Bills:count) bills")[0] == "2 bills"
    assert render("$(Account.owner.phone:remove_leading_plus)")[0] == "447700900123"


def test_double_dollar_is_a_literal_dollar():
    assert render("Costs $$5")[0] == "Costs $5"
    assert render("$$(Name) is $(Name)")[0] == "$(Name) is Ada Lovelace"
    assert render("$$$(Count)")[0] == "$5"


def test_dollar_and_hash_without_a_bracket_are_text():
    assert render("Press # then $ 5")[0] == "Press # then $ 5"


def test_paths_into_objects_and_lists():
    assert render("$(Account.status)")[0] == "open"
    assert render("$(Account.owner.phone)")[0] == "+447700900123"
    assert render("$(Bills[0].ref)")[0] == "A1"
    assert render("$(Bills[1].amount:currency)")[0] == "£100"
    assert render("$(Bills[0].lines[0].name)")[0] == "Broadband"


def test_list_and_object_values_render_as_json():
    assert json.loads(render("$(Account.owner)")[0]) == {"phone": "+447700900123"}


@pytest.mark.parametrize(
    ("text", "noted"),
    [
        ("$(Missing)", "Missing"),
        ("$(Missing.field)", "Missing.field"),
        ("$(Missing[0].field)", "Missing[0].field"),
        ("$(Account.nope)", "Account.nope"),
        ("$(Account.status.deeper)", "Account.status.deeper"),
        ("$(Bills[9].amount)", "Bills[9].amount"),
        ("$(Bills.amount)", "Bills.amount"),
        ("$(Bills[0].nope)", "Bills[0].nope"),
        ("$(Name[0])", "Name[0]"),
        ("$(Missing:currency)", "Missing"),
    ],
)
def test_paths_into_missing_things_render_empty_and_are_noted(text, noted):
    out, missing = render(f"[{text}]")
    assert out == "[]"
    assert len(missing) == 1
    assert missing[0].startswith(noted.split(".")[0].split("[")[0])


def test_a_missing_name_is_noted():
    out, missing = render("Ref [$(Reference)]")
    assert out == "Ref []"
    assert missing == ["Reference"]


def test_missing_list_counts_zero():
    assert render("$(Missing:count)")[0] == "0"


def test_unknown_formatter_is_a_template_error_naming_it():
    with pytest.raises(TemplateError) as err:
        Template.parse("You owe $(Amount:curency).")
    message = str(err.value)
    assert "curency" in message
    assert "currency" in message  # did you mean


def test_unclosed_placeholder_is_a_template_error():
    with pytest.raises(TemplateError) as err:
        Template.parse("Hello $(Name")
    message = str(err.value)
    assert "unclosed" in message and "$(Name" in message
    assert ")" in message and "$$" in message  # says how to fix it


@pytest.mark.parametrize("text", ["$(1abc)", "$()", "$(Name.)", "$(Bills[x])"])
def test_malformed_placeholder_is_a_template_error(text):
    with pytest.raises(TemplateError):
        Template.parse(text)


def test_secret_renders_from_the_secrets_lookup():
    out, _ = render("Bearer #(TOKEN)", secrets={"TOKEN": "s3cret"}.get)
    assert out == "Bearer s3cret"
    with pytest.raises(MissingSecret):
        render("Bearer #(OTHER)", secrets={"TOKEN": "s3cret"}.get)


def test_template_is_parsed_once_and_reports_refs():
    t = Template.parse("$(A) and $(B.c:upper) and #(S)")
    assert [r.name for r in t.refs] == ["A", "B"]
    assert t.refs[1].path == ("c",) and t.refs[1].formatter == "upper"
    assert t.secrets == ("S",)
    assert not t.is_constant
    assert Template.parse("plain $$").is_constant
