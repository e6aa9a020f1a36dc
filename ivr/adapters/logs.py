"""Logging set-up for the engine: one format, and the PCI bridge's redaction filter on every
handler (card-like numbers never leave in a log line, even by mistake)."""

from __future__ import annotations

from foundation.redaction import RedactingFilter, install_logging, redact

__all__ = ["RedactingFilter", "install", "redact"]


def install(level: str = "INFO") -> None:
    install_logging(level)
