"""Readable transcripts of simulated calls: what the caller hears, presses, and where the call
goes."""

from __future__ import annotations

from ivr.app.local_phone import CallReport
from ivr.phone.twilio import Event

_LABELS = {
    "say": "hears",
    "play": "hears audio",
    "pause": "silence",
    "keys": "presses",
    "no_input": "",
    "dial": "transfer:",
    "connected": "",
    "dial_result": "",
    "enqueue": "queue:",
    "redirect": "redirect",
    "hangup": "",
    "caller_hangup": "",
    "error": "ERROR:",
    "leg_start": "",
    "leg_end": "",
}


def event_line(event: Event, call_sid: str, *, verbose: bool = False) -> str | None:
    """One transcript line for an event (None: nothing to show)."""
    indent = "    " * event.leg + "  "
    if event.kind == "prompt":
        if not verbose:
            return None
        d = event.data
        bits = [
            f"up to {d['num_digits']} key(s)" if d.get("num_digits") else "keys",
            f"finish on {d['finish_on_key']}" if d.get("finish_on_key") else "",
            f"timeout {d['timeout']}s",
        ]
        return f"{indent}(waits for {', '.join(b for b in bits if b)})"
    if event.kind == "leg_end" or (event.kind == "redirect" and not verbose):
        return None
    if event.kind == "leg_start":
        return f"Call {call_sid}: {event.text}"
    if event.kind == "say":
        return f'{indent}Caller hears: "{event.text}"'
    if event.kind == "keys":
        return f"{indent}Caller presses: {event.text}"
    if event.kind == "speech":
        return f'{indent}Caller says: "{event.text}"'
    if event.kind == "no_input":
        return f"{indent}Caller {event.text}"
    label = _LABELS.get(event.kind, event.kind)
    return f"{indent}{(label + ' ') if label else ''}{event.text}".rstrip()


def cost(entries: int, prompt_seconds: float) -> str:
    """What the call asked of the caller: entries made and seconds of prompts listened to."""
    return f"{entries} entr{'y' if entries == 1 else 'ies'}, {int(prompt_seconds)}s of prompts"


def summary(report: CallReport, *, verbose: bool = False) -> list[str]:
    """The closing lines: duration, outcome and path."""
    r = report.result
    out = [
        f"Call ended after {r.duration}s"
        + (" (the caller hung up)" if r.ended_by == "caller" else "")
        + f": {cost(r.entries, r.prompt_seconds)}"
    ]
    if report.outcome is not None:
        out.append(f"Outcome: {report.outcome}")
    if report.path:
        out.append("Path: " + " → ".join(f"{a} ({o})" for a, o in report.path))
    if report.missing and verbose:
        out.append("Missing data sources: " + ", ".join(report.missing))
    if report.note:
        out.append(f"({report.note})")
    return out


def lines(report: CallReport, *, verbose: bool = False) -> list[str]:
    """The whole transcript of a finished call."""
    out = [
        line
        for e in report.result.events
        if (line := event_line(e, report.result.call_sid, verbose=verbose)) is not None
    ]
    return out + summary(report, verbose=verbose)
