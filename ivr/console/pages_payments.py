"""Payments in the console (the seeds' payments screen and payment inquiries): the list with
status, and for the payments role search by confirmation code, reference or caller and one
payment's full history. Everything is read through the bridge's payments API."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request

from ivr.console.auth import needs, signed_in
from ivr.console.blueprint import bp
from ivr.console.payments_api import PaymentNotFound, PaymentsApi, PaymentsUnavailable
from ivr.console.roles import May
from ivr.console.services import services

PAGE = 50
STATUSES = ("completed", "failed", "cancelled", "abandoned", "expired", "success", "declined",
            "too_many_attempts", "gateway_error")  # fmt: skip


def masked_number(number: str | None) -> str:
    """A caller's number as a viewer sees it: the last three digits."""
    if not number:
        return "withheld"
    return "•" * max(0, len(number) - 3) + number[-3:]


def _api() -> PaymentsApi:
    api = services().payments
    if api is None:
        abort(503, description="No PCI bridge is configured for this console (pci or "
              "payments_api_url in config.yaml).")  # fmt: skip
    return api


@bp.get("/payments")
@needs(May.VIEW)
def payments() -> Any:
    me = signed_in()
    assert me is not None
    inquiring = me.may(May.INQUIRE)
    args = {k: request.args.get(k, "").strip()[:64] for k in ("q", "status", "from", "to")}
    if args["q"] and not inquiring:
        abort(403)  # a search is a payment inquiry: the payments role
    try:
        page = _api().listing(**args, limit=str(PAGE), cursor=request.args.get("cursor", ""))
        problem = None
    except ValueError as exc:
        page, problem = {"payments": [], "next_cursor": None}, str(exc)
    except PaymentsUnavailable as exc:
        page, problem = {"payments": [], "next_cursor": None}, f"{exc}. Try again shortly."
    for p in page["payments"]:
        p["caller"] = p.get("caller_clid") if inquiring else masked_number(p.get("caller_clid"))
    return render_template(
        "console/payments.html",
        page=page,
        args=args,
        statuses=STATUSES,
        inquiring=inquiring,
        problem=problem,
    ), (400 if problem and "Try again" not in problem else 200)


@bp.get("/payments/<session_id>")
@needs(May.INQUIRE)
def payment(session_id: str) -> Any:
    try:
        found = _api().find(session_id[:64])
    except PaymentNotFound:
        abort(404, description=f"There is no ended payment {session_id[:64]}.")
    except ValueError as exc:
        abort(400, description=str(exc))
    except PaymentsUnavailable as exc:
        abort(503, description=f"{exc}. Try again shortly.")
    call = services().call_of_payment(found)
    return render_template("console/payment.html", p=found, call=call)
