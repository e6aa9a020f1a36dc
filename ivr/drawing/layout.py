"""A layered drawing of a directed graph (the Sugiyama way, kept small): nodes in rows by their
distance from the start, rows ordered to cross fewer arrows, long arrows bent through the rows
they pass, arrows that go back up drawn beside the rows. Pure Python, deterministic: the same
plan is always drawn the same way."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

ROW_GAP = 70  # vertical space between rows (arrow labels sit in it)
NODE_GAP = 40  # horizontal space between boxes in a row
NODE_HEIGHT = 44
DUMMY_WIDTH = 16  # a bend point of a long arrow takes this much room in its row
MARGIN = 24
LANE_GAP = 14  # between the lanes of arrows that go back up
SWEEPS = 6  # barycenter passes down and up


@dataclass
class Box:
    id: str
    width: float
    row: int = 0
    x: float = 0.0  # centre
    y: float = 0.0  # top
    dummy: bool = False

    @property
    def centre(self) -> tuple[float, float]:
        return self.x, self.y + NODE_HEIGHT / 2


@dataclass
class Arrow:
    source: str
    target: str
    label: str
    points: list[tuple[float, float]] = field(default_factory=list)
    back: bool = False  # goes to the same row or up: drawn beside the rows


@dataclass
class Layout:
    boxes: dict[str, Box]
    arrows: list[Arrow]
    width: float
    height: float


def layout(
    nodes: list[tuple[str, float]], edges: list[tuple[str, str, str]], roots: list[str]
) -> Layout:
    """Place `nodes` ((id, width) in reading order) and route `edges` ((source, target,
    label)), the first of `roots` at the top."""
    order = [n for n, _ in nodes]
    widths = dict(nodes)
    out_edges: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in edges:
        out_edges[source].append(target)
    back = _back_edges(order, out_edges, roots)
    rows = _rows(order, edges, back, roots)
    boxes = {n: Box(n, widths[n], rows[n]) for n in order}
    chains: list[list[str]] = []  # each forward edge as the boxes it passes through
    for i, (source, target, _) in enumerate(edges):
        if (source, target) in back:
            chains.append([source, target])
            continue
        chain = [source]
        for row in range(rows[source] + 1, rows[target]):
            dummy = f"\0{i}:{row}"
            boxes[dummy] = Box(dummy, DUMMY_WIDTH, row, dummy=True)
            chain.append(dummy)
        chain.append(target)
        chains.append(chain)
    layers, up = _order(boxes, chains, back, edges)
    width = _place(boxes, layers, up)
    arrows = []
    lanes = 0
    for (source, target, label), chain in zip(edges, chains, strict=True):
        is_back = (source, target) in back
        arrow = Arrow(source, target, label, back=is_back)
        if is_back:
            lanes += 1
        arrow.points = (
            _beside(boxes[source], boxes[target], width + LANE_GAP * lanes)
            if is_back
            else [_bottom(boxes[chain[0]])]
            + [boxes[c].centre for c in chain[1:-1]]
            + [_top(boxes[chain[-1]])]
        )
        arrows.append(arrow)
    _spread_ports(boxes, arrows)
    real = {k: b for k, b in boxes.items() if not b.dummy}
    rows_count = max((b.row for b in boxes.values()), default=0) + 1
    height = MARGIN * 2 + rows_count * NODE_HEIGHT + (rows_count - 1) * ROW_GAP
    right = max([width] + [x for a in arrows for x, _ in a.points])
    return Layout(real, arrows, right + MARGIN, height)


def _back_edges(
    order: list[str], out_edges: dict[str, list[str]], roots: list[str]
) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first walk from the roots (then from any node not
    reached): drawn going back, so the rest is acyclic."""
    state: dict[str, int] = {}  # 1: on the walk's stack, 2: done
    back: set[tuple[str, str]] = set()
    for root in [*roots, *order]:
        if root in state:
            continue
        stack = [(root, iter(out_edges.get(root, [])))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out_edges.get(child, []))))
    return back


def _rows(
    order: list[str],
    edges: list[tuple[str, str, str]],
    back: set[tuple[str, str]],
    roots: list[str],
) -> dict[str, int]:
    """Longest-path rows over the forward edges: every arrow points down."""
    incoming: dict[str, list[str]] = defaultdict(list)
    outgoing: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in edges:
        if (source, target) not in back and source != target:
            incoming[target].append(source)
            outgoing[source].append(target)
    pending = {n: len(set(incoming[n])) for n in order}
    row = {n: 0 for n in order}
    ready = [n for n in [*roots, *order] if pending.get(n) == 0]
    seen: set[str] = set()
    while ready:
        node = ready.pop(0)
        if node in seen:
            continue
        seen.add(node)
        for child in dict.fromkeys(outgoing[node]):
            row[child] = max(row[child], row[node] + 1)
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    return row


