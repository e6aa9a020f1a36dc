"""Calls in the console: the dashboard's figures, call records with filters, one call's path."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request, url_for

from foundation.clock import utc_now
from ivr.console.auth import needs, signed_in
from ivr.console.blueprint import bp
from ivr.console.pages_payments import masked_number
from ivr.console.payments_api import PaymentsUnavailable
from ivr.console.roles import May
from ivr.console.services import services
from ivr.console.stats import Figures, PaymentFigures, Period, payment_figures, period_of
from ivr.engine.records import CallRecord

PAGE = 100
PAYMENT_PAGES = 25  # of 200 payments each


def _arg(name: str, limit: int = 100) -> str:
    return request.args.get(name, "").strip()[:limit]


@bp.get("/")
@needs(May.VIEW)
def dashboard() -> Any:
    try:
        period = period_of(_arg("from") or None, _arg("to") or None, utc_now().date())
    except ValueError as exc:
        abort(400, description=f"The period cannot be used: {exc}.")
    test = request.args.get("calls") == "test"  # the softphone's test calls and payments
    counted = services().records.figures(period.since(), period.until(), test=test)
    shown = Figures(period, counted)
    view: dict[str, Any] = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    if not test:
        view["calls"] = "test"
    other_view = url_for("console.dashboard", **view)
    return render_template(
        "console/dashboard.html", f=shown, pay=_payments(period, test), other_view=other_view
    )


def _payments(period: Period, test: bool) -> PaymentFigures:
    """The period's payments (live, or the softphone's test payments), read page by page from
    the bridge's payments API."""
    api = services().test_payments() if test else services().payments
    if api is None:
        what = "no softphone" if test else "no PCI bridge is configured for this console"
        return PaymentFigures(unavailable=what)
    seen: list[dict[str, Any]] = []
    cursor = ""
    try:
        for _ in range(PAYMENT_PAGES):
            page = api.listing(
                **{"from": period.first.isoformat(), "to": period.last.isoformat()},
                limit="200",
                cursor=cursor,
            )
            seen.extend(page["payments"])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
    except (PaymentsUnavailable, ValueError) as exc:
        return PaymentFigures(unavailable=str(exc))
    return payment_figures(seen, truncated=bool(cursor))


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
    kind = {"live": False, "test": True}.get(_arg("kind"))
    records: list[CallRecord] = services().records.recent(
        PAGE, **{k: v for k, v in filters.items() if v}, test=kind
    )
    return render_template(
        "console/calls.html", records=records, args=request.args, page=PAGE, caller=_caller()
    )


@bp.get("/calls/<call_sid>")
@needs(May.VIEW)
def call(call_sid: str) -> Any:
    record = services().records.find(call_sid[:64])
    if record is None:
        abort(404, description=f"There is no record of call {call_sid[:64]}.")
    return render_template("console/call.html", r=record, caller=_caller())


def _caller() -> Any:
    """How caller numbers are shown: in full to the payments role and admins (inquiries),
    masked to the rest."""
    me = signed_in()
    if me is not None and me.may(May.INQUIRE):
        return lambda number: number or "withheld"
    return masked_number
