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


def _sources(source: str, searching: bool) -> list[tuple[PaymentsApi, bool]]:
    """The payments APIs to read, each with whether its payments are tests: the live bridge,
    the softphone's (`source=test`), or both for a search (a code is found wherever it is)."""
    test = services().test_payments() if source == "test" or searching else None
    if source == "test":
        if test is None:
            abort(404, description="There is no softphone here, so no test payments.")
        return [(test, True)]
    return [(_api(), False)] + ([(test, True)] if test is not None else [])


@bp.get("/payments")
@needs(May.VIEW)
def payments() -> Any:
    me = signed_in()
    assert me is not None
    inquiring = me.may(May.INQUIRE)
    args = {k: request.args.get(k, "").strip()[:64] for k in ("q", "status", "from", "to")}
    source = "test" if request.args.get("source") == "test" else "live"
    if args["q"] and not inquiring:
        abort(403)  # a search is a payment inquiry: the payments role
    cursor = request.args.get("cursor", "")
    page: dict[str, Any] = {"payments": [], "next_cursor": None}
    problem = None
    for api, test in _sources(source, bool(args["q"]) and not cursor):
        try:
            found = api.listing(**args, limit=str(PAGE), cursor=cursor)
        except ValueError as exc:
            problem = str(exc)
            break
        except PaymentsUnavailable as exc:
            problem = f"{exc}. Try again shortly."
            continue
        for p in found["payments"]:
            p["test"] = test
        page["payments"].extend(found["payments"])
        if test == (source == "test"):  # older pages: of the source chosen
            page["next_cursor"] = found.get("next_cursor")
    for p in page["payments"]:
        p["caller"] = p.get("caller_clid") if inquiring else masked_number(p.get("caller_clid"))
    return render_template(
        "console/payments.html",
        page=page,
        args=args,
        source=source,
        statuses=STATUSES,
        inquiring=inquiring,
        problem=problem,
    ), (400 if problem and "Try again" not in problem else 200)


@bp.get("/payments/<session_id>")
@needs(May.INQUIRE)
def payment(session_id: str) -> Any:
    """One payment, live or (from the softphone) a test one."""
    for api, test in _sources("live", True):
        try:
            found = api.find(session_id[:64])
        except PaymentNotFound:
            continue
        except ValueError as exc:
            abort(400, description=str(exc))
        except PaymentsUnavailable as exc:
            abort(503, description=f"{exc}. Try again shortly.")
        call = services().call_of_payment(found)
        return render_template("console/payment.html", p=found, call=call, test=test)
    abort(404, description=f"There is no ended payment {session_id[:64]}.")
