"""Calls in the console: the dashboard's figures, call records with filters, one call's path."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request

from foundation.clock import utc_now
from ivr.console.auth import needs
from ivr.console.blueprint import bp
from ivr.console.roles import May
from ivr.console.services import services
from ivr.console.stats import figures, period_of
from ivr.engine.records import CallRecord

PAGE = 100
DASHBOARD_MAX = 20_000  # calls read for the dashboard's figures


def _arg(name: str, limit: int = 100) -> str:
    return request.args.get(name, "").strip()[:limit]


@bp.get("/")
@needs(May.VIEW)
def dashboard() -> Any:
    try:
        period = period_of(_arg("from") or None, _arg("to") or None, utc_now().date())
    except ValueError as exc:
        abort(400, description=f"The period cannot be used: {exc}.")
    records = services().records.recent(
        DASHBOARD_MAX + 1, since=period.since(), until=period.until()
    )
    shown = figures(records[:DASHBOARD_MAX], period, truncated=len(records) > DASHBOARD_MAX)
    return render_template("console/dashboard.html", f=shown)


@bp.get("/calls")
@needs(May.VIEW)
def calls() -> Any:
    filters = {
        "number": _arg("number"),
        "plan": _arg("plan"),
        "outcome": _arg("outcome"),
        "since": _arg("from", 10),
        "until": "",
    }
    day = _arg("to", 10)
    if day:
        try:
            filters["until"] = period_of(day, day, utc_now().date()).until()
        except ValueError as exc:
            abort(400, description=f"The date 'to' cannot be used: {exc}.")
    records: list[CallRecord] = services().records.recent(
        PAGE, **{k: v for k, v in filters.items() if v}
    )
    return render_template("console/calls.html", records=records, args=request.args, page=PAGE)


@bp.get("/calls/<call_sid>")
@needs(May.VIEW)
def call(call_sid: str) -> Any:
    record = services().records.find(call_sid[:64])
    if record is None:
        abort(404, description=f"There is no record of call {call_sid[:64]}.")
    return render_template("console/call.html", r=record)
