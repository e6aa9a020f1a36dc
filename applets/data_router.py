"""data_router: route on data source values with a fixed operator vocabulary (VCC Data Router)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ivr.engine.protocol import Applet, Context, Decision, Outcome
from ivr.lang.diagnostics import Path
from ivr.lang.fields import (
    AppletRef,
    Check,
    Choice,
    JsonValue,
    ListOf,
    SourcePath,
    Struct,
    spec,
)
from ivr.lang.formatters import to_date, to_decimal, to_text
from ivr.lang.templates import Ref, Scope, Template
from ivr.lang.value_types import COMPARE_TYPES, SYNONYMS, compares_as

OPERATORS = (
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "matches",
    "in",
    "between",
    "is_null",
    "is_not_null",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
)
OPERATOR_DOCS = {
    "equals": ("the value equals", "`{source: Status, op: equals, value: active}`"),
    "not_equals": ("the value differs", '`{source: Choice, op: not_equals, value: "1"}`'),
    "contains": ("the text contains", "`{source: Plan, op: contains, value: gold}`"),
    "not_contains": ("the text does not contain", "`{source: Plan, op: not_contains, value: x}`"),
    "starts_with": ("the text starts with", '`{source: CLID, op: starts_with, value: "+44"}`'),
    "ends_with": ("the text ends with", '`{source: Ref, op: ends_with, value: "-X"}`'),
    "matches": (
        "the whole text matches a regular expression",
        '`{source: Ref, op: matches, value: "[0-9]{8}"}`',
    ),
    "in": ("the value is one of a list", '`{source: Choice, op: in, value: ["1", "2"]}`'),
    "between": (
        "low ≤ value ≤ high",
        "`{source: Balance, op: between, value: [1, 100], type: number}`",
    ),
    "is_null": ("the source is missing or empty (no value)", "`{source: Balance, op: is_null}`"),
    "is_not_null": ("the source has a value", "`{source: Balance, op: is_not_null}`"),
    "greater_than": (
        "value > constant",
        "`{source: Balance, op: greater_than, value: 0, type: number}`",
    ),
    "greater_or_equal": (
        "value ≥ constant",
        "`{source: Age, op: greater_or_equal, value: 18, type: number}`",
    ),
    "less_than": (
        "value < constant",
        "`{source: Due, op: less_than, value: $(Today), type: date}`",
    ),
    "less_or_equal": (
        "value ≤ constant",
        "`{source: Balance, op: less_or_equal, value: 0, type: number}`",
    ),
}
TYPE_DOCS = {
    "string": "text, ignoring case (the default); a missing source is empty text",
    "number": "decimal numbers, exact (`120.00` > `5`); a value that is not a number never matches",
    "date": "dates `YYYY-MM-DD` (a date-time gives its date); not a date: never matches",
    "boolean": "true/false, yes/no, y/n, 1/0, on/off; anything else never matches",
}
TEXT_ONLY = {"contains", "not_contains", "starts_with", "ends_with", "matches"}
ORDERING = {"greater_than", "greater_or_equal", "less_than", "less_or_equal", "between"}
_LOOKS_NUMBER = re.compile(r"[-+]?[£$€]?[0-9][0-9,]*(\.[0-9]+)?")
_LOOKS_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NO_VALUE = {"is_null", "is_not_null"}
TYPES = COMPARE_TYPES
_EXAMPLES = {
    "number": "(as in 120.50)",
    "date": "(YYYY-MM-DD, as in 2026-11-30)",
    "boolean": "(true or false)",
    "string": "",
}
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


@dataclass(frozen=True, kw_only=True)
class Rule:
    source: Ref = field(metadata=spec(SourcePath(), "data source to test (Name or Name.field)"))
    op: str = field(metadata=spec(Choice(*OPERATORS), "comparison operator"))
    value: Any = field(
        default=None,
        metadata=spec(
            JsonValue(),
            "value to compare with (placeholders allowed); a list for in, [low, high] for between",
        ),
    )
    type: str | None = field(
        default=None,
        metadata=spec(
            Choice(*TYPES, *SYNONYMS),
            "how values compare: string (case-insensitive), number, date, boolean; text and "
            "amount say string and number (default: the type declared at the data_connector "
            "that sets the source, else string)",
        ),
    )
    goto: str = field(metadata=spec(AppletRef(), "applet to route to when the rule matches"))

    def check_constants(self, path: Path, report: Any) -> None:
        """Errors for constant values that are not of the rule's type (the rule could never
        match them), and for a `between` whose low end is above its high end."""
        values = self.value if isinstance(self.value, list) else [self.value]
        kind = self.type or "string"
        converted: list[Any] = []
        for i, value in enumerate(values):
            text = _constant_text(value)
            if text is None:
                converted.append(None)
                continue
            where = path + (("value", i) if isinstance(self.value, list) else ("value",))
            result = _convert(text, kind)
            if result is None:
                report.error(where, f"'{text}' is not a {kind} {_EXAMPLES[kind]}")
            converted.append(result)
        if self.op == "between" and len(converted) == 2:
            low, high = converted
            if low is not None and high is not None and low > high:
                report.error(
                    path + ("value",), f"between [{values[0]}, {values[1]}]: low is above high"
                )

    def check_ordering(self, path: Path, report: Any, *, read_by_connector: bool) -> None:
        """Warn where an ordering operator with no type compares number- or date-like values
        as text."""
        kind = _ordering_type(self) if self.op in ORDERING and self.type is None else None
        if kind is None:
            return
        example = (
            "'120.00' is less than '5'" if kind == "number" else "'2026-9-1' is after '2026-10-01'"
        )
        fix = f"add type: {kind}"
        if read_by_connector:
            declared = "amount" if kind == "number" else "date"
            fix += f", or declare it at its locator ({{path: ..., type: {declared}}})"
        report.warning(path + ("op",), f"{self.op} compares text here ({example} as text): {fix}")

    def check_config(self, path: Path, check: Check) -> None:
        if self.type in SYNONYMS:
            object.__setattr__(self, "type", compares_as(self.type))
        if self.op in NO_VALUE:
            if self.value is not None:
                check.error(path + ("value",), f"{self.op} takes no value")
            return
        if self.value is None:
            check.error(path, f"missing required field 'value' for op {self.op}")
        elif self.op == "in" and not isinstance(self.value, list):
            check.error(path + ("value",), "in needs a list value, e.g. [a, b]")
        elif self.op == "between" and (not isinstance(self.value, list) or len(self.value) != 2):
            check.error(path + ("value",), "between needs [low, high]")
        elif self.op not in ("in", "between") and isinstance(self.value, (list, dict)):
            check.error(path + ("value",), f"{self.op} compares with one value, found a list")
        if self.op in TEXT_ONLY and self.type not in (None, "string"):
            check.error(path + ("type",), f"{self.op} compares text; remove type: {self.type}")
        if self.type is not None and self.op not in TEXT_ONLY:
            self.check_constants(path, check.report)
        if self.op == "matches" and isinstance(self.value, Template) and self.value.is_constant:
            try:
                re.compile(self.value.source)
            except re.error as exc:
                check.error(path + ("value",), f"invalid regular expression: {exc}")


def _constant_text(value: Any) -> str | None:
    """The text of a constant rule value (None for a placeholder, filled in at run time)."""
    if isinstance(value, Template):
        return value.source if value.is_constant else None
    if isinstance(value, bool) or value is None:
        return None
    return str(value)


_SYMBOLS = {
    "equals": "=",
    "not_equals": "≠",
    "greater_than": ">",
    "greater_or_equal": "≥",
    "less_than": "<",
    "less_or_equal": "≤",
}


def condition_text(rule: Rule) -> str:
    """A rule as a person reads it: `Balance > 0`, `Status is empty`, `Choice in 1, 2`."""
    source = rule.source.name + "".join(
        f"[{s}]" if isinstance(s, int) else f".{s}" for s in rule.source.path
    )

    def shown(value: Any) -> str:
        text = value.source if isinstance(value, Template) else value
        return str(text).lower() if isinstance(text, bool) else str(text)

    if rule.op == "is_null":
        return f"{source} is empty"
    if rule.op == "is_not_null":
        return f"{source} is set"
    if rule.op == "between":
        low, high = rule.value
        return f"{source} between {shown(low)} and {shown(high)}"
    if rule.op == "in":
        return f"{source} in {', '.join(shown(v) for v in rule.value)}"
    word = _SYMBOLS.get(rule.op, rule.op.replace("_", " "))
    return f"{source} {word} {shown(rule.value)}"


def _ordering_type(rule: Rule) -> str | None:
    """The type an ordering rule's constant values look like ("number", "date"), if any."""
    values = rule.value if isinstance(rule.value, list) else [rule.value]
    for value in values:
        text = _constant_text(value)
        if text is None:
            continue
        if _LOOKS_DATE.fullmatch(text.strip()):
            return "date"
        if _LOOKS_NUMBER.fullmatch(text.strip()):
            return "number"
    return None


