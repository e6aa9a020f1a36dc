"""transfer: to an agent, a queue or an outside number (VCC Call Connect Router / ACD)."""

from __future__ import annotations

from dataclasses import dataclass, field

from applets.common import VoiceConfig, number_value, one_of, text_or_none
from ivr.engine.actions import Dial, Enqueue
from ivr.engine.prompts import PromptItem, Prompts, render
from ivr.engine.protocol import Applet, Ask, Context, Decision, DialEnded, Event, Outcome, QueueLeft
from ivr.lang.diagnostics import Path
from ivr.lang.fields import Check, Integer, ListOf, Phone, Text, spec
from ivr.lang.templates import Template

ANSWERED = {"completed", "answered"}
QUEUE_DELIVERED = {"bridged", "bridging-in-process"}
QUEUE_FAILED = {"queue-full", "error", "system-error"}


@dataclass(frozen=True, kw_only=True)
class TransferConfig(VoiceConfig):
    number: Template | None = field(default=None, metadata=spec(Phone(), "E.164 to dial"))
    numbers: tuple[Template, ...] | None = field(
        default=None,
        metadata=spec(
            ListOf(Phone(), min_items=1), "E.164 numbers tried in order until one answers"
        ),
    )
    queue: Template | None = field(
        default=None, metadata=spec(Text(numbers=False), "name of the queue to place the caller in")
    )
    caller_id: Template | None = field(
        default=None, metadata=spec(Phone(), "caller ID to present (default: the caller's)")
    )
    ring_timeout: int | Template = field(
        default=30, metadata=spec(Integer(5, 600), "seconds to ring each number", inherit=True)
    )
    time_limit: int | Template | None = field(
        default=None,
        metadata=spec(Integer(1, 86400), "longest the transferred leg may last, in seconds"),
    )
    announce: tuple[PromptItem, ...] | None = field(
        default=None, metadata=spec(Prompts(), "played to the caller before transferring")
    )

    def check_config(self, path: Path, check: Check) -> None:
        one_of(self, ("number", "numbers", "queue"), path, check)


class TransferApplet(Applet):
    type_name = "transfer"
    ends_turn = True
    hands_to_agent = True
    doc = (
        "Transfer to an agent, a queue or an outside number; sets InteractionOutcome to "
        "Delivered when answered."
    )
    outcomes = ("next", "failure")
    Config = TransferConfig

    @classmethod
    def sets(cls, config: TransferConfig) -> set[str]:
        return {"InteractionOutcome"}

    def agent_number(self) -> str | None:
        c = self.config
        if c.queue is not None:
            return None
        first = (c.numbers or (c.number,))[0]
        return first.source if first is not None and first.is_constant else None

    def _dial(self, ctx: Context, index: int) -> Dial:
        c = self.config
        scope = ctx.scope()
        targets = c.numbers if c.numbers is not None else (c.number,)
        target = targets[index]
        assert target is not None
        return Dial(
            number=target.render(scope),
            caller_id=text_or_none(c.caller_id, scope),
            timeout=number_value(c.ring_timeout, scope),
            time_limit=None if c.time_limit is None else number_value(c.time_limit, scope),
        )

    def enter(self, ctx: Context) -> Decision:
        c = self.config
        scope = ctx.scope()
        ctx.state.clear()
        lead = render(
            c.announce,
            scope,
            voice=text_or_none(c.voice, scope),
            language=text_or_none(c.language, scope),
        )
        if c.queue is not None:
            return Ask((*lead, Enqueue(c.queue.render(scope))))
        ctx.state["index"] = 0
        return Ask((*lead, self._dial(ctx, 0)))

    def resume(self, ctx: Context, event: Event) -> Decision:
        if isinstance(event, QueueLeft):
            if event.result in QUEUE_DELIVERED:
                ctx.data["InteractionOutcome"] = "Delivered"
            return Outcome.of("failure" if event.result in QUEUE_FAILED else "next")
        if not isinstance(event, DialEnded):
            return Outcome.of("failure")
        if event.status in ANSWERED:
            ctx.data["InteractionOutcome"] = "Delivered"
            return Outcome.of("next")
        index = ctx.state.get("index", 0) + 1
        count = len(self.config.numbers) if self.config.numbers is not None else 1
        if event.status != "canceled" and index < count:
            ctx.state["index"] = index
            return Ask((self._dial(ctx, index),))
        return Outcome.of("failure")
