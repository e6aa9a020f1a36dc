"""collect_digits: key-pad input into a data source, validated, with re-prompts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from applets.common import (
    ListenConfig,
    ask_again,
    heard,
    listening,
    number_value,
    text_or_none,
)
from foundation.digits import is_digits
from foundation.suggest import did_you_mean
from ivr.engine.actions import Gather, Say
from ivr.engine.prompts import PromptItem, Prompts, render, speaker
from ivr.engine.protocol import Applet, Ask, Context, Decision, Event, Outcome
from ivr.errors import EngineError
from ivr.lang.diagnostics import Path
from ivr.lang.fields import (
    INVALID,
    Boolean,
    Check,
    FieldKind,
    Integer,
    Key,
    Name,
    Number,
    convert_struct,
    found,
    spec,
    struct_schema,
)
from ivr.lang.formatters import currency, digits, speak_date, to_decimal
from ivr.lang.languages import engine_words, spoken_digits, yes_or_no
from ivr.lang.templates import Template

VALIDATIONS = ("digits", "amount", "date", "choice", "regex")


@dataclass(frozen=True, kw_only=True)
class AmountRule:
    min: Decimal | Template | None = field(
        default=None, metadata=spec(Number(), "smallest amount accepted (placeholders allowed)")
    )
    max: Decimal | Template | None = field(
        default=None, metadata=spec(Number(), "largest amount accepted (placeholders allowed)")
    )


@dataclass(frozen=True, kw_only=True)
class DateRule:
    min_days: int | Template = field(
        default=0, metadata=spec(Integer(0), "earliest date accepted, in days from today")
    )
    max_days: int | Template = field(
        default=365, metadata=spec(Integer(0), "latest date accepted, in days from today")
    )


@dataclass(frozen=True, kw_only=True)
class ChoiceRule:
    count: int | Template = field(
        metadata=spec(
            Integer(1),
            "number of choices: the caller keys 1..count (placeholders allowed, "
            "e.g. $(Bills:count))",
        )
    )


@dataclass(frozen=True)
class Validation:
    kind: str = "digits"
    amount: AmountRule | None = None
    date: DateRule | None = None
    choice: ChoiceRule | None = None
    regex: re.Pattern[str] | None = None


_RULES = {"amount": AmountRule, "date": DateRule, "choice": ChoiceRule}


class ValidationKind(FieldKind):
    label = (
        "digits, {amount: {min, max}}, {date: {min_days, max_days}}, {choice: {count}} "
        "or {regex: PATTERN}"
    )

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if value == "digits":
            return Validation()
        if isinstance(value, str):
            return check.error(
                path,
                f"unknown validation '{value}'"
                f"{did_you_mean(value, VALIDATIONS)}; expected {self.label}",
            )
        if not isinstance(value, dict) or len(value) != 1:
            return self.wrong(value, path, check)
        kind, body = next(iter(value.items()))
        where = path + (kind,)
        if kind == "regex":
            if not isinstance(body, str):
                return check.error(where, f"expected a regular expression, found {found(body)}")
            try:
                return Validation("regex", regex=re.compile(body))
            except re.error as exc:
                return check.error(where, f"invalid regular expression: {exc}")
        if kind not in _RULES:
            return check.error(
                where, f"unknown validation '{kind}'{did_you_mean(kind, VALIDATIONS)}", key=True
            )
        rule = (
            convert_struct(_RULES[kind], body if body is not None else {}, where, check)
            if isinstance(body, dict) or body is None
            else check.error(where, f"expected a map, found {found(body)}")
        )
        if rule is INVALID:
            return INVALID
        return Validation(kind, **{kind: rule})

    def schema(self) -> dict[str, Any]:
        options: list[dict[str, Any]] = [{"const": "digits"}]
        for kind, cls in _RULES.items():
            options.append(
                {
                    "type": "object",
                    "properties": {kind: struct_schema(cls)},
                    "required": [kind],
                    "additionalProperties": False,
                }
            )
        options.append(
            {
                "type": "object",
                "properties": {"regex": {"type": "string"}},
                "required": ["regex"],
                "additionalProperties": False,
            }
        )
        return {"oneOf": options}


@dataclass(frozen=True, kw_only=True)
class CollectDigitsConfig(ListenConfig):
    prompt: tuple[PromptItem, ...] = field(metadata=spec(Prompts(), "what the caller hears"))
    store: str = field(metadata=spec(Name(), "data source that receives the entry"))
    min_length: int = field(
        default=1, metadata=spec(Integer(1, 30, placeholders=False), "fewest keys accepted")
    )
    max_length: int = field(
        default=20, metadata=spec(Integer(1, 30, placeholders=False), "most keys accepted")
    )
    finish_on_key: str = field(
        default="#",
        metadata=spec(
            Key(allow_none=True), "key that ends the entry (not part of it)", inherit=True
        ),
    )
    validate: Validation = field(
        default=Validation(),
        metadata=spec(ValidationKind(), "what a valid entry is (default: digits)"),
    )
    confirm: bool = field(
        default=False, metadata=spec(Boolean(), "read the entry back; 1 accepts, 2 re-enters")
    )

    def check_config(self, path: Path, check: Check) -> None:
        super().check_config(path, check)
        if self.min_length > self.max_length:
            check.error(
                path + ("min_length",),
                f"min_length {self.min_length} is more than max_length {self.max_length}",
            )


class CollectDigitsApplet(Applet):
    type_name = "collect_digits"
    ends_turn = True
    doc = (
        "Key-pad input into a data source (VCC IVR Collect Digit / Digit String); with "
        "input: [dtmf, speech] the caller may say the numbers instead."
    )
    outcomes = ("next", "no_input", "invalid")
    Config = CollectDigitsConfig

    @classmethod
    def sets(cls, config: CollectDigitsConfig) -> set[str]:
        return {config.store}

    def gather(self, ctx: Context) -> Gather:
        c = self.config
        scope = ctx.scope()
        speech = render(
            c.prompt,
            scope,
            voice=text_or_none(c.voice, scope),
            language=text_or_none(c.language, scope),
        )
        num = c.max_length if c.min_length == c.max_length else None
        if c.validate.kind == "date":
            num = 4
        elif c.validate.kind == "choice" and c.validate.choice is not None:
            if self._count(ctx) <= 9:
                num = 1
        asked = Gather(tuple(speech), num, c.finish_on_key, number_value(c.timeout, scope))
        return listening(asked, c, scope, [])

    def enter(self, ctx: Context) -> Decision:
        ctx.state.clear()
        return Ask((self.gather(ctx),))

    def resume(self, ctx: Context, event: Event) -> Decision:
        kind, given = heard(event, self.config)
        entry = given if kind == "keys" else ""
        if kind == "words":  # numbers said: the keys they stand for
            entry = spoken_digits(given, decimal=self.config.validate.kind == "amount")
        if ctx.state.get("pending") is not None:
            if kind == "words":  # "yes", "no", "one" (nothing else is an answer)
                entry = yes_or_no(given) or "?"
            elif kind == "unsure":  # words not heard well are not a yes
                entry = "?"
            return self._confirmed(ctx, entry)
        if kind == "none":
            return ask_again(self, ctx, "no_input", self.gather, "invalid")
        value = self.check(entry, ctx) if entry else None
        if value is None:
            return ask_again(self, ctx, "invalid", self.gather, "invalid")
        if self.config.confirm:
            ctx.state["pending"] = value
            return Ask((self._confirm_gather(ctx, value),))
        ctx.data[self.config.store] = value
        return Outcome.of("next")

    # -- confirmation ---------------------------------------------------------------------

    def _confirm_gather(self, ctx: Context, value: str) -> Gather:
        c = self.config
        scope = ctx.scope()
        fmt = scope.formatting
        voice, language = speaker(
            scope, text_or_none(c.voice, scope), text_or_none(c.language, scope)
        )
        if language and fmt.language != language:
            fmt = replace(fmt, language=language)
        spoken = {"amount": currency, "date": speak_date}.get(c.validate.kind, digits)(value, fmt)
        say = Say(engine_words("entered", language or "", value=spoken), voice, language)
        asked = Gather((say,), 1, "", number_value(c.timeout, scope))
        return listening(asked, c, scope, [], keys=True)

    def _confirmed(self, ctx: Context, entry: str) -> Decision:
        pending = ctx.state["pending"]
        if entry == "1":
            ctx.data[self.config.store] = pending
            ctx.state.clear()
            return Outcome.of("next")
        if entry == "2":  # re-entering is the caller's choice, not a failed attempt
            ctx.state["pending"] = None
            ctx.state["attempts"] = 0
            return Ask((self.gather(ctx),))
        retries = number_value(self.config.retries, ctx.scope())
        attempts = ctx.state.get("attempts", 0)
        if attempts >= retries:
            return Outcome.of("no_input" if not entry else "invalid")
        ctx.state["attempts"] = attempts + 1
        return Ask((self._confirm_gather(ctx, pending),))

    # -- validation -----------------------------------------------------------------------

    def _count(self, ctx: Context) -> int:
        rule = self.config.validate.choice
        assert rule is not None
        try:
            return number_value(rule.count, ctx.scope())
        except ValueError as exc:
            raise EngineError(f"choice count of '{self.id}' is not a whole number") from exc

    def check(self, entry: str, ctx: Context) -> str | None:
        """The value to store for a valid entry, else None."""
        c = self.config
        if not (c.min_length <= len(entry) <= c.max_length):
            return None
        v = c.validate
        if v.kind == "digits":
            return entry if is_digits(entry) else None
        if v.kind == "regex":
            assert v.regex is not None
            return entry if v.regex.fullmatch(entry) else None
        if v.kind == "choice":
            if not is_digits(entry):
                return None
            n = int(entry)
            return str(n) if 1 <= n <= self._count(ctx) else None
        if v.kind == "amount":
            return self._amount(entry, ctx)
        return self._date(entry, ctx)

    def _bound(self, value: Decimal | Template | None, ctx: Context) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        number = to_decimal(value.render(ctx.scope()))
        if number is None:
            raise EngineError(f"amount bound '{value.source}' of '{self.id}' is not a number")
        return number

    def _amount(self, entry: str, ctx: Context) -> str | None:
        if not re.fullmatch(r"\d*(\*\d{0,2})?", entry) or entry.strip("*") == "":
            return None
        whole, _, cents = entry.partition("*")
        amount = Decimal(f"{whole or 0}.{cents or 0}").quantize(Decimal("0.01"))
        rule = self.config.validate.amount
        assert rule is not None
        low, high = self._bound(rule.min, ctx), self._bound(rule.max, ctx)
        if (low is not None and amount < low) or (high is not None and amount > high):
            return None
        return str(amount)

    def _date(self, entry: str, ctx: Context) -> str | None:
        if not re.fullmatch(r"\d{4}", entry):
            return None
        day, month = int(entry[:2]), int(entry[2:])
        today = ctx.now().astimezone(ZoneInfo(ctx.timezone)).date()
        found_date = None
        for year in range(today.year, today.year + 9):
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if candidate >= today:
                found_date = candidate
                break
        if found_date is None:
            return None
        rule = self.config.validate.date
        assert rule is not None
        scope = ctx.scope()
        low = today + timedelta(days=number_value(rule.min_days, scope))
        high = today + timedelta(days=number_value(rule.max_days, scope))
        return found_date.isoformat() if low <= found_date <= high else None