@dataclass(frozen=True, kw_only=True)
class DataRouterConfig:
    rules: tuple[Rule, ...] = field(
        default=(),
        metadata=spec(
            ListOf(Struct(Rule, "a rule {source, op, value, type, goto}")),
            "rules checked in order; the first match wins",
        ),
    )
    default: str | None = field(
        default=None, metadata=spec(AppletRef(), "applet to route to when no rule matches")
    )


def _convert(value: Any, kind: str | None) -> Any:
    """A value in the rule's type, or None when it cannot be converted."""
    if kind == "number":
        return to_decimal(value)
    if kind == "date":
        return to_date(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        word = to_text(value).strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    return to_text(value).casefold()  # a missing source compares as empty text


def _render(value: Any, scope: Scope) -> Any:
    if isinstance(value, Template):
        return value.render(scope)
    if isinstance(value, list):
        return [_render(v, scope) for v in value]
    return value


_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "greater_than": lambda a, b: a > b,
    "greater_or_equal": lambda a, b: a >= b,
    "less_than": lambda a, b: a < b,
    "less_or_equal": lambda a, b: a <= b,
}


def evaluate(rule: Rule, actual: Any, expected: Any) -> bool:
    """Does `actual` (the data source value) satisfy the rule against the rendered `expected`?"""
    if rule.op == "is_null":
        return actual is None or to_text(actual) == ""
    if rule.op == "is_not_null":
        return not (actual is None or to_text(actual) == "")
    left = _convert(actual, rule.type)
    if left is None:
        return False
    if rule.op == "in":
        options = [_convert(v, rule.type) for v in expected]
        return left in [o for o in options if o is not None]
    if rule.op == "between":
        low, high = (_convert(v, rule.type) for v in expected)
        if low is None or high is None:
            return False
        return low <= left <= high
    right = _convert(expected, rule.type)
    if right is None:
        return False
    if rule.op in _ORDERED:
        comparable = (Decimal, date, bool, str)
        if not isinstance(left, comparable) or type(left) is not type(right):
            return False
        if isinstance(left, bool) and rule.op not in ("equals", "not_equals"):
            return False
        return _ORDERED[rule.op](left, right)
    text, pattern = left, right
    if rule.op == "contains":
        return pattern in text
    if rule.op == "not_contains":
        return pattern not in text
    if rule.op == "starts_with":
        return text.startswith(pattern)
    if rule.op == "ends_with":
        return text.endswith(pattern)
    # matches: a full match of the original (not case-folded) pattern, ignoring case
    try:
        return re.fullmatch(to_text(expected), to_text(actual), re.IGNORECASE) is not None
    except re.error:
        return False


