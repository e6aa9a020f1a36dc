"""The per-turn context an applet sees: data sources, its own state, clock, HTTP, secrets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from ivr.lang.formatters import Formatting
from ivr.lang.templates import Scope


class CallContext:
    """Implements `ivr.engine.protocol.Context` over one session for one turn."""

    def __init__(
        self,
        data: MutableMapping[str, Any],
        state: MutableMapping[str, Any],
        *,
        http: requests.Session,
        clock: Callable[[], datetime],
        secrets: Callable[[str], str | None],
        log: logging.LoggerAdapter,
        currency: str,
        timezone: str,
        missing: list[str],
        speech: Formatting | None = None,
        deadline: float | None = None,
        observe: Callable[[str, float], None] | None = None,
    ):
        self.data = data
        self.state = state
        self.http = http
        self._clock = clock
        self._secrets = secrets
        self.log = log
        self.currency = currency
        self.timezone = timezone
        self.missing = missing
        self.deadline = deadline  # monotonic seconds; None: no turn budget (tools)
        self._formatting: Formatting | None = None
        self._speech = speech or Formatting(currency)  # language, languages, voices
        self._observe = observe

    def now(self) -> datetime:
        return self._clock()

    def secret(self, name: str) -> str | None:
        return self._secrets(name)

    def seconds_left(self) -> float:
        if self.deadline is None:
            return float("inf")
        return self.deadline - time.monotonic()

    def note_missing(self, what: str) -> None:
        self.missing.append(what)

    def observe_service(self, result: str, seconds: float) -> None:
        if self._observe is not None:
            self._observe(result, seconds)

    def scope(self, local: dict[str, Any] | None = None) -> Scope:
        if self._formatting is None:
            today = self._clock().astimezone(ZoneInfo(self.timezone)).date()
            self._formatting = replace(self._speech, currency=self.currency, today=today)
        scope = Scope(self.data, self._formatting, secrets=self._secrets, local=local)
        scope.missing = self.missing
        return scope
