"""The JSON Schema of the call plan language, generated from the same field definitions the
loader checks with (usable by editors via yaml-language-server's `$schema` comment)."""

from __future__ import annotations

from dataclasses import fields as dc_fields
from typing import Any

from ivr.engine.registry import REGISTRY
from ivr.lang.fields import ID_RE, Struct, struct_schema, yaml_name
from ivr.lang.model import Defaults, PlanHeader

SCHEMA_ID = "https://github.com/ivr-payments/ivr/callplan.schema.json"


def _routing(cls: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "type": {"const": cls.type_name, "description": cls.doc},
        "description": {"type": "string", "description": "what this applet is for"},
    }
    if cls.accepts_next:
        props["next"] = {
            "type": "string",
            "pattern": f"^{ID_RE.pattern}$",
            "description": "applet for the outcome 'next'",
        }
    if cls.accepts_on:
        names = cls.on_names_schema()
        props["on"] = {
            "type": "object",
            "propertyNames": names,
            "additionalProperties": {"type": "string"},
            "description": "outcome → applet id",
        }
    return props


def applet_schema(cls: Any) -> dict[str, Any]:
    return struct_schema(cls.Config, extra=_routing(cls), required_extra=("type",))


def plan_schema() -> dict[str, Any]:
    """The whole schema (draft 2020-12)."""
    types = sorted(REGISTRY)
    branches = [
        {
            "if": {"properties": {"type": {"const": t}}, "required": ["type"]},
            "then": {"$ref": f"#/$defs/{t}"},
        }
        for t in types
    ]
    applet = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": types}},
        "allOf": branches,
    }
    props: dict[str, Any] = {}
    for f in dc_fields(PlanHeader):
        name = yaml_name(f)
        props[name] = dict(f.metadata["kind"].schema(), description=f.metadata["doc"])
    props["plan"]["pattern"] = f"^{ID_RE.pattern}$"
    props["defaults"] = dict(
        Struct(Defaults).schema(), description="values inherited by every applet that has the field"
    )
    props["applets"] = {
        "type": "object",
        "description": "applet id → applet",
        "propertyNames": {"pattern": f"^{ID_RE.pattern}$"},
        "additionalProperties": {"$ref": "#/$defs/applet"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "IVR call plan",
        "type": "object",
        "required": ["plan", "start", "applets"],
        "properties": props,
        "additionalProperties": False,
        "$defs": {"applet": applet, **{t: applet_schema(REGISTRY[t]) for t in types}},
    }
