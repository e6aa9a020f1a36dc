"""The collections API the call plans use (`/collections/v1`, bearer COLLECTIONS_API_KEY): set
up a payment plan for a case, and start it once its first payment is taken on the PCI bridge
(its card saved as a token, read from the bridge, never passed through the plan)."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, jsonify

from foundation.bearer import BearerGuard
from foundation.request_limits import API_MAX_BYTES, BodyProblem, json_object, limit_bodies
from ivr.collections.bridge import BridgeClient, BridgeProblem
from ivr.collections.cases import Cases, CaseState, NotAllowed, UnknownCase
from ivr.collections.instalments import Instalments
from ivr.collections.plans import PaymentPlan, Plans

log = logging.getLogger("ivr.collections")

PREFIX = "/collections/v1"
bp = Blueprint("collections_api", __name__, url_prefix=PREFIX)


class PlansHost(Protocol):
    """What the API needs of the collections the composition root wired."""

    @property
    def cases(self) -> Cases: ...

    @property
    def plans(self) -> Plans: ...

    @property
    def bridge(self) -> BridgeClient | None: ...

    @property
    def instalments(self) -> Instalments | None: ...


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


@bp.errorhandler(BodyProblem)
def _bad_body(exc: BodyProblem) -> tuple[Response, int]:
    return _error(400, str(exc))


@bp.errorhandler(BridgeProblem)
def _bridge_down(exc: BridgeProblem) -> tuple[Response, int]:
    return _error(502, str(exc))


@bp.post("/cases/<int:case_id>/plans")
def create_plan(case_id: int) -> tuple[Response, int]:
    """Body {"months": 1-3}: the plan, first payment due today (in the customer's zone)."""
    body = json_object()
    months = _whole(body.get("months"), "months")
    host = _host()
    case = host.cases.get(case_id)
    today = host.cases.clock().astimezone(ZoneInfo(case.timezone)).date()
    plan = host.plans.create(case, months, today)
    log.info("collections: case %s: plan %s of %d payments set up", case.id, plan.id, months)
    return jsonify({"plan": {**plan.as_dict(), "currency": case.currency}}), 201


@bp.post("/plans/<int:plan_id>/card")
def start_plan(plan_id: int) -> tuple[Response, int]:
    """Body {"session_id": ...}: the bridge session that took the first payment with
    save_card; the plan starts and the case is `plan_scheduled`."""
    body = json_object()
    session_id = body.get("session_id")
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 64:
        raise BodyProblem("session_id: expected the bridge session's id")
    host = _host()
    if host.bridge is None:
        return _error(503, "no PCI bridge is configured for collections")
    plan = host.plans.get(plan_id)
    case = host.cases.get(plan.case_id)
    view = host.bridge.session(session_id)
    result = view.get("result") or {}
    first = plan.instalments[0]
    problem = _not_a_first_payment(view, result, first.amount_minor)
    if not problem and view.get("currency") != case.currency:
        problem = f"it was taken in {view.get('currency')}, not the case's {case.currency}"
    if view.get("reference") != f"{case.account}/plan-{plan.id}":
        problem = f"it was not taken for this plan (reference {case.account}/plan-{plan.id})"
    if problem:
        return _error(409, f"session {session_id}: {problem}")
    started = host.plans.start(
        plan_id,
        str(result["card_token"]),
        session_id,
        str(result.get("confirmation_code")),
        zone=case.timezone,
    )
    _plan_scheduled(host.cases, started)
    if host.instalments is not None:  # a plan of one payment is paid in full already
        host.instalments.resolve_if_done(started.id, host.cases.get(started.case_id))
        started = host.plans.get(plan_id)
    return jsonify({"plan": started.as_dict()}), 201


@bp.get("/plans/<int:plan_id>")
def show_plan(plan_id: int) -> Response:
    return jsonify({"plan": _host().plans.get(plan_id).as_dict()})


def _not_a_first_payment(view: dict[str, Any], result: dict[str, Any], minor: int) -> str:
    if result.get("outcome") != "success":
        return f"the payment did not succeed ({result.get('outcome') or view.get('state')})"
    if not result.get("card_token"):
        return "the card was not saved (create the session with save_card: true)"
    try:
        paid = int(Decimal(str(view.get("amount"))).scaleb(2))
    except (InvalidOperation, ValueError):
        paid = -1
    if paid != minor:
        return f"it took {view.get('amount')}, not the plan's first payment"
    return ""


def _plan_scheduled(cases: Cases, plan: PaymentPlan) -> None:
    case = cases.get(plan.case_id)
    if case.state is CaseState.PLAN_SCHEDULED:
        return
    cases.move(
        case.id,
        CaseState.PLAN_SCHEDULED,
        f"plan {plan.id} of {plan.months} monthly payments; the first taken "
        f"({plan.instalments[0].confirmation_code})",
    )


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise BodyProblem(f"{name}: expected a whole number, found {value!r}")
    return int(value)


def register(app: Flask, host: PlansHost, key: str) -> None:
    """Mount the API on `app` for `host`, guarded by the bearer `key`."""
    app.extensions["collections"] = host
    BearerGuard(prefix=PREFIX, realm="collections", keys=lambda: (key,)).install(app)
    limit_bodies(app, PREFIX, API_MAX_BYTES)
    app.register_blueprint(bp)
