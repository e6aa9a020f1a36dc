"""Generated documents in docs/ match the code (so they cannot drift)."""

from __future__ import annotations

import json
from pathlib import Path

from ivr.engine.reference import reference
from ivr.engine.registry import REGISTRY
from ivr.engine.schema import plan_schema
from ivr.lang.formatters import FORMATTERS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_reference_is_up_to_date() -> None:
    assert (DOCS / "callplan-reference.md").read_text(encoding="utf-8") == reference(), (
        "docs/callplan-reference.md is stale: run `ivr reference > docs/callplan-reference.md`"
    )


def test_reference_names_every_applet_field_outcome_and_formatter() -> None:
    text = reference()
    for name, cls in REGISTRY.items():
        assert f"### {name}" in text
        for outcome in cls.outcomes:
            assert f"`{outcome}`" in text
    for formatter in FORMATTERS:
        assert f"| `{formatter}` |" in text


def test_schema_file_is_up_to_date() -> None:
    assert json.loads((DOCS / "callplan.schema.json").read_text()) == plan_schema()


def test_reference_has_every_operator_and_type_and_its_examples_are_valid_rules() -> None:
    from applets.data_connector import VALUE_TYPES
    from applets.data_router import OPERATOR_DOCS, OPERATORS, TYPES
    from ivr.engine.loader import load_text

    text = reference()
    for op in OPERATORS:
        assert f"| `{op}` |" in text
    for kind in TYPES:
        assert f"| `{kind}` | " in text
    for kind in VALUE_TYPES:
        assert f"| `{kind}` | " in text
    rules = "\n".join(
        f"      - {example.strip('`')[:-1]}, goto: done}}" for _, example in OPERATOR_DOCS.values()
    )
    plan = (
        "plan: examples\nstart: route\ndata: {Status: a, Choice: '1', Plan: p, Ref: r,"
        " Balance: '1', Age: '1', Due: '2026-01-01'}\napplets:\n  route:\n    type: data_router\n"
        f"    rules:\n{rules}\n    default: done\n  done:\n    type: hangup\n"
    )
    _, report = load_text(plan)  # raises PlanError with the example at fault
    assert report.warnings == []


def test_the_scenario_file_reference_names_every_key_a_file_may_have() -> None:
    from ivr.adapters.canned import SERVICE_ANSWER
    from ivr.app.scenarios import DIAL_ANSWERS, QUEUE_RESULTS, SCENARIO_FILE

    text = (DOCS / "scenario-files.md").read_text(encoding="utf-8")
    scenario = SCENARIO_FILE["properties"]["scenarios"]["items"]
    keys = (
        set(SCENARIO_FILE["properties"])
        | set(scenario["properties"])
        | set(scenario["properties"]["expect"]["properties"])
        | set(SERVICE_ANSWER["properties"])
    )
    for key in sorted(keys):
        assert f"`{key}`" in text, key
    for word in (*DIAL_ANSWERS, *QUEUE_RESULTS):
        assert f"`{word}`" in text, word


def test_the_demo_billing_api_document_names_every_route() -> None:
    from flask import Flask

    from demo.billing.app import PREFIX, register

    app = Flask("doc")
    register(app, token="t")
    text = (DOCS / "demo-billing-api.md").read_text(encoding="utf-8")
    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX)]
    assert len(routes) >= 9
    for rule in routes:
        path = rule.rule.removeprefix(PREFIX)
        path = path.replace("<int:position>", "N").replace("<number>", "NUMBER")
        path = path.replace("<code>", "CODE")
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        assert any(f"`{m} {path}" in text for m in methods), f"{methods} {path}"
