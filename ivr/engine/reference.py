"""The call plan reference (docs/callplan-reference.md), generated from the applet classes,
their config dataclasses and the formatter table, so the documentation cannot drift."""

from __future__ import annotations

import dataclasses
from typing import Any

from ivr.engine.registry import REGISTRY
from ivr.lang.fields import (
    FieldKind,
    ListOf,
    MapOf,
    Struct,
    is_required,
    struct_fields,
    yaml_name,
)
from ivr.lang.formatters import FORMATTER_DOCS, FORMATTERS
from ivr.lang.model import BUILTIN_SOURCES, Defaults, PlanHeader


def _default(f: dataclasses.Field) -> str:
    if is_required(f):
        return "required"
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value: Any = f.default_factory()  # type: ignore[misc]
    else:
        value = f.default
    if value is None or value == () or value == {}:
        return ""
    if dataclasses.is_dataclass(value):
        return ""
    return f"`{getattr(value, 'kind', value)}`"


_LABELS = {
    "plan": "a plan id ([a-z][a-z0-9_]*)",
    "defaults": "a map (see below)",
    "applets": "a map of applet id → applet (see Applets)",
}


def _nested(kind: FieldKind) -> tuple[str, type] | None:
    """The structure inside a field, and how its fields are named under it: `.x` in a map,
    `[].x` in a list's items, `.NAME.x` in a map of structures."""
    if isinstance(kind, Struct):
        return ".", kind.cls
    if isinstance(kind, ListOf):
        inner = _nested(kind.item)
        return None if inner is None else ("[]" + inner[0], inner[1])
    if isinstance(kind, MapOf):
        inner = _nested(kind.value)
        return None if inner is None else (".NAME" + inner[0], inner[1])
    struct = getattr(kind, "struct", None)  # a field with a short and a long form
    return (".", struct) if struct is not None else None


def _rows(cls: type, prefix: str = "") -> list[str]:
    rows = []
    for f in struct_fields(cls):
        kind = f.metadata["kind"]
        name = prefix + yaml_name(f)
        label = _LABELS.get(name, kind.label) if cls is PlanHeader else kind.label
        inherit = " (plan `defaults` apply)" if f.metadata.get("inherit") else ""
        doc = f.metadata["doc"].replace("|", "\\|")
        rows.append(f"| `{name}` | {label} | {_default(f)} | {doc}{inherit} |")
        inner = _nested(kind)
        if inner is not None:
            rows.extend(_rows(inner[1], name + inner[0]))
    return rows


TABLE_HEAD = ["| field | value | default | meaning |", "|---|---|---|---|"]


def reference() -> str:
    out = [
        "# Call plan reference",
        "",
        "Generated from the code by `ivr reference` (a test checks this file is up to date).",
        "It lists every applet, field, outcome, operator, type and formatter the engine",
        "implements; [tutorial.md](tutorial.md) builds a first plan step by step.",
        "",
        "## Plan file",
        "",
        *TABLE_HEAD,
        *_rows(PlanHeader),
        "",
        "### `defaults`",
        "",
        *TABLE_HEAD,
        *_rows(Defaults),
        "",
        "### Built-in data sources",
        "",
        ", ".join(f"`{n}`" for n in BUILTIN_SOURCES) + ". `Today` is the date in the plan "
        "time zone (`YYYY-MM-DD`).",
        "",
        "## Applets",
        "",
        "Every applet also takes `type` and `description`. Outcomes are routed with `next:`"
        " (the outcome `next`) and `on: {OUTCOME: applet}`; an outcome that happens with no "
        "route goes to the plan's `fallback`.",
        "",
    ]
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        outcomes = cls.documented_outcomes()
        routing = []
        if cls.accepts_next:
            routing.append("`next`")
        if cls.accepts_on:
            routing.append("`on`")
        out += [
            f"### {name}",
            "",
            cls.doc,
            "",
            "Outcomes: "
            + (
                ", ".join(o if " " in o else f"`{o}`" for o in outcomes)
                if outcomes
                else "none (terminal)"
            )
            + ".",
            "Routing keys: "
            + (", ".join(routing) if routing else ("see the fields below" if outcomes else "none"))
            + ".",
            "",
            *TABLE_HEAD,
            *_rows(cls.Config),
            "",
            *cls.reference_notes(),
        ]
    out += ["## Formatters", "", "`$(Name:formatter)`:", "", "| formatter | result |", "|---|---|"]
    out += [f"| `{name}` | {FORMATTER_DOCS[name]} |" for name in FORMATTERS]
    return "\n".join(out) + "\n"
