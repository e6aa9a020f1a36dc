"""The demo billing service over HTTP (JSON): mounted at /demo/billing by `ivr serve`, or on
its own with `python -m demo.billing`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from demo.billing.service import Billing, BillingError
from foundation.bearer import BearerGuard
from foundation.request_limits import API_MAX_BYTES, BodyProblem, json_object, limit_bodies
from foundation.signing import SIGNATURE_HEADER, signature_valid

PREFIX = "/demo/billing"
RESULTS = f"{PREFIX}/payment-results"
bp = Blueprint("demo_billing", __name__, url_prefix=PREFIX)


def billing() -> Billing:
    return current_app.extensions["demo_billing"]


def today() -> date:
    clock: Callable[[], datetime] = current_app.extensions["demo_billing_clock"]
    return clock().astimezone(ZoneInfo("Europe/London")).date()


@bp.errorhandler(BillingError)
def _error(exc: BillingError) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": str(exc)}
    if exc.field:
        body["field"] = exc.field
    return jsonify(body), exc.status


def _body() -> dict[str, Any]:
    try:
        return json_object()
    except BodyProblem as exc:
        raise BillingError(400, str(exc)) from None


@bp.get("/accounts")
def find_by_phone() -> Response:
    account = billing().by_phone(request.args.get("phone", ""))
    return jsonify({"account": billing().summary(account, today())})


@bp.get("/accounts/<number>")
def find_by_number(number: str) -> Response:
    account = billing().by_number(number)
    return jsonify({"account": billing().summary(account, today())})


@bp.post("/accounts/<number>/verify")
def verify(number: str) -> Response:
    account = billing().by_number(number)
    return jsonify({"verified": billing().verify(account, str(_body().get("digits", "")))})


@bp.get("/accounts/<number>/bills/<int:position>")
def bill(number: str, position: int) -> Response:
    account = billing().by_number(number)
    return jsonify({"bill": billing().bill_at(account, position, today())})


@bp.put("/accounts/<number>/collections-flag")
def flag(number: str) -> Response:
    account = billing().by_number(number)
    flagged = billing().set_collections_flag(account, True)
    return jsonify({"account": account["number"], "collections_flag": flagged})


@bp.delete("/accounts/<number>/collections-flag")
def unflag(number: str) -> Response:
    account = billing().by_number(number)
    flagged = billing().set_collections_flag(account, False)
    return jsonify({"account": account["number"], "collections_flag": flagged})


@bp.post("/accounts/<number>/payments")
def pay(number: str) -> tuple[Response, int]:
    account = billing().by_number(number)
    return jsonify({"payment": billing().pay(account, _body(), today())}), 201


@bp.post("/accounts/<number>/promises")
def promise(number: str) -> tuple[Response, int]:
    account = billing().by_number(number)
    return jsonify({"promise": billing().promise(account, _body(), today())}), 201


@bp.post("/accounts/<number>/plans")
def plan(number: str) -> tuple[Response, int]:
    account = billing().by_number(number)
    return jsonify({"plan": billing().plan(account, _body(), today())}), 201


@bp.post("/payment-results")
def payment_result() -> tuple[Response, int]:
    """The PCI bridge's payment-result webhook: a successful payment is posted to its account
    (once: the same confirmation code again changes nothing), anything else acknowledged."""
    secret = current_app.extensions["demo_billing_webhook_secret"]
    raw = request.get_data(cache=True)
    if not secret or not signature_valid(secret, raw, request.headers.get(SIGNATURE_HEADER)):
        return jsonify({"error": f"401 Unauthorized: a valid {SIGNATURE_HEADER} is required"}), 401
    event = _body()
    result = event.get("result") or {}
    if event.get("event") != "payment.ended" or result.get("outcome") != "success":
        return jsonify({"payment": None}), 200
    # The plans give the bridge ACCOUNT or ACCOUNT/BILL as the reference.
    account_id, _, bill_id = str(event.get("reference", "")).partition("/")
    account = billing().by_number(account_id)
    payment = billing().pay(
        account,
        {
            "amount": result.get("amount"),
            "confirmation_code": result.get("confirmation_code"),
            "pci_session_id": event.get("session_id"),
            "bill_id": bill_id or None,
        },
        today(),
    )
    return jsonify({"payment": payment}), 200


@bp.get("/payments/<code>")
def payment_status(code: str) -> Response:
    return jsonify({"payment": billing().payment_status(code)})


def register(
    app: Flask,
    service: Billing | None = None,
    *,
    token: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    webhook_secret: str | None = None,
) -> Billing:
    """Mount the service on `app`. Every path under /demo/billing needs
    `Authorization: Bearer TOKEN` (401 otherwise), except the payment-result webhook, which
    needs the bridge's X-PCI-Signature made with `webhook_secret` (off without one)."""
    service = service or Billing.from_file()
    app.extensions["demo_billing"] = service
    app.extensions["demo_billing_clock"] = clock
    app.extensions["demo_billing_webhook_secret"] = webhook_secret
    BearerGuard(
        prefix=PREFIX, realm="demo-billing", keys=lambda: (token,), public=frozenset({RESULTS})
    ).install(app)
    limit_bodies(app, PREFIX, API_MAX_BYTES)
    app.register_blueprint(bp)
    return service


def create_app(token: str) -> Flask:
    app = Flask("demo_billing", static_folder=None)
    register(app, token=token)
    return app
