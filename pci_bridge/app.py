"""The PCI bridge as Flask blueprints: the session API under /pci/v1 and the payment leg's voice
webhooks under /pci/voice. Standalone (`pci-bridge serve`) or mounted by `ivr serve`.

No request body is ever logged: card digits arrive in POST bodies only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from foundation.bearer import BearerGuard
from foundation.clock import utc_now
from foundation.probe import problem
from foundation.request_limits import (
    API_MAX_BYTES,
    WEBHOOK_MAX_BYTES,
    BodyProblem,
    json_object,
    limit_bodies,
)
from foundation.twilio_signature import is_call_sid, is_valid
from pci_bridge.config import BridgeConfig
from pci_bridge.crypto import CardBox
from pci_bridge.errors import PciBridgeError, ValidationError
from pci_bridge.gateway import Gateway, SimulatedGateway
from pci_bridge.ledger import Ledger
from pci_bridge.leg import PaymentLeg
from pci_bridge.openapi import document
from pci_bridge.outbox import Outbox, OutboxWorker
from pci_bridge.payments import Payments
from pci_bridge.sessions import Sessions
from pci_bridge.state import LiveState, open_state

log = logging.getLogger("pci_bridge")

api = Blueprint("pci_api", __name__, url_prefix="/pci/v1")  # = API_PREFIX
voice = Blueprint("pci_voice", __name__, url_prefix="/pci/voice")

FINAL_CALL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}


@dataclass
class Bridge:
    config: BridgeConfig
    ledger: Ledger
    state: LiveState
    gateway: Gateway
    sessions: Sessions
    leg: PaymentLeg
    outbox: Outbox

    owns_state: bool = False
    worker: OutboxWorker | None = None

    def checks(self) -> dict[str, str]:
        """Readiness of what the bridge needs: its live state and its ledger ("ok" or why
        not). Says nothing about sessions, keys or cards."""
        out: dict[str, str] = {}
        client = getattr(self.state, "client", None)  # Redis; memory state is always there
        try:
            if client is not None:
                client.ping()
            out["bridge_state"] = "ok"
        except Exception as exc:
            out["bridge_state"] = problem(exc)
        try:
            with self.ledger.db.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            out["bridge_ledger"] = "ok"
        except Exception as exc:
            out["bridge_ledger"] = problem(exc)
        return out

    def deliver_when_ended(self) -> None:
        """Simulated calls and tests: send a session's outcome as soon as it ends."""

        def deliver(_: str) -> None:
            self.outbox.deliver_due()

        self.sessions.on_ended = deliver

    def start_delivery(self) -> None:
        """A serving process: a thread sends outcomes when sessions end and retries the rest
        every `outbox_interval` seconds, and settles sessions whose leg was lost (a Redis
        that lost its data, a worker that died) once the live state answers again."""
        if self.worker is None:
            self.worker = OutboxWorker(
                self.outbox,
                self.config.outbox_interval,
                chores=(("settling lost payment legs", self.sessions.sweep),),
            )
            self.sessions.on_ended = lambda _: self.worker.poke()  # type: ignore[union-attr]
            self.worker.start()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.ledger.close()
        if self.owns_state and hasattr(self.state, "close"):
            self.state.close()


def build_bridge(
    config: BridgeConfig,
    *,
    clock: Callable[[], datetime] = utc_now,
    state: LiveState | None = None,
    gateway: Gateway | None = None,
    key: bytes | None = None,
    http: requests.Session | None = None,
) -> Bridge:
    """Wire a bridge. `http`: the session the outbox sends payment results with."""
    if (
        state is None
        and key is None
        and (config.state_url or "").startswith(("redis://", "rediss://", "unix://"))
        and not os.environ.get("PCI_DATA_KEY")
    ):
        log.warning(
            "PCI_DATA_KEY is not set: card fields are sealed with a key of this "
            "process only, so only this process can finish a payment leg it started. "
            "Set PCI_DATA_KEY when several processes share %s",
            config.state_url,
        )
    ledger = Ledger(config.database_url)
    live = state if state is not None else open_state(config.state_url)
    gw = gateway if gateway is not None else SimulatedGateway(ledger, config.gateway_latency)
    sessions = Sessions(config, ledger, live, gw, clock)
    leg = PaymentLeg(sessions, CardBox(key), _turn_url)
    outbox = Outbox(ledger, config.result_webhook, config.webhook_secret, clock, http)
    try:
        sessions.recover()
    except Exception as exc:  # Redis away: start all the same; the background worker settles
        log.error(
            "recovering live payment sessions at start failed (%s); they are settled "
            "when the live state answers again",
            type(exc).__name__,
        )
    return Bridge(config, ledger, live, gw, sessions, leg, outbox, owns_state=state is None)


def _turn_url(session_id: str, turn: int) -> str:
    base = bridge().config.public_url
    root = base.rstrip("/") if base else request.script_root
    return f"{root}/pci/voice/turn/{session_id}/{turn}"


def bridge() -> Bridge:
    return current_app.extensions["pci_bridge"]


API_PREFIX = "/pci/v1"
PUBLIC_API_PATHS = frozenset({f"{API_PREFIX}/openapi.json"})


