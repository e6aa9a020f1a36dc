"""Contacting customers by their campaign's policy: each due round goes through the policy's
channels in order (texts and calls only in the customer's calling hours), is claimed first so
that of several workers one sends it (a notice is never sent twice), and every attempt and its
result is recorded on the case; a case unreached after the last round is closed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ivr.collections.cases import Case, Cases, CaseState
from ivr.collections.config import CollectionsConfig
from ivr.collections.notices import EmailChannel, Notice, NoticeWriter, Sent, SmsChannel
from ivr.collections.policy import IN_HOURS, Channel

log = logging.getLogger("ivr.collections")


@dataclass
class Round:
    """What one round did for one case."""

    case: Case
    attempt: int
    sent: dict[str, Sent] = field(default_factory=dict)
    closed: bool = False


class Contacts:
    """Runs the due rounds (call `run_due` now and then: the worker's schedule, or the
    simulated clock)."""

    def __init__(
        self,
        cases: Cases,
        config: CollectionsConfig,
        writer: NoticeWriter,
        sms: SmsChannel | None,
        email: EmailChannel | None,
        call: Callable[[Case], Sent] | None = None,
    ):
        self.cases = cases
        self.config = config
        self.writer = writer
        self.sms = sms
        self.email = email
        self.call = call

    def run_due(self) -> list[Round]:
        """Every round due now, each claimed before anything is sent."""
        now = self.cases.clock()
        done = []
        for case in self.cases.due_for_contact(now):
            made = self._round(case, now)
            if made is not None:
                done.append(made)
        return done

    def _round(self, case: Case, now: datetime) -> Round | None:
        policy = self.config.policy(case.campaign)
        if case.attempts >= policy.attempts:
            if not self.cases.claim_round(case, None, case.attempts):
                return None  # another worker closed it
            self.cases.move(
                case.id,
                CaseState.CLOSED,
                f"unreached after {case.attempts} rounds of the {case.campaign} contact policy",
            )
            return Round(case, case.attempts, closed=True)
        channels = [c for c in policy.channels if self._reaches(c, case)]
        if any(c in IN_HOURS for c in channels):
            opening = policy.next_opening(now, case.timezone)
            if opening > now:  # outside the customer's calling hours: the round waits
                self.cases.claim_round(case, opening, case.attempts)
                return None
        attempt = case.attempts + 1
        if not self.cases.claim_round(case, now + policy.gap, attempt):
            return None  # another worker took this round
        if case.state is CaseState.OPEN:
            self.cases.move(case.id, CaseState.CONTACTING, f"contact round {attempt} begun")
        made = Round(case, attempt)
        if not channels:
            made.sent["none"] = Sent("failed", "no channel of the policy can reach them")
        else:
            notice = self.writer.write(case)
            for channel in channels:
                made.sent[channel.value] = self._send(channel, case, notice)
        for name, sent in made.sent.items():
            self.cases.record_contact(case.id, attempt, name, sent.result, sent.detail)
        log.info(
            "collections: case %s round %d: %s",
            case.id,
            attempt,
            ", ".join(f"{k} {v.result}" for k, v in made.sent.items()),
        )
        return made

    def _reaches(self, channel: Channel, case: Case) -> bool:
        if channel is Channel.SMS:
            return self.sms is not None and bool(case.phone)
        if channel is Channel.EMAIL:
            return self.email is not None and bool(case.email)
        return self.call is not None and bool(case.phone)

    def _send(self, channel: Channel, case: Case, notice: Notice) -> Sent:
        if channel is Channel.SMS:
            assert self.sms is not None
            return self.sms.send(case.phone, notice.sms)
        if channel is Channel.EMAIL:
            assert self.email is not None
            return self.email.send(case.email, notice.subject, notice.text, notice.html)
        assert self.call is not None
        return self.call(case)
