"""Readable transcripts of simulated calls: what the caller hears, presses, and where the call
goes."""

from __future__ import annotations

from ivr.simulator.local import CallReport

_LABELS = {
    "say": "hears", "play": "hears audio", "pause": "silence", "keys": "presses",
    "no_input": "", "dial": "transfer:", "connected": "", "dial_result": "", "enqueue": "queue:",
    "redirect": "redirect", "hangup": "", "caller_hangup": "", "error": "ERROR:",
    "leg_start": "", "leg_end": "",
}


def lines(report: CallReport, *, verbose: bool = False) -> list[str]:
    out = []
    r = report.result
    for event in r.events:
        indent = "    " * event.leg + "  "
        if event.kind == "prompt":
            if verbose:
                d = event.data
                bits = [f"up to {d['num_digits']} key(s)" if d.get("num_digits") else "keys",
                        f"finish on {d['finish_on_key']}" if d.get("finish_on_key") else "",
                        f"timeout {d['timeout']}s"]
                out.append(f"{indent}(waits for {', '.join(b for b in bits if b)})")
            continue
        if event.kind == "redirect" and not verbose:
            continue
        if event.kind == "leg_start":
            out.append(f"Call {r.call_sid}: {event.text}")
        elif event.kind == "say":
            out.append(f'{indent}Caller hears: "{event.text}"')
        elif event.kind == "keys":
            out.append(f"{indent}Caller presses: {event.text}")
        elif event.kind == "no_input":
            out.append(f"{indent}Caller {event.text}")
        elif event.kind in ("leg_end",):
            continue
        else:
            label = _LABELS.get(event.kind, event.kind)
            out.append(f"{indent}{(label + ' ') if label else ''}{event.text}".rstrip())
    out.append(f"Call ended after {r.duration}s" + (" (the caller hung up)"
                                                    if r.ended_by == "caller" else ""))
    if report.outcome is not None:
        out.append(f"Outcome: {report.outcome}")
    if report.path:
        out.append("Path: " + " → ".join(f"{a} ({o})" for a, o in report.path))
    if report.missing and verbose:
        out.append("Missing data sources: " + ", ".join(report.missing))
    return out
