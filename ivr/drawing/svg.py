"""A plan drawn as SVG (applets as boxes, arrows labelled with outcomes and router conditions),
and as a self-contained HTML page around it: no script, font or style from anywhere else, so
it opens on a machine with no network."""

from __future__ import annotations

from html import escape

from ivr.drawing.graph import edges_of
from ivr.drawing.layout import NODE_HEIGHT, Layout, layout
from ivr.engine.registry import REGISTRY
from ivr.lang.model import Plan

CHAR_WIDTH = 7.4  # an estimate of the width of a character at the font size used
LABEL_CHAR_WIDTH = 6.2
MIN_WIDTH = 90
PADDING = 16

STYLE = """
.node rect { fill: #f5f8ff; stroke: #3a5a99; stroke-width: 1.5; }
.node.terminal rect { fill: #f3f3f3; stroke: #555; }
.node.start rect { stroke-width: 3.5; }
.node.fallback rect { stroke-dasharray: 5 3; }
.node.plan rect { fill: #fff8e6; stroke: #a07a1c; }
.node.goto rect { fill: #fff; stroke: #8a94a0; stroke-dasharray: 3 2; }
.node.goto .id { font: 12px sans-serif; fill: #334; }
.node .id { font: bold 13px sans-serif; fill: #111; }
.node .type { font: italic 11px sans-serif; fill: #555; }
.arrow path { fill: none; stroke: #5f6b7a; stroke-width: 1.3; }
.arrow.back path { stroke: #9aa3ad; stroke-dasharray: 4 3; }
.arrow text { font: 11px sans-serif; fill: #213; }
.arrow rect { fill: #fff; opacity: 0.9; }
"""


def _node_width(spec_id: str, kind: str) -> float:
    return max(MIN_WIDTH, max(len(spec_id), len(kind)) * CHAR_WIDTH + PADDING * 2)


def _nodes(plan: Plan) -> tuple[list[tuple[str, float]], dict[str, tuple[str, str]]]:
    nodes: list[tuple[str, float]] = []
    kinds: dict[str, tuple[str, str]] = {}  # id → (first line, second line)
    for spec in plan.applets.values():
        nodes.append((spec.id, _node_width(spec.id, spec.type)))
        kinds[spec.id] = (spec.id, spec.type)
    for _, target, _ in edges_of(plan):
        if target.startswith("plan:") and target not in kinds:
            name = target.removeprefix("plan:")
            nodes.append((target, _node_width(name, "another plan")))
            kinds[target] = (name, "another plan")
    return nodes, kinds


GOTO_FROM = 4  # arrows into one applet from more places than this point at a "go to" tag


def _with_goto_tags(
    edges: list[tuple[str, str, str]],
    nodes: list[tuple[str, float]],
    kinds: dict[str, tuple[str, str]],
) -> list[tuple[str, str, str]]:
    """An applet many others route to (the fallback, an agent) is drawn once; all but the
    first arrow into it point at a small "go to" tag under their source instead of crossing
    the whole drawing."""
    into: dict[str, int] = {}
    for _, target, _ in edges:
        into[target] = into.get(target, 0) + 1
    drawn_to: dict[str, str] = {}  # target → the one source whose arrows reach the box itself
    tags: dict[tuple[str, str], str] = {}  # (source, target) → its tag: one per pair
    out = []
    for i, (source, target, label) in enumerate(edges):
        owner = drawn_to.setdefault(target, source)
        if into[target] <= GOTO_FROM or owner == source:
            out.append((source, target, label))
            continue
        tag = tags.get((source, target))
        if tag is None:
            tag = tags[(source, target)] = f"goto:{i}:{target}"
            name = kinds[target][0]
            nodes.append((tag, max(60.0, (len(name) + 2) * CHAR_WIDTH + 12)))
            kinds[tag] = (f"→ {name}", "")
        out.append((source, tag, label))
    return out


def svg(plan: Plan) -> str:
    """The plan as an SVG document."""
    nodes, kinds = _nodes(plan)
    edges = _with_goto_tags(edges_of(plan), nodes, kinds)
    roots = [r for r in (plan.start, plan.fallback) if r]
    drawn = layout(nodes, edges, roots)
    return _svg(plan, drawn, kinds)


