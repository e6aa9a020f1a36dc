"""Twilio's delivery reports of the notices sent by text (`POST /collections/sms/status`,
signed by Twilio like every voice webhook): a text is `sent` when Twilio takes it, then
`delivered`, or `failed` with Twilio's error code when it could not reach the phone."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Flask, Response, current_app, request

from ivr.collections.cases import Cases

log = logging.getLogger("ivr.collections")

SMS_STATUS_PATH = "/collections/sms/status"
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
FAILED = {"undelivered", "failed"}

bp = Blueprint("collections_sms", __name__)


@bp.post(SMS_STATUS_PATH)
def status() -> Response:
    """One report; statuses before the last (queued, sending, sent) change nothing."""
    sid = request.form.get("MessageSid", "")
    reported = request.form.get("MessageStatus", "")
    if not MESSAGE_SID.fullmatch(sid):
        return Response("MessageSid: expected a message's SID", status=400, mimetype="text/plain")
    cases: Cases = current_app.extensions["collections_sms"]
    if reported == "delivered":
        cases.message_status(sid, "delivered", sid)
    elif reported in FAILED:
        code = request.form.get("ErrorCode", "")[:10]
        why = f"{sid}: {reported}" + (f" (Twilio error {code})" if code else "")
        if cases.message_status(sid, "failed", why):
            log.warning("collections: a notice was not delivered: %s", why)
    return Response(status=204)


def register(app: Flask, cases: Cases) -> None:
    """Mount the report webhook; the app checks its Twilio signature (SIGNED_PREFIXES)."""
    app.extensions["collections_sms"] = cases
    app.register_blueprint(bp)
