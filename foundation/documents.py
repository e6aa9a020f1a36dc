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
from jsonschema.exceptions import ValidationError, best_match, by_relevance

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
    error = best_match(schema.iter_errors(document), key=_relevance)
    if error is not None:
        raise DocumentError(describe(error, where, noun, document))


# Between errors at the same depth, an unknown key is said first: a typo ("uri" for "url")
# explains the missing key that follows from it.
_relevance = by_relevance(strong=frozenset({"additionalProperties"}))


def path_text(path: Sequence[Any], document: Any = None) -> str:
    """`scenarios[0].expect` for ("scenarios", 0, "expect"): a position in a list in
    brackets, a key of a map (even a number: a YAML phone number key) after a dot."""
    out = ""
    node = document
    for part in path:
        in_list = isinstance(node, list) if document is not None else isinstance(part, int)
        out += f"[{part}]" if in_list else ("." if out else "") + str(part)
        if isinstance(node, (list, dict)):
            try:
                node = node[part]
            except (IndexError, KeyError, TypeError):
                node = None
    return out


def shown(value: Any) -> str:
    """A found value as an admin wrote it: nothing, true/false, text in quotes."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def describe(error: ValidationError, where: str, noun: str = "key", document: Any = None) -> str:
    """The message for `error` in `document` (given, list positions and map keys that are
    numbers are told apart)."""
    path, message, _ = explain(error, noun)
    return _joined(where, path_text(path, document), message)


def explain(error: ValidationError, noun: str = "key") -> tuple[list[Any], str, list[Any]]:
    """(path, message, point) for `error`: the path the message is said under, and the path of
    the key or value it is about (where a reader's eye should go)."""
    path = list(error.absolute_path)
    key = path[-1] if path and isinstance(path[-1], str) else None
    parent = path[:-1] if key is not None else path
    value = error.instance
    messages = error.schema.get("x-messages", {}) if isinstance(error.schema, dict) else {}
    custom = messages.get(error.validator)
    if custom:
        return path, custom.format(key=key, value=value), path
    if error.validator == "additionalProperties" and isinstance(value, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted((k for k in value if k not in known), key=str)[0]
        text = f"unknown {noun if not path else 'key'} '{extra}'{did_you_mean(extra, known)}"
        return path, text, [*path, extra]
    if error.validator == "type":
        kinds = error.validator_value
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        # null is allowed where a key may be left empty; the message names what to give
        wanted = " or ".join(_KINDS.get(k, k) for k in kinds if k != "null" or len(kinds) == 1)
        if key is None:
            return path, f"should be {wanted}, found {shown(value)}", path
        return parent, f"{key} should be {wanted}, found {shown(value)}", path
    if error.validator == "enum":
        options = [str(c) for c in error.validator_value if c is not None]
        choices = " or ".join(options) if len(options) <= 3 else "one of " + ", ".join(options)
        return parent, f"{key or 'the value'} must be {choices}, found {shown(value)}", path
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in (value or {})]
        return path, f"give {missing[0]}:", path
    limits = {
        "minimum": "at least",
        "exclusiveMinimum": "more than",
        "maximum": "at most",
        "exclusiveMaximum": "less than",
    }
    if error.validator in limits:
        text = f"{key or 'the value'} should be {limits[error.validator]} "
        text += f"{error.validator_value}, found {shown(value)}"
        return (parent if key else path), text, path
    return path, error.message, path


def _joined(where: str, path: str, message: str) -> str:
    return f"{where}: {path}: {message}" if path else f"{where}: {message}"