def register(app: Flask, bridge_: Bridge) -> None:
    """Mount the bridge's blueprints on `app` (its own or the engine's). Every `/pci/v1` path
    but the OpenAPI document needs one of the bridge's bearer keys, whatever else `app`
    serves; the voice webhooks need a Twilio signature when an auth token is configured."""
    app.extensions["pci_bridge"] = bridge_
    limit_bodies(app, API_PREFIX, API_MAX_BYTES)
    limit_bodies(app, "/pci/voice", WEBHOOK_MAX_BYTES)
    BearerGuard(
        prefix=API_PREFIX,
        realm="pci-bridge",
        keys=lambda: bridge_.config.api_keys,
        public=PUBLIC_API_PATHS,
    ).install(app)
    app.register_blueprint(api)
    app.register_blueprint(voice)
    app.register_error_handler(HTTPException, _http_error)


def _http_error(exc: HTTPException) -> Any:
    """Routing errors (404, 405) under the API answer JSON like every other API error."""
    if request.path.startswith(api.url_prefix or "/pci/v1"):
        return jsonify({"error": f"{exc.code} {exc.name}: {exc.description}"}), exc.code
    return exc


def create_bridge_app(config: BridgeConfig | None = None, **wiring: Any) -> Flask:
    """The bridge on its own (`pci-bridge serve`)."""
    app = Flask("pci_bridge", static_folder=None)
    register(app, build_bridge(config or BridgeConfig(), **wiring))
    return app


# --- session API ---------------------------------------------------------------------------


@api.errorhandler(PciBridgeError)
def _error(exc: PciBridgeError) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, ValidationError):
        body["field"] = exc.field
    return jsonify(body), exc.status


@api.errorhandler(Exception)
def _crash(exc: Exception) -> tuple[Response, int]:
    if hasattr(exc, "code") and isinstance(exc.code, int):  # werkzeug HTTP errors
        return jsonify({"error": str(exc)}), exc.code  # type: ignore[attr-defined]
    log.exception("session API failed")  # the traceback holds no request body
    return jsonify({"error": "internal error"}), 500


@api.post("/sessions")
def create_session() -> tuple[Response, int]:
    try:
        body = json_object()
    except BodyProblem as exc:
        raise ValidationError("body", str(exc)) from None
    key = request.headers.get("Idempotency-Key")
    if key is not None and (not key.strip() or len(key) > 255):
        raise ValidationError("Idempotency-Key", "1 to 255 characters")
    row, created = bridge().sessions.create(body, key)
    return jsonify(row.public()), 201 if created else 200


@api.get("/sessions")
def session_by_clid() -> Response:
    clid = request.args.get("clid")
    if not clid:
        raise ValidationError("clid", "give ?clid=E164")
    return jsonify(bridge().sessions.by_clid(clid).public())


@api.get("/sessions/<session_id>")
def get_session(session_id: str) -> Response:
    return jsonify(bridge().sessions.view(session_id))


@api.post("/sessions/<session_id>/cancel")
def cancel_session(session_id: str) -> Response:
    return jsonify(bridge().sessions.cancel(session_id).public())


@api.get("/payments")
def list_payments() -> Response:
    """Ended sessions for back-office screens: ?q=&status=&from=&to=&limit=&cursor=."""
    return jsonify(Payments(bridge().ledger).listing(request.args))


@api.get("/payments/<code>")
def find_payment(code: str) -> Response:
    """One payment by its confirmation code, with each card tried."""
    return jsonify(Payments(bridge().ledger).find(code))


@api.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


# --- voice ---------------------------------------------------------------------------------


@voice.before_request
def _signature() -> Response | None:
    token = bridge().config.auth_token
    if not token:
        return None
    if is_valid(request, token, bridge().config.public_url):
        return None
    return Response("invalid Twilio signature", status=403, mimetype="text/plain")


@voice.before_request
def _call_sid() -> Response | None:
    """A CallSid that Twilio cannot have sent never reaches a state key or a log line."""
    sid = request.form.get("CallSid", "")
    if is_call_sid(sid):
        return None
    log.warning(
        "POST %s refused: CallSid %r is not a Twilio call SID (CA and 32 hex digits)",
        request.path,
        sid[:40],
    )
    return _apology()


def _twiml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


def _apology() -> Response:
    response = VoiceResponse()
    response.say(bridge().config.prompt("unavailable"))
    response.hangup()
    return _twiml(str(response))


@voice.post("")
def incoming() -> Response:
    form = request.form
    try:
        return _twiml(bridge().leg.incoming(form.get("CallSid", ""), form.get("From", "")))
    except Exception:
        log.exception("[%s] payment leg failed", form.get("CallSid", ""))
        return _apology()


@voice.post("/turn/<session_id>/<int:turn>")
def turn(session_id: str, turn: int) -> Response:
    try:
        return _twiml(bridge().leg.turn(session_id, turn, request.form.get("Digits", "")))
    except Exception:
        log.exception("[%s] payment leg failed", request.form.get("CallSid", ""))
        return _apology()


@voice.post("/status")
def status() -> Response:
    form = request.form
    if form.get("CallStatus") in FINAL_CALL_STATUSES:
        try:
            bridge().leg.ended(form.get("CallSid", ""))
        except Exception:
            log.exception("[%s] payment leg status failed", form.get("CallSid", ""))
    return Response("", status=204)
