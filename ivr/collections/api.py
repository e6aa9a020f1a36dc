"""The collections API the call plans use (`/collections/v1`, bearer COLLECTIONS_API_KEY): set
up a payment plan for a case, and start it once the PCI bridge saved its card (taking the first
payment, or nothing when none is due today; the token is read from the bridge, never passed
through the plan); and tell an inbound call about the caller's open case."""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, jsonify

from foundation.bearer import BearerGuard
from foundation.request_limits import API_MAX_BYTES, BodyProblem, json_object, limit_bodies
from ivr.collections.bridge import BridgeProblem, BridgeRefused
from ivr.collections.cases import Case, Cases, NotAllowed, UnknownCase
from ivr.collections.plans import PaymentPlan, Plans
from ivr.collections.schedules import (
    BadSchedule,
    PlanLimits,
    custom_schedule,
    monthly_schedule,
    next_day_of_month,
)
from ivr.collections.starts import PlanStarts, reference

log = logging.getLogger("ivr.collections")

PREFIX = "/collections/v1"
CALL_SID = re.compile(r"CA[0-9a-zA-Z]{32}")
SMALL_WHOLE = re.compile(r"[0-9]{1,3}")
bp = Blueprint("collections_api", __name__, url_prefix=PREFIX)


class PlansHost(Protocol):
    """What the API needs of the collections the composition root wired."""

    @property
    def cases(self) -> Cases: ...

    @property
    def plans(self) -> Plans: ...

    @property
    def starts(self) -> PlanStarts | None: ...

    @property
    def limits(self) -> PlanLimits: ...


def _host() -> PlansHost:
    host: PlansHost = current_app.extensions["collections"]
    return host


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


@bp.errorhandler(UnknownCase)
def _unknown(exc: UnknownCase) -> tuple[Response, int]:
    return _error(404, str(exc))


@bp.errorhandler(NotAllowed)
def _refused(exc: NotAllowed) -> tuple[Response, int]:
    return _error(409, str(exc))


@bp.errorhandler(BadSchedule)
def _bad_schedule(exc: BadSchedule) -> tuple[Response, int]:
    return _error(400, str(exc))


@bp.errorhandler(BodyProblem)
def _bad_body(exc: BodyProblem) -> tuple[Response, int]:
    return _error(400, str(exc))


@bp.errorhandler(BridgeProblem)
def _bridge_down(exc: BridgeProblem) -> tuple[Response, int]:
    return _error(502, str(exc))


@bp.errorhandler(BridgeRefused)
def _bridge_refused(exc: BridgeRefused) -> tuple[Response, int]:
    return _error(409, str(exc))  # an unknown session, say


@bp.post("/cases/<int:case_id>/plans")
def create_plan(case_id: int) -> tuple[Response, int]:
    """Body {"months": 1-3, "day": 1-28 (optional)}: monthly payments of the amount due, the
    first today or on the next `day` of a month; or {"payments": [{"amount", "due_date"}, ...]}
    for a custom plan within the configured limits. `session_amount` is what the bridge
    session that saves the card takes now: the first payment when it is due today, else 0.00
    (a verification)."""
    body = json_object()
    host = _host()
    case = host.cases.get(case_id)
    today = host.cases.clock().astimezone(ZoneInfo(case.timezone)).date()
    if "payments" in body:
        schedule = custom_schedule(body["payments"], case.amount_minor, today, host.limits)
    else:
        months = _whole(body.get("months"), "months")
        day = body.get("day")
        first = today if day in (None, "") else next_day_of_month(today, _whole(day, "day"))
        schedule = monthly_schedule(case.amount_minor, months, first, host.limits)
    if host.starts is None:
        return _error(503, "no PCI bridge is configured for collections")
    plan = host.starts.create(case, schedule)
    log.info("collections: case %s: plan %s of %d payments set up", case.id, plan.id, plan.months)
    view = {
        **plan.as_dict(),
        "currency": case.currency,
        "session_amount": f"{plan.session_amount(today):.2f}",
        "reference": reference(case, plan.id),
    }
    return jsonify({"plan": view}), 201


@bp.post("/plans/<int:plan_id>/card")
def start_plan(plan_id: int) -> tuple[Response, int]:
    """Body {"session_id": ...}: the bridge session that saved the card (save_card), taking
    the first payment or, when none was due today, nothing; the plan starts and the case is
    `plan_scheduled`."""
    body = json_object()
    session_id = body.get("session_id")
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 64:
        raise BodyProblem("session_id: expected the bridge session's id")
    host = _host()
    if host.starts is None:
        return _error(503, "no PCI bridge is configured for collections")
    started = host.starts.start(plan_id, session_id)
    return jsonify({"plan": started.as_dict()}), 201


@bp.get("/plans/<int:plan_id>")
def show_plan(plan_id: int) -> Response:
    return jsonify({"plan": _host().plans.get(plan_id).as_dict()})


@bp.post("/accounts/<path:account>/calls")
def inbound_call(account: str) -> Response:
    """Body {"call_sid": ...}: a customer who rang in has passed the plan's identity check.
    The account's open case (404 when it has none), with the next payment of its plan in
    force; the call is kept on the case and settled from its record as an outbound one is
    (paying the amount due resolves the case, a promise makes it `promised`)."""
    body = json_object()
    call_sid = body.get("call_sid")
    if not isinstance(call_sid, str) or not CALL_SID.fullmatch(call_sid):
        raise BodyProblem("call_sid: expected the call's CallSid")
    if len(account) > 64:
        raise UnknownCase("no open case for that account")
    host = _host()
    case = host.cases.for_account(account)
    if case is None or not case.is_open:
        raise UnknownCase(f"no open case for account {account}")
    host.cases.record_inbound(case, call_sid)
    return jsonify({"case": case_view(case, host.plans.for_case(case.id))})


def case_view(case: Case, plans: list[PaymentPlan]) -> dict[str, Any]:
    """What a call plan may say of a case: its state, the amount due and the next payment of
    its plan in force."""
    due = next((found for p in plans if (found := p.next_due()) is not None), None)
    return {
        "id": case.id,
        "state": case.state.value,
        "amount_due": f"{case.amount_due:.2f}",
        "currency": case.currency,
        "next_payment": (
            {"amount": f"{due.amount:.2f}", "due_date": due.due_date.isoformat()} if due else None
        ),
    }


def _whole(value: Any, name: str) -> int:
    """A small whole number (months, a day of the month)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BodyProblem(f"{name}: expected a whole number, found {value!r}")
    if not SMALL_WHOLE.fullmatch(str(value)):
        raise BodyProblem(f"{name}: expected a whole number, found {str(value)[:20]!r}")
    return int(value)


def register(app: Flask, host: PlansHost, key: str) -> None:
    """Mount the API on `app` for `host`, guarded by the bearer `key`."""
    app.extensions["collections"] = host
    BearerGuard(prefix=PREFIX, realm="collections", keys=lambda: (key,)).install(app)
    limit_bodies(app, PREFIX, API_MAX_BYTES)
    app.register_blueprint(bp)
