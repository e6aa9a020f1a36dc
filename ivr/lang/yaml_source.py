"""Strict YAML reading for call plans: positions kept, duplicate keys rejected, no yes/no booleans.

PyYAML's SafeLoader follows YAML 1.1: `yes`, `no`, `on` and `off` become booleans, `1:30` becomes
90 and `2026-12-25` becomes a date, and a duplicate key silently keeps the last value. A call
plan wants none of that, so this loader resolves scalars the YAML 1.2 core way (`true`/`false`,
decimal integers, decimals as `Decimal`, `null`), keeps every other scalar as text, turns every
mapping key into a string (menu keys `1:` and `"1":` are the same key), and reports duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml

from ivr.lang.diagnostics import Path, Report

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_DECIMAL = re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")

_STR = "tag:yaml.org,2002:str"

# Limits that keep a hostile or broken file from taking the loader down (each is an error at
# the node's line and column, and the file is refused in milliseconds):
MAX_DEPTH = 64  # maps and lists inside each other; real plans use under ten
ALIAS_BUDGET = 10_000  # nodes that aliases (*name) may expand to, all aliases together
ALIAS_TEXT_BUDGET = 1_000_000  # characters of text they may repeat, all together


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when available


_TAGS = {
    yaml.ScalarNode: _STR,
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


class _PlanLoader(_Base):  # type: ignore[valid-type, misc]
    """SafeLoader that resolves no tag: every plain scalar arrives as a string (`_scalar` reads
    it the YAML 1.2 core way), and no time goes to PyYAML's resolver for each node."""

    yaml_implicit_resolvers: dict = {}

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        return _TAGS[kind]

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None  # no path resolvers: nothing to track while composing

    def ascend_resolver(self) -> None:
        return None


# The first characters a plain scalar that is not text can start with (null, a boolean, a
# number); any other plain scalar is text without trying the patterns.
_NOT_TEXT_START = frozenset("~nNtTfF+-.0123456789")


def _scalar(node: yaml.ScalarNode) -> Any:
    text = node.value
    if node.style or (text and text[0] not in _NOT_TEXT_START):
        return text  # quoted or block scalars stay text (plain style is None or "")
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if _INT.match(text):
        return int(text)
    if _DECIMAL.match(text):
        return Decimal(text)
    return text


