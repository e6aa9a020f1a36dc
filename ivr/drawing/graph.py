"""A plan as a graph: applets are nodes, routed outcomes are labelled edges (Mermaid or DOT)."""

from __future__ import annotations

import json

from ivr.engine.registry import REGISTRY
from ivr.lang.model import Plan


def edges_of(plan: Plan) -> list[tuple[str, str, str]]:
    out = []
    for spec in plan.applets.values():
        cls = REGISTRY[spec.type]
        for outcome, target in spec.routes.items():
            out.append((spec.id, target, cls.edge_label(spec.config, outcome)))
        ref = REGISTRY[spec.type].plan_reference(spec.config)
        if ref is not None:
            out.append((spec.id, f"plan:{ref[0]}", spec.type))
    return out


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label (entity codes for quotes and angle brackets)."""
    return (
        text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#60;").replace(">", "#62;")
    )


def mermaid(plan: Plan) -> str:
    lines = ["flowchart TD"]
    external = set()
    for spec in plan.applets.values():
        label = f"{spec.id}<br/><i>{spec.type}</i>"
        shape = ("([", "])") if REGISTRY[spec.type].is_terminal() else ("[", "]")
        lines.append(f'    {spec.id}{shape[0]}"{label}"{shape[1]}')
    for source, target, outcome in edges_of(plan):
        if target.startswith("plan:"):
            node = "plan_" + target[5:]
            if node not in external:
                external.add(node)
                lines.append(f'    {node}[["plan {target[5:]}"]]')
            target = node
        lines.append(f'    {source} -->|"{_mermaid_text(outcome)}"| {target}')
    lines.append(f"    classDef start stroke-width:3px;\n    class {plan.start} start;")
    if plan.fallback:
        lines.append(
            f"    classDef fallback stroke-dasharray:4;\n    class {plan.fallback} fallback;"
        )
    return "\n".join(lines) + "\n"


def dot(plan: Plan) -> str:
    """The plan in Graphviz DOT; applets with a `layout:` position carry it as a pinned `pos`
    (drawn where the plan's editor put them by `neato -n`, ignored by `dot`)."""

    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # DOT reads UTF-8

    lines = [f"digraph {q(plan.id)} {{", "    rankdir=TB;", "    node [shape=box];"]
    for spec in plan.applets.values():
        attrs = [f"label={q(spec.id + chr(10) + spec.type)}"]
        if spec.id == plan.start:
            attrs.append("penwidth=3")
        if spec.id == plan.fallback:
            attrs.append("style=dashed")
        if REGISTRY[spec.type].is_terminal():
            attrs.append("shape=oval")
        position = plan.layout.get(spec.id)
        if position is not None:  # the plan's layout: (canvas pixels, y down) → points, y up
            attrs.append(f'pos="{position.x / 2:g},{-position.y / 2:g}!"')
        lines.append(f"    {q(spec.id)} [{', '.join(attrs)}];")
    for source, target, outcome in edges_of(plan):
        if target.startswith("plan:"):
            lines.append(f"    {q(target)} [shape=folder];")
        lines.append(f"    {q(source)} -> {q(target)} [label={q(outcome)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