def _svg(plan: Plan, drawn: Layout, kinds: dict[str, tuple[str, str]]) -> str:
    width, height = round(drawn.width), round(drawn.height)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="call plan {escape(plan.id)}">',
        f"<title>call plan {escape(plan.id)}</title>",
        f"<style>{STYLE}</style>",
        '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#5f6b7a"/></marker></defs>',
    ]
    for arrow in drawn.arrows:  # under the boxes
        arrow_css = "arrow back" if arrow.back else "arrow"
        out.append(
            f'<g class="{arrow_css}" data-from="{escape(arrow.source)}" '
            f'data-to="{escape(arrow.target)}"><path d="{_path(arrow.points, arrow.back)}" '
            'marker-end="url(#head)"/></g>'
        )
    for key, box in drawn.boxes.items():
        first, second = kinds[key]
        css = ["node"]
        if key.startswith("goto:"):
            css.append("goto")
        elif key.startswith("plan:"):
            css.append("plan")
        elif REGISTRY[plan.applets[key].type].is_terminal():
            css.append("terminal")
        if key == plan.start:
            css.append("start")
        if key == plan.fallback:
            css.append("fallback")
        left = box.x - box.width / 2
        radius = 18 if "terminal" in css else 5
        if "goto" in css:  # a small tag: one line, no id attribute (the applet has it)
            out.append(
                f'<g class="node goto" data-to="{escape(key.split(":", 2)[2])}">'
                f'<rect x="{left:.1f}" y="{box.y + 10:.1f}" width="{box.width:.1f}" '
                f'height="{NODE_HEIGHT - 20}" rx="10"/>'
                f'<text class="id" x="{box.x:.1f}" y="{box.y + 26:.1f}" '
                f'text-anchor="middle">{escape(first)}</text></g>'
            )
            continue
        out.append(
            f'<g class="{" ".join(css)}" id="applet-{escape(first)}">'
            f'<rect x="{left:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
            f'height="{NODE_HEIGHT}" rx="{radius}"/>'
            f'<text class="id" x="{box.x:.1f}" y="{box.y + 19:.1f}" '
            f'text-anchor="middle">{escape(first)}</text>'
            f'<text class="type" x="{box.x:.1f}" y="{box.y + 35:.1f}" '
            f'text-anchor="middle">{escape(second)}</text></g>'
        )
    placed: list[tuple[float, float, float, float]] = []
    for arrow in drawn.arrows:  # over the boxes, so a label is never hidden
        w = len(arrow.label) * LABEL_CHAR_WIDTH + 8
        x, y = _label_point(arrow.points, arrow.back, w, placed)
        out.append(
            f'<g class="arrow label"><rect x="{x - w / 2:.1f}" y="{y - 8:.1f}" '
            f'width="{w:.1f}" height="15" rx="3"/>'
            f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle">'
            f"{escape(arrow.label)}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _path(points: list[tuple[float, float]], back: bool) -> str:
    """Straight lines for an arrow back up; a smooth curve through the bend points otherwise."""
    first = points[0]
    d = f"M{first[0]:.1f},{first[1]:.1f}"
    if back or len(points) == 2:
        if not back:  # one row down: a gentle S curve
            (x1, y1), (x2, y2) = points
            middle = (y1 + y2) / 2
            return d + f" C{x1:.1f},{middle:.1f} {x2:.1f},{middle:.1f} {x2:.1f},{y2:.1f}"
        return d + "".join(f" L{x:.1f},{y:.1f}" for x, y in points[1:])
    for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
        middle = (y1 + y2) / 2
        d += f" C{x1:.1f},{middle:.1f} {x2:.1f},{middle:.1f} {x2:.1f},{y2:.1f}"
    return d


LABEL_HEIGHT = 15
_TRIES = (0.3, 0.45, 0.18, 0.6, 0.75, 0.85)


def _label_point(
    points: list[tuple[float, float]],
    back: bool,
    width: float,
    placed: list[tuple[float, float, float, float]],
) -> tuple[float, float]:
    """Where an arrow's label goes: on its first stretch, at the first spot clear of the labels
    already placed (`placed` grows by this one)."""
    (x1, y1), (x2, y2) = (points[1], points[2]) if back else (points[0], points[1])
    spots = []
    for t in _TRIES:
        if back:
            spots.append((x1, y1 + (y2 - y1) * t))
        else:
            spots.append(_on_curve((x1, y1), (x2, y2), t))
    chosen = spots[0]
    for spot in spots:
        box = (spot[0] - width / 2, spot[1] - 8, width, LABEL_HEIGHT)
        if not any(_overlap(box, other) for other in placed):
            chosen = spot
            break
    placed.append((chosen[0] - width / 2, chosen[1] - 8, width, LABEL_HEIGHT))
    return chosen


def _on_curve(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    """The point at `t` of the S curve `_path` draws from a to b."""
    (x1, y1), (x2, y2) = a, b
    middle = (y1 + y2) / 2
    u = 1 - t
    x = u**3 * x1 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x2
    y = u**3 * y1 + 3 * u * u * t * middle + 3 * u * t * t * middle + t**3 * y2
    return x, y


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def html(plan: Plan) -> str:
    """A page to open in a browser: the plan's id, description and drawing."""
    description = f"<p>{escape(plan.description)}</p>" if plan.description else ""
    numbers = ", ".join(plan.numbers)
    answers = f"<p>Answers {escape(numbers)}.</p>" if numbers else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>Call plan {escape(plan.id)}</title>"
        "<style>body{font:14px sans-serif;margin:24px;color:#111}"
        "h1{font-size:20px} .legend span{margin-right:18px}"
        ".drawing{overflow:auto;border:1px solid #ddd;padding:8px}</style></head><body>"
        f"<h1>Call plan <code>{escape(plan.id)}</code></h1>{description}{answers}"
        '<p class="legend"><span>thick border: start</span><span>dashed border: fallback</span>'
        "<span>rounded grey: ends the call</span><span>dashed arrow: goes back</span></p>"
        f'<div class="drawing">{svg(plan)}</div></body></html>\n'
    )