def read_yaml(text: str, report: Report) -> Any:
    """Parse `text`; fill `report` with positions and any syntax or duplicate-key errors."""
    try:
        root = yaml.compose(text, Loader=_PlanLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        last_line = text.count("\n") + (0 if text.endswith("\n") else 1)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        context = f" {exc.context}" if exc.context else ""
        start = exc.context_mark
        if start is not None and mark is not None and start.line != mark.line:
            context += f" that started on line {start.line + 1}, column {start.column + 1}"
            if line > max(last_line, 1):  # at the end of the file: point where it started
                line, col = start.line + 1, start.column + 1
        report.positions[()] = (line, col)
        ours = _explain(f"{problem} {exc.context or ''}", text, mark)
        report.error((), f"YAML syntax: {ours}" if ours else f"YAML syntax: {problem}{context}")
        return None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises marked errors for syntax
        report.error((), f"YAML: {exc}")
        return None
    _comment_keys(text, report)
    if root is None:
        return None
    report.locate = Locator(root)
    try:
        # An alias is written *name, so a text without '*' has none to expand
        return _Builder(report, aliases="*" in text).build(root, 0, None)
    except _Refused:
        return None


_HASH_KEY = re.compile(r"^(\s*)#\s*:\s*\S")


def _explain(problem: str, text: str, mark: Any) -> str | None:
    """Common YAML mistakes in our words (None: PyYAML's own words will do)."""
    if mark is None:
        return None
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    indent = line[: len(line) - len(line.lstrip())]
    if "\t" in indent or line[mark.column : mark.column + 1] == "\t":
        return (
            "a tab in the indentation: YAML indents with spaces only; replace the tab with spaces"
        )
    if "alias" in problem and "*" in line[: mark.column + 1]:
        return (
            'a bare * starts a YAML alias: quote it where it is a menu key or a value ("*": target)'
        )
    if "while scanning a quoted scalar" in problem:
        return "the quoted text that starts here is never closed: add its closing quote"
    if "mapping values are not allowed" in problem:
        return (
            "a ':' where YAML did not expect one: quote a text that contains ': ', or line "
            "this key up with the keys of its map"
        )
    if "did not find expected key" in problem or "expected <block end>" in problem:
        return (
            "this line's indentation does not fit the map it is in: the keys of one map start "
            "at the same column, a nested map is indented further under its key"
        )
    return None


def _comment_keys(text: str, report: Report) -> None:
    """A line `#: target` is a YAML comment: the menu key '#' it looks like is not there."""
    for number, line in enumerate(text.splitlines(), start=1):
        found = _HASH_KEY.match(line)
        if found:
            report.warning_at(
                (number, len(found.group(1)) + 1),
                (),
                "this line is a YAML comment, so '#' is not a key here: write the menu key "
                'in quotes ("#": target)',
            )


class _Refused(Exception):
    """A limit was passed: the error is in the report and the file is not built further."""


class _Builder:
    """Composed YAML nodes → plain values, within the depth and alias limits.

    An alias makes the composer share one node object among several places; a node met a
    second time is an alias expanding, and every node built under it counts against the
    budget (so a file without aliases, however large, never does). No position is stored per
    node: `Locator` finds one in the node tree when a diagnostic needs it."""

    def __init__(self, report: Report, *, aliases: bool = True):
        self.report = report
        self.aliases = aliases  # False: the text has no alias, no node is met twice
        self.seen: set[int] = set()
        self.expanded = 0
        self.expanded_text = 0
        self.path: list[str | int] = []  # where the builder is (for the few errors it reports)

    def build(self, node: yaml.Node, depth: int, alias: Path | None) -> Any:
        """`alias`: the path of the alias this node is expanding under, if any."""
        report = self.report
        if self.aliases:  # a text without '*' has no alias: no node is met twice
            alias = self._count_alias(node, alias)
        if isinstance(node, yaml.ScalarNode):
            if alias is not None:
                self.expanded_text += len(node.value)
                if self.expanded_text > ALIAS_TEXT_BUDGET:
                    report.error(
                        alias,
                        f"aliases (*name) repeat more than "
                        f"{ALIAS_TEXT_BUDGET:,} characters of text; write the "
                        "values out, or use fewer aliases",
                    )
                    raise _Refused
            return _scalar(node)
        if depth >= MAX_DEPTH:
            report.error_at(
                _mark(node),
                tuple(self.path[:4]),
                f"nested more than {MAX_DEPTH} levels deep "
                "(lists and maps inside each other); a call plan needs far fewer",
            )
            raise _Refused
        if isinstance(node, yaml.SequenceNode):
            out = []
            path = self.path
            for i, child in enumerate(node.value):
                path.append(i)
                out.append(self.build(child, depth + 1, alias))
                path.pop()
            return out
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth, alias)
        raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover

    def _count_alias(self, node: yaml.Node, alias: Path | None) -> Path | None:
        """The alias `node` expands under (None: not one), counted against the budget."""
        if alias is None and id(node) not in self.seen:
            self.seen.add(id(node))
            return None
        alias = tuple(self.path) if alias is None else alias
        self.expanded += 1
        if self.expanded > ALIAS_BUDGET:
            self.report.error(
                alias,
                f"aliases (*name) expand to more than {ALIAS_BUDGET:,} "
                "values; write the values out, or use fewer aliases",
            )
            raise _Refused
        return alias

    def _mapping(self, node: yaml.MappingNode, depth: int, alias: Path | None) -> dict[str, Any]:
        report = self.report
        out: dict[str, Any] = {}
        path = self.path
        plain = not self.aliases  # no alias to count: a scalar value is read in place
        for key_node, value_node in node.value:
            if _is_merge(key_node):
                report.error_at(
                    _mark(key_node), tuple(path), "merge keys (<<) are not supported in call plans"
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                report.error_at(
                    _mark(key_node),
                    (*path, "?"),
                    "mapping keys must be plain names, not lists or maps",
                )
                continue
            key = key_node.value
            if key in out:
                first = next(  # the key that was kept (refused merge keys were not)
                    k
                    for k, _ in node.value
                    if isinstance(k, yaml.ScalarNode) and not _is_merge(k) and k.value == key
                )
                report.error_at(
                    _mark(key_node),
                    (*path, key),
                    f"duplicate key '{key}' (first defined on line {_mark(first)[0]}); "
                    "YAML would silently keep only the last one",
                )
                continue
            if plain and type(value_node) is yaml.ScalarNode:
                out[key] = _scalar(value_node)  # what build() does for it, without the call
                continue
            path.append(key)
            out[key] = self.build(value_node, depth + 1, alias)
            path.pop()
        return out


def _is_merge(key_node: yaml.Node) -> bool:
    return key_node.tag == "tag:yaml.org,2002:merge" or (
        key_node.value == "<<" and not getattr(key_node, "style", None)
    )


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def released(text: str) -> Callable[[Path, bool], tuple[int, int] | None]:
    """A locator for `text` that holds no nodes until a position is asked for (then composes
    the text again): what a loaded plan keeps, so its nodes do not stay in memory."""
    found: list[Locator] = []

    def locate(path: Path, key: bool) -> tuple[int, int] | None:
        if not found:
            try:
                root = yaml.compose(text, Loader=_PlanLoader)
            except yaml.YAMLError:
                return None
            if root is None:
                return None
            found.append(Locator(root))
        return found[0](path, key)

    return locate


class Locator:
    """Positions in a composed document, found by path when asked: the value's (or the key's)
    line and column, or those of the deepest part of the path that exists."""

    def __init__(self, root: yaml.Node):
        self.root = root
        self.maps: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}

    def __call__(self, path: Path, key: bool) -> tuple[int, int] | None:
        node = self.root
        found = _mark(node)
        for part in path:
            if isinstance(node, yaml.MappingNode):
                entries = self.maps.get(id(node))
                if entries is None:
                    entries = {}
                    for k, v in node.value:
                        if isinstance(k, yaml.ScalarNode):
                            entries.setdefault(k.value, (k, v))
                    self.maps[id(node)] = entries
                entry = entries.get(str(part))
                if entry is None:
                    return found
                key_node, node = entry
                found = _mark(key_node) if key else _mark(node)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    return found
                node = node.value[part]
                found = _mark(node)
            else:
                return found
        return found
