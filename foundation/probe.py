"""What a readiness probe says about a failed check: the error's kind and first line, short,
never a value (database errors carry no parameters: engines hide them)."""

from __future__ import annotations


def problem(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
