"""The imported plan as YAML: a header saying where it came from and what to look at."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from ivr.studio.build import Finding, Inline
from ivr.studio.flow import Widget


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order built; words are quoted only where the plan loader
    (YAML 1.2 core: true and false are the only booleans) would not read them as text, so
    `on:` stays `on:`."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a prompt said twice is written twice, never as an anchor


_Dumper.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}
_Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _inline(dumper: yaml.SafeDumper, value: Inline) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", dict(value), flow_style=True)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(Inline, _inline)


def plan_yaml(
    plan: dict[str, Any],
    source: str,
    findings: Sequence[Finding],
    left_out: Sequence[Widget],
    notes: Sequence[str] = (),
) -> str:
    lines = [
        f"# Imported from the Twilio Studio flow {source} by `ivr import studio`.",
        "# Applet ids are the widgets' names; a widget's output is a data source named after",
        "# its applet (widgets.main_menu.Digits -> $(main_menu_Digits)).",
    ]

    def section(title: str, items: Sequence[str]) -> None:
        if items:
            lines.extend(["#", f"# {title}:", *(f"#   - {item}" for item in items)])

    def said(finding: Finding) -> str:
        return f"{finding.widget.name} ({finding.widget.type}): {finding.message}"

    section(
        "Not imported (each is a placeholder that routes to the fallback)",
        [said(f) for f in findings if f.placeholder],
    )
    section("Imported with a difference", [said(f) for f in findings if not f.placeholder])
    section("Names", notes)
    if left_out:
        lines.append("#")
        lines.append(
            "# Left out (not on an incoming call's path: other triggers', or after a route"
        )
        lines.append("# not imported):")
        lines.append("#   " + ", ".join(f"{w.name} ({w.type})" for w in left_out))
    body = yaml.dump(
        plan, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096, indent=2
    )
    return "\n".join(lines) + "\n\n" + body
