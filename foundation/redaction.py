"""Defence in depth for logs: a filter on every handler that redacts 13–19 digit Luhn-valid
runs (card numbers), and access logs without request bodies. The control is that card data
is never logged at all; this filter is what catches a mistake."""

from __future__ import annotations

import logging
import re

from foundation.digits import luhn_valid

_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])")


def redact(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "[REDACTED]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)

    return _DIGIT_RUN.sub(repl, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def add_filter(handler: logging.Handler) -> None:
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())


def install_logging(level: str = "INFO") -> None:
    """One stream handler with the redaction filter, replacing the root's handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    add_filter(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