def _order(
    boxes: dict[str, Box],
    chains: list[list[str]],
    back: set[tuple[str, str]],
    edges: list[tuple[str, str, str]],
) -> tuple[list[list[str]], dict[str, list[str]]]:
    """Boxes per row, ordered by the barycenter of their neighbours to cross fewer arrows."""
    up: dict[str, list[str]] = defaultdict(list)
    down: dict[str, list[str]] = defaultdict(list)
    for chain, (source, target, _) in zip(chains, edges, strict=True):
        if (source, target) in back:
            continue
        for a, b in zip(chain, chain[1:], strict=False):
            down[a].append(b)
            up[b].append(a)
    count = max((b.row for b in boxes.values()), default=0) + 1
    layers: list[list[str]] = [[] for _ in range(count)]
    for key, box in boxes.items():  # insertion order: the plan's reading order
        layers[box.row].append(key)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        span = range(1, count) if downward else range(count - 2, -1, -1)
        for r in span:
            near = layers[r - 1] if downward else layers[r + 1]
            position = {k: i for i, k in enumerate(near)}
            neighbours = up if downward else down

            weights = {}
            for i, key in enumerate(layers[r]):
                linked = [position[n] for n in neighbours[key] if n in position]
                weights[key] = sum(linked) / len(linked) if linked else float(i)
            layers[r] = sorted(layers[r], key=weights.__getitem__)
    return layers, up


def _place(boxes: dict[str, Box], layers: list[list[str]], up: dict[str, list[str]]) -> float:
    """x and y for every box: row by row, each box under the middle of the boxes above it
    that lead to it, kept in its row's order and never overlapping; then all moved so the
    leftmost is at the margin."""
    for r, layer in enumerate(layers):
        right = float("-inf")
        for key in layer:
            box = boxes[key]
            above = [boxes[p].x for p in up.get(key, []) if boxes[p].row < r]
            wanted = sum(above) / len(above) if above else right + NODE_GAP + box.width / 2
            if right == float("-inf") and not above:
                wanted = box.width / 2
            box.x = max(wanted, right + NODE_GAP + box.width / 2)
            box.y = MARGIN + r * (NODE_HEIGHT + ROW_GAP)
            right = box.x + box.width / 2
    left = min((b.x - b.width / 2 for b in boxes.values()), default=0.0)
    for box in boxes.values():
        box.x += MARGIN - left
    return max((b.x + b.width / 2 for b in boxes.values()), default=0.0)


def _spread_ports(boxes: dict[str, Box], arrows: list[Arrow]) -> None:
    """Arrows leave a box from points spread along its bottom, and enter along its top, in
    the order of where they go (and come from): fewer crossings, labels apart."""
    leaving: dict[str, list[Arrow]] = defaultdict(list)
    entering: dict[str, list[Arrow]] = defaultdict(list)
    for arrow in arrows:
        if not arrow.back:
            leaving[arrow.source].append(arrow)
            entering[arrow.target].append(arrow)
    for key, group in leaving.items():
        box = boxes[key]
        group.sort(key=lambda a: a.points[1][0])
        for i, arrow in enumerate(group):
            x = box.x - box.width / 2 + box.width * (i + 1) / (len(group) + 1)
            arrow.points[0] = (x, arrow.points[0][1])
    for key, group in entering.items():
        box = boxes[key]
        group.sort(key=lambda a: a.points[-2][0])
        for i, arrow in enumerate(group):
            x = box.x - box.width / 2 + box.width * (i + 1) / (len(group) + 1)
            arrow.points[-1] = (x, arrow.points[-1][1])


def _bottom(box: Box) -> tuple[float, float]:
    return box.x, box.y + NODE_HEIGHT


def _top(box: Box) -> tuple[float, float]:
    return box.x, box.y


def _beside(source: Box, target: Box, lane: float) -> list[tuple[float, float]]:
    """An arrow back up (or to itself): out of the source's right side, along its own lane
    beside the rows, into the target's right side."""
    start = (source.x + source.width / 2, source.y + NODE_HEIGHT / 2)
    end = (target.x + target.width / 2, target.y + NODE_HEIGHT / 2)
    return [start, (lane, start[1]), (lane, end[1]), end]
