"""Logging for the engine: text or JSON lines, the CallSid of the webhook being answered on
every line about a call, and the redaction filter on every handler (card-like numbers never
leave in a log line, even by mistake).

The app factory installs it in every serving process (gunicorn workers log as `ivr serve`
does); level and format come from config.yaml (`log_level`, `log_format`) or `IVR_LOG_LEVEL`
and `IVR_LOG_FORMAT`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from foundation.redaction import RedactingFilter, add_filter, redact

__all__ = ["RedactingFilter", "bound_call", "install", "redact"]

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_call_sid: ContextVar[str | None] = ContextVar("call_sid", default=None)


@contextmanager
def bound_call(call_sid: str | None) -> Iterator[None]:
    """Lines logged inside carry `call_sid` (one webhook, on its thread)."""
    token = _call_sid.set(call_sid)
    try:
        yield
    finally:
        _call_sid.reset(token)


def bind_call(call_sid: str | None) -> object:
    """For a request hook: bind `call_sid` until `unbind(token)`."""
    return _call_sid.set(call_sid)


def unbind(token: object) -> None:
    _call_sid.reset(token)  # type: ignore[arg-type]


class CallContext(logging.Filter):
    """Puts the bound CallSid on each record as `call_sid` (None outside a call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call_sid"):
            record.call_sid = _call_sid.get()
        return True


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER: MESSAGE`, and `[CallSid]` at the end when the message does not
    already name the call."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        sid = getattr(record, "call_sid", None)
        if sid and sid not in record.getMessage():
            first, _, rest = line.partition("\n")
            line = f"{first} [{sid}]" + (f"\n{rest}" if rest else "")
        return line


class JsonFormatter(logging.Formatter):
    """One object a line: time, level, logger, message, call_sid (when there is one), and
    the exception's text (when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        sid = getattr(record, "call_sid", None)
        if sid:
            out["call_sid"] = sid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def install(level: str = "INFO", fmt: str = "text") -> None:
    """One stream handler on the root logger, replacing its handlers: the format, the call
    context and the redaction filter (which must run after the message is final)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format '{fmt}': use text or json")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(CallContext())
    add_filter(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def configured() -> bool:
    """True when the hosting program already gave the root logger a handler (pytest, an
    embedding application): then the app factory leaves logging alone."""
    return bool(logging.getLogger().handlers)
