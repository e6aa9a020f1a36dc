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
