"""How `ivr calls` shows call records: a table of recent calls, or one call in full."""

from __future__ import annotations

from datetime import datetime

from ivr.engine.records import CallRecord


def seconds(record: CallRecord) -> str:
    """The call's length in whole seconds ("" when a time cannot be read)."""
    try:
        started = datetime.fromisoformat(record.started_at)
        ended = datetime.fromisoformat(record.ended_at)
    except ValueError:
        return ""
    return str(max(0, round((ended - started).total_seconds())))


def path_text(record: CallRecord) -> str:
    return " → ".join(f"{s.applet}({s.outcome})" for s in record.path)


def table_lines(records: list[CallRecord]) -> list[str]:
    """A header, then a line a call: start, CallSid, caller, number, plan, outcome, length,
    path (last, as it is long)."""
    head = (
        f"{'STARTED':<19}  {'CALLSID':<34}  {'CALLER':<14} {'NUMBER':<14} {'PLAN':<22} "
        f"{'OUTCOME':<18} {'SECS':>5}  PATH"
    )
    out = [head]
    for r in records:
        out.append(
            f"{r.started_at[:19]:<19}  {r.call_sid:<34}  {r.clid or 'withheld':<14} "
            f"{r.ddi:<14} {r.plan_id:<22} {r.outcome:<18} {seconds(r):>5}  {path_text(r)}"
        )
    return out


def detail_lines(record: CallRecord) -> list[str]:
    """One call: every field, then its path a step a line with the time of each step."""
    out = [
        f"call      {record.call_sid}",
        f"caller    {record.clid or 'withheld'}",
        f"number    {record.ddi}",
        f"plan      {record.plan_id} (version {record.plan_version or 'unknown'})",
        f"started   {record.started_at}",
        f"ended     {record.ended_at} ({seconds(record)} s, {record.end_status})",
        f"outcome   {record.outcome}",
    ]
    if record.missing:
        out.append("missing   " + "; ".join(record.missing))
    out.append("path")
    for step in record.path:
        where = f" [{step.plan}]" if step.plan and step.plan != record.plan_id else ""
        out.append(f"  {step.at[11:19] or step.at:<8}  {step.applet} → {step.outcome}{where}")
    return out
