"""Reading a YAML document that is not a plan (a scenario file, config.yaml) by the plan's rules:
strict YAML (duplicate keys refused, no yes/no booleans, tabs and stray colons said in our
words), then its JSON Schema, with every problem at once at its line and column."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from foundation.documents import explain
from ivr.lang.diagnostics import Report
from ivr.lang.yaml_source import read_yaml


def read_document(
    text: str, file: str, schema: Draft202012Validator, *, noun: str = "key"
) -> tuple[Any, Report]:
    """The document in `text` (numbers as int or float, as JSON has them) and a report of its
    problems, each at `FILE:LINE:COL` with the path and a hint. A document with errors in its
    report must not be used."""
    report = Report(file)
    value = read_yaml(text, report)
    if value is None and report.errors:
        return None, report
    value = plain(value)
    seen: set[tuple[str, str]] = set()
    for error in schema.iter_errors(value):
        chosen = _deepest(error)
        path, message, point = explain(chosen, noun)
        said = (repr(path), message)
        if said in seen:
            continue
        seen.add(said)
        where = report.where(tuple(point), key=chosen.validator == "additionalProperties")
        report.error_at(where, tuple(path), message)
    return value, report


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the most relevant alternative's error (what the writer meant)."""
    if error.context:
        return best_match(error.context) or error
    return error


def plain(value: Any) -> Any:
    """Decimals from the strict reader as JSON numbers (floats, as `yaml.safe_load` gives)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
