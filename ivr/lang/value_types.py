"""The types a plan can give a value, in one vocabulary: a data_router rule compares in one of
COMPARE_TYPES, and the words a data_connector field is declared with map onto them."""

from __future__ import annotations

COMPARE_TYPES = ("string", "number", "date", "boolean")
SYNONYMS = {"text": "string", "amount": "number"}  # the data_connector's words


def compares_as(name: str) -> str:
    """The comparison type of a type name (`amount` → `number`)."""
    return SYNONYMS.get(name, name)
