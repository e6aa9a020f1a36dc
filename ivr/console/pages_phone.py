"""The softphone at /console/phone: a whole call from the browser, payment leg included, on the
softphone's private system (its own simulated bridge and gateway; records marked as test
calls). The page's script rings, sends the keys keyed at each prompt and hangs up through the
JSON actions below; each answers with what the caller hears next."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, render_template, request

from ivr.console.auth import needs, signed_in
from ivr.console.blueprint import bp
from ivr.console.phone_line import PhoneCallGone, PhoneLine, PhoneMovedOn, PhoneProblem
from ivr.console.roles import May
from ivr.console.services import services

MAX_FIELD = 64


def _phone() -> PhoneLine:
    phone = services().phone
    if phone is None:
        abort(503, description="The softphone is not available in this process.")
    return phone


def _me() -> str:
    me = signed_in()
    assert me is not None  # `needs` let the request in
    return str(me.name)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="Send a JSON object.")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > MAX_FIELD:
        raise _Refused(f"'{name}' should be text of at most {MAX_FIELD} characters")
    return value


class _Refused(ValueError):
    pass


def _answer(action: Any) -> tuple[Response, int]:
    """Run a softphone action: the step as JSON, or a JSON error naming what is wrong."""
    try:
        return jsonify(action().as_dict()), 200
    except PhoneMovedOn as exc:
        return jsonify(error=str(exc)), 409
    except (PhoneProblem, _Refused) as exc:
        return jsonify(error=str(exc)), 400
    except PhoneCallGone:
        return jsonify(error="that call has ended (or was left idle too long)"), 404


@bp.get("/phone")
@needs(May.EDIT)
def phone() -> Any:
    line = services().phone
    numbers = line.numbers() if line is not None else []
    return render_template("console/phone.html", numbers=numbers, available=line is not None)


@bp.post("/phone/calls")
@needs(May.EDIT)
def phone_ring() -> tuple[Response, int]:
    body = _body()
    return _answer(lambda: _phone().ring(_me(), _text(body, "to"), _text(body, "from")))


@bp.post("/phone/calls/<call_id>/keys")
@needs(May.EDIT)
def phone_keys(call_id: str) -> tuple[Response, int]:
    body = _body()
    answered = body.get("answered")
    if not isinstance(answered, int) or isinstance(answered, bool):
        return jsonify(error="'answered' should be the number of prompts answered so far"), 400
    return _answer(
        lambda: _phone().enter(_me(), call_id[:MAX_FIELD], _text(body, "keys"), answered)
    )


@bp.post("/phone/calls/<call_id>/hangup")
@needs(May.EDIT)
def phone_hang_up(call_id: str) -> tuple[Response, int]:
    return _answer(lambda: _phone().hang_up(_me(), call_id[:MAX_FIELD]))
