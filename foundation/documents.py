"""Checking a configuration document (config.yaml, a scenario file, the bridge's settings)
against a JSON Schema, with one error that names the file, the path and the key in words an
admin reads: `config.yaml: directory.+441: unknown key 'anser' (did you mean 'answer'?)`.

The plan loader keeps its own faster checker (plans are large and loaded often); every other
document is checked here, one way. A subschema may carry `x-messages`, texts by JSON Schema keyword
(`{"required": "a service answer needs url:"}`) with `{key}` and `{value}` placeholders, said
instead of the generic message when that keyword fails there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from foundation.suggest import did_you_mean

_KINDS = {
    "object": "a map",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


class DocumentError(ValueError):
    """The document does not fit its schema; the message says where and why."""


def validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A validator for `schema` (checked once, here)."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check(document: Any, schema: Draft202012Validator, where: str, *, noun: str = "key") -> None:
    """Raise DocumentError (`WHERE: PATH: MESSAGE`) for the most relevant problem, if any.
    `noun` names the document's top-level keys ("unknown setting 'x'")."""
    error = best_match(schema.iter_errors(document))
    if error is not None:
        raise DocumentError(describe(error, where, noun))


def path_text(path: Sequence[Any]) -> str:
    """`scenarios[0].expect` for ("scenarios", 0, "expect")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def describe(error: ValidationError, where: str, noun: str = "key") -> str:
    path = list(error.absolute_path)
    key = path[-1] if path and isinstance(path[-1], str) else None
    parent = path[:-1] if key is not None else path
    value = error.instance
    messages = error.schema.get("x-messages", {}) if isinstance(error.schema, dict) else {}
    custom = messages.get(error.validator)
    if custom:
        text = custom.format(key=key, value=value)
        return _joined(where, path_text(path), text)
    if error.validator == "additionalProperties" and isinstance(value, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in value if k not in known)[0]
        return _joined(
            where,
            path_text(path),
            f"unknown {noun if not path else 'key'} '{extra}'{did_you_mean(extra, known)}",
        )
    if error.validator == "type":
        kinds = error.validator_value
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        # null is allowed where a key may be left empty; the message names what to give
        wanted = " or ".join(_KINDS.get(k, k) for k in kinds if k != "null" or len(kinds) == 1)
        if key is None:
            return _joined(where, path_text(path), f"should be {wanted}, found {value!r}")
        return _joined(where, path_text(parent), f"{key} should be {wanted}, found {value!r}")
    if error.validator == "enum":
        choices = " or ".join(str(c) for c in error.validator_value if c is not None)
        return _joined(
            where, path_text(parent), f"{key or 'the value'} must be {choices}, found {value!r}"
        )
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in (value or {})]
        return _joined(where, path_text(path), f"give {missing[0]}:")
    return _joined(where, path_text(path), error.message)


def _joined(where: str, path: str, message: str) -> str:
    return f"{where}: {path}: {message}" if path else f"{where}: {message}"