class DataRouterApplet(Applet):
    type_name = "data_router"
    doc = "Route on data source values (VCC Data Router): rules in order, first match wins."
    outcomes = ("default",)
    accepts_next = False
    accepts_on = False
    routing_help = "data_router routes with rules[].goto and default, not '{key}'"
    Config = DataRouterConfig

    @classmethod
    def documented_outcomes(cls) -> list[str]:
        return ["`rule_N` (routed by `rules[].goto`)", "default"]

    @classmethod
    def reference_notes(cls) -> list[str]:
        ops = [f"| `{op}` | {OPERATOR_DOCS[op][0]} | {OPERATOR_DOCS[op][1]} |" for op in OPERATORS]
        types = [f"| `{kind}` | {TYPE_DOCS[kind]} |" for kind in TYPES]
        return [
            "Operators (`op`): `contains`, `not_contains`, `starts_with`, `ends_with` and",
            "`matches` compare text; the ordering operators (`greater_than`, `greater_or_equal`,",
            "`less_than`, `less_or_equal`, `between`) need a `type:` (or a source declared",
            "typed at its `data_connector`), else they compare text and `ivr validate` warns.",
            "",
            "| op | matches when | example |",
            "|---|---|---|",
            *ops,
            "",
            "Types (`type`):",
            "",
            "| type | values compare as |",
            "|---|---|",
            *types,
            "",
        ]

    @classmethod
    def outcome_names(cls, config: DataRouterConfig) -> tuple[str, ...]:
        return tuple(f"rule_{i}" for i in range(1, len(config.rules) + 1)) + ("default",)

    @classmethod
    def extra_routes(cls, config: DataRouterConfig) -> Iterator[tuple[str, str, Path]]:
        for i, rule in enumerate(config.rules):
            yield f"rule_{i + 1}", rule.goto, ("rules", i, "goto")
        if config.default is not None:
            yield "default", config.default, ("default",)

    @classmethod
    def edge_label(cls, config: DataRouterConfig, outcome: str) -> str:
        if not outcome.startswith("rule_"):
            return outcome
        rule = config.rules[int(outcome.removeprefix("rule_")) - 1]
        return condition_text(rule)

    @classmethod
    def check_types(
        cls, config: DataRouterConfig, types: dict[str, str | None], path: Path, report: Any
    ) -> None:
        for i, rule in enumerate(config.rules):
            name = rule.source.name
            declared = types.get(name) if not rule.source.path else None
            if rule.type is None and declared and rule.op not in TEXT_ONLY:
                object.__setattr__(rule, "type", declared)  # compare as declared
                rule.check_constants(path + ("rules", i), report)
            rule.check_ordering(path + ("rules", i), report, read_by_connector=name in types)

    @classmethod
    def check_missing(
        cls, config: DataRouterConfig, missing: set[str], path: Path, report: Any
    ) -> None:
        guarded: set[str] = set()
        for i, rule in enumerate(config.rules):
            name = rule.source.name
            if rule.op in NO_VALUE:
                guarded.add(name)
                continue
            if name not in missing or name in guarded:
                continue
            value = rule.value
            constant = (
                [v.source if isinstance(v, Template) else v for v in value]
                if isinstance(value, list)
                else value.source
                if isinstance(value, Template)
                else value
            )
            if isinstance(value, Template) and not value.is_constant:
                continue
            if isinstance(value, list) and any(
                isinstance(v, Template) and not v.is_constant for v in value
            ):
                continue
            if evaluate(rule, None, constant):
                report.warning(
                    path + ("rules", i),
                    f"'{name}' is null when a data_connector's locator matches nothing, and "
                    f"this rule matches a null {name} (it compares as empty text); add "
                    f"{{source: {name}, op: is_null, goto: ...}} before it, or give it "
                    "type: number / date / boolean",
                )
                guarded.add(name)  # said once
        cls._check_null_to_default(config, missing, guarded, path, report)

    @classmethod
    def _check_null_to_default(
        cls, config: DataRouterConfig, missing: set[str], guarded: set[str], path: Path, report: Any
    ) -> None:
        """A source compared by order (an amount, a date) that may be null, with no is_null
        rule: no rule matches a null, so the call takes the default route, which was written
        for some other value ("nothing to pay")."""
        if config.default is None:
            return
        said: set[str] = set()
        for rule in config.rules:
            name = rule.source.name
            if name not in missing or name in guarded or name in said:
                continue
            if rule.op in ORDERING:
                said.add(name)
                report.warning(
                    path + ("default",),
                    f"'{name}' is null when a data_connector's locator matches nothing (or its "
                    f"value is not of its type); no rule matches a null {name}, so the call "
                    f"goes to default '{config.default}'; add {{source: {name}, op: is_null, "
                    "goto: ...} as the first rule",
                )

    @classmethod
    def reads(cls, config: DataRouterConfig) -> Iterator[Ref]:
        yield from super().reads(config)
        for rule in config.rules:
            yield rule.source

    def enter(self, ctx: Context) -> Decision:
        scope = ctx.scope()
        for i, rule in enumerate(self.config.rules, start=1):
            actual = scope.value(rule.source)
            expected = _render(rule.value, scope)
            if evaluate(rule, actual, expected):
                ctx.log.debug("data_router rule %d matched", i)
                return Outcome.of(f"rule_{i}")
        return Outcome.of("default")
