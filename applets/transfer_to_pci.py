"""transfer_to_pci: hand the call to the automated payment system (VCC Self Service Transfer to
PCI). The payment leg is dialled unrecorded; the engine never hears or stores its digits."""

from __future__ import annotations

from dataclasses import dataclass, field

from applets.common import number_value
from ivr.engine.actions import Dial
from ivr.engine.protocol import Applet, Ask, Context, Decision, DialEnded, Event, Outcome
from ivr.lang.fields import Integer, Name, Phone, spec
from ivr.lang.templates import Template

ANSWERED = {"completed", "answered"}


@dataclass(frozen=True, kw_only=True)
class TransferToPciConfig:
    number: Template = field(metadata=spec(Phone(), "E.164 of the payment system"))
    clid: Template = field(
        metadata=spec(Phone(), "caller ID to present; the payment system finds the session by it")
    )
    ring_timeout: int | Template = field(
        default=30, metadata=spec(Integer(5, 600), "seconds to ring the payment system")
    )
    time_limit: int | Template = field(
        default=900,
        metadata=spec(Integer(30, 14400), "longest the payment leg may last, in seconds"),
    )
    store_status: str | None = field(
        default=None,
        metadata=spec(
            Name(), "data source that receives the leg's end status (completed, busy, ...)"
        ),
    )


class TransferToPciApplet(Applet):
    type_name = "transfer_to_pci"
    ends_turn = True
    doc = (
        "Transfer the caller to the PCI payment system presenting a CLID that identifies the "
        "payment session; the call returns to the plan when that leg ends."
    )
    outcomes = ("next", "failure")
    Config = TransferToPciConfig

    @classmethod
    def sets(cls, config: TransferToPciConfig) -> set[str]:
        return {config.store_status} if config.store_status else set()

    def enter(self, ctx: Context) -> Decision:
        c = self.config
        scope = ctx.scope()
        return Ask(
            (
                Dial(
                    number=c.number.render(scope),
                    caller_id=c.clid.render(scope),
                    timeout=number_value(c.ring_timeout, scope),
                    time_limit=number_value(c.time_limit, scope),
                    record=False,
                ),
            )
        )

    def resume(self, ctx: Context, event: Event) -> Decision:
        status = event.status if isinstance(event, DialEnded) else "failed"
        if self.config.store_status:
            ctx.data[self.config.store_status] = status
        return Outcome.of("next" if status in ANSWERED else "failure")
