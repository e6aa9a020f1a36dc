"""The JSON Schema for editors: valid draft 2020-12, checked in unchanged, and in step with the
loader (plans the loader accepts pass it; type errors the loader refuses fail it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator, ValidationError

from ivr.engine.loader import load_file
from ivr.engine.schema import plan_schema
from ivr.lang.diagnostics import Report
from ivr.lang.yaml_source import read_yaml
from ivr.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
CALLPLANS = ROOT / "tests" / "callplans"
# Plan files only: callplans/tests/ holds scenario files for `ivr test`, not plans.
EXAMPLES = sorted(
    p
    for p in (ROOT / "callplans").rglob("*.yaml")
    if "tests" not in p.relative_to(ROOT / "callplans").parts
)
WARN = sorted((CALLPLANS / "warn").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(plan_schema())


def read(path: Path) -> Any:
    """The plan as an editor's YAML 1.2 reader sees it (no yes/no booleans, dates as text)."""
    report = Report(str(path))
    data = read_yaml(path.read_text(encoding="utf-8"), report)
    assert report.errors == []  # warnings (a `#:` comment line) leave the YAML readable
    return data


def all_errors(errors: Any) -> Iterator[ValidationError]:
    for error in errors:
        yield error
        yield from all_errors(error.context)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = plan_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(schema)) == schema  # plain JSON: no Decimal, tuples, sets


def test_checked_in_schema_matches_the_generated_one() -> None:
    checked_in = json.loads((ROOT / "docs" / "callplan.schema.json").read_text(encoding="utf-8"))
    assert checked_in == plan_schema(), (
        "docs/callplan.schema.json is stale: regenerate it with "
        "`ivr schema > docs/callplan.schema.json`"
    )


def test_cli_schema_prints_the_generated_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == plan_schema()


def test_schema_lists_every_applet_type() -> None:
    from ivr.engine.registry import REGISTRY

    schema = plan_schema()
    assert schema["$defs"]["applet"]["properties"]["type"]["enum"] == sorted(REGISTRY)
    for name in REGISTRY:
        assert schema["$defs"][name]["properties"]["type"] == {
            "const": name,
            "description": REGISTRY[name].doc,
        }


@pytest.mark.parametrize("plan", EXAMPLES + WARN, ids=lambda p: p.stem)
def test_plans_the_loader_accepts_pass_the_schema(
    plan: Path, validator: Draft202012Validator
) -> None:
    load_file(plan)  # the loader accepts it (raises PlanError otherwise)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(read(plan))]
    assert errors == []


def test_there_are_example_plans() -> None:
    assert len(EXAMPLES) >= 3


# Bad plans that are type errors: (where the schema must complain, what it must mention).
TYPE_ERRORS = {
    "unknown_top_level_key": ((), "'fallbak' was unexpected"),
    "unknown_applet_field": (("applets", "welcome"), "'voise' was unexpected"),
    "unknown_applet_type": (("applets", "ask", "type"), "'colect_digits' is not one of"),
    "wrong_type_text_list": (("applets", "bye", "say"), "is not of type"),
    "wrong_type_integer_out_of_range": (("applets", "ask", "timeout"), "maximum of 60"),
    "wrong_type_boolean_text": (("applets", "ask", "confirm"), "'yes' is not of type 'boolean'"),
    "wrong_type_phone_unquoted": (("applets", "agent", "number"), "is not of type 'string'"),
    "wrong_type_top_level_numbers": (("numbers",), "is not of type 'array'"),
    "bad_plan_id": (("plan",), "does not match"),
    "bad_applet_id": (("applets",), "'Say-Goodbye' does not match"),
    "bad_currency": (("defaults", "currency"), "'pounds' does not match"),
    "missing_start": ((), "'start' is a required property"),
    "missing_applets": ((), "'applets' is a required property"),
    "missing_applet_type": (("applets", "welcome"), "'type' is a required property"),
    "missing_store": (("applets", "ask"), "'store' is a required property"),
    "unknown_outcome": (("applets", "get_result", "on"), "'sucess'"),
    "terminal_with_next": (("applets", "bye"), "'next' was unexpected"),
    "menu_with_next": (("applets", "main"), "'next' was unexpected"),
    "router_with_on": (("applets", "route"), "'on' was unexpected"),
    "time_router_unknown_day": (("applets", "hours", "hours"), "'satday' does not match"),
    "closed_date_not_iso": (("applets", "hours", "closed_dates", 0), "is not of type 'string'"),
    "prompt_pause_too_long": (("applets", "hold", "prompts", 1, "pause"), "maximum of 60"),
}


@pytest.mark.parametrize("name", sorted(TYPE_ERRORS))
def test_type_errors_fail_the_schema_too(name: str, validator: Draft202012Validator) -> None:
    where, words = TYPE_ERRORS[name]
    plan = CALLPLANS / "bad" / f"{name}.yaml"
    errors = [
        (tuple(e.absolute_path), e.message) for e in all_errors(validator.iter_errors(read(plan)))
    ]
    assert errors, f"the schema accepts {plan.name}, which the loader refuses"
    assert any(path == where and words in message for path, message in errors), errors
