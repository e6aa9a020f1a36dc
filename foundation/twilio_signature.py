"""Twilio webhooks: request signatures (X-Twilio-Signature) checked with the `twilio` library,
and the shape of a CallSid."""

from __future__ import annotations

import hmac
import re

from twilio.request_validator import RequestValidator
from werkzeug.wrappers import Request

CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")


def public_url(request: Request, base: str | None) -> str:
    """The URL Twilio requested: the configured public base + path + query, or the request's."""
    if not base:
        return request.url
    query = request.query_string.decode(errors="replace")  # Twilio's is UTF-8: else no match
    path = request.script_root + request.path
    return base.rstrip("/") + path + (f"?{query}" if query else "")


def is_valid(request: Request, token: str, base: str | None) -> bool:
    """Whether the request carries Twilio's signature of its URL and form. The URL as
    requested is tried first (one HMAC: the usual case); only when that does not match does
    the library's full check run, which also tries the URL with and without its port."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    params = request.form.to_dict(flat=True)
    url = public_url(request, base)
    validator = RequestValidator(token)
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return bool(validator.validate(url, params, signature))


def is_call_sid(value: str) -> bool:
    """A CallSid Twilio could have sent: `CA` and 32 hex digits."""
    return bool(CALL_SID.fullmatch(value))
