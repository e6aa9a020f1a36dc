"""Twilio's voice webhooks served as a WSGI app of their own, in front of the Flask app.

Every turn of every call comes through here, so this path does only what a webhook needs:
the body limit, the signature check, one route match, the log line's CallSid, the stage and
turn timings, then the handler in ivr.adapters.voice. Flask's per-request machinery (contexts,
the console's session and sign-in hooks, the other routes' hooks) cost more than the check
and the routing together; every other path goes on to Flask unchanged.

Nothing here answers with an application error: a failure past the checks is logged and the
caller hears the apology (a status callback gets a 500, which Twilio only logs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from foundation import stages
from foundation.request_limits import MAX_FORM_PARTS, WEBHOOK_MAX_BYTES, refuse_unbounded
from foundation.twilio_signature import is_call_sid, is_valid
from ivr.adapters import metrics, voice
from ivr.adapters.logs import bind_call, unbind

log = logging.getLogger("ivr.web")

PREFIX = "/voice"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The endpoint names are the route inventory's (tests/test_route_protection.py): each is a
# Twilio webhook, refused without Twilio's signature when an auth token is set.
RULES = Map(
    [
        Rule("/voice", endpoint="voice.incoming", methods=["POST"]),
        Rule("/voice/outbound", endpoint="voice.outbound", methods=["POST"]),
        Rule("/voice/turn/<int:turn>/keys", endpoint="voice.keys", methods=["POST"]),
        Rule("/voice/turn/<int:turn>/dial", endpoint="voice.dial", methods=["POST"]),
        Rule("/voice/turn/<int:turn>/queue", endpoint="voice.queue", methods=["POST"]),
        Rule("/voice/orphan", endpoint="voice.orphan", methods=["POST"]),
        Rule("/voice/status", endpoint="voice.status", methods=["POST"]),
    ],
    merge_slashes=False,  # /voice//status is not found (no redirect to a guessed host)
)

HANDLERS: dict[str, Callable[..., Response]] = {
    "voice.incoming": voice.incoming,
    "voice.outbound": voice.outbound,
    "voice.keys": voice.keys,
    "voice.dial": voice.dial,
    "voice.queue": voice.queue,
    "voice.orphan": voice.orphan,
    "voice.status": voice.status,
}


def signature_refused(path: str) -> Response:
    """The answer to a webhook without Twilio's signature (counted and logged)."""
    metrics.ERRORS.labels(metrics.SIGNATURE_REFUSED).inc()
    log.warning("403: bad or missing X-Twilio-Signature for %s", path)
    return Response("invalid Twilio signature", status=403, mimetype="text/plain")


def report_stages() -> None:
    """Observe where this request's time went (ivr_webhook_stage_seconds), and close the
    account `stages.begin()` opened."""
    taken = stages.taken()
    if "turn" in taken:  # the engine's own share: the turn less its two Redis steps
        session = taken.get("session_read", 0.0) + taken.get("session_write", 0.0)
        taken["engine"] = max(taken.pop("turn") - session, 0.0)
    for name, seconds in taken.items():
        metrics.child(metrics.STAGES, name).observe(seconds)


class VoiceWebhooks:
    """WSGI: the paths under /voice answered here, every other path by `app` (Flask)."""

    def __init__(
        self, app: WSGIApp, host: voice.VoiceHost, auth_token: str | None, public_url: str | None
    ) -> None:
        self.app = app
        self.host = host
        self.auth_token = auth_token
        self.public_url = public_url
        # matched by path and method only: OPTIONS, GET and HEAD are 405 (403 with a token)
        self.routes = RULES.bind("localhost")

    def rules(self) -> list[Rule]:
        """The routes answered here (for the route inventory)."""
        return list(RULES.iter_rules())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return self.app(environ, start_response)
        return self.answer(environ, path)(environ, start_response)

    def answer(self, environ: dict[str, Any], path: str) -> Response | HTTPException:
        request = Request(environ)
        request.max_content_length = WEBHOOK_MAX_BYTES
        request.max_form_memory_size = WEBHOOK_MAX_BYTES
        request.max_form_parts = MAX_FORM_PARTS
        stages.begin()
        started = 0.0
        endpoint = ""
        token = None
        try:
            refuse_unbounded(request, PREFIX)
            if self.auth_token and not self.signed(request):
                return signature_refused(path)
            started = time.perf_counter()
            endpoint, args = self.routes.match(path, request.method)
            sid = request.form.get("CallSid", "")
            token = bind_call(sid if is_call_sid(sid) else None)
            return HANDLERS[endpoint](voice.Webhook(request, self.host), **args)
        except HTTPException as exc:  # too large, not found, not allowed
            return exc
        except Exception:
            metrics.ERRORS.labels(metrics.ENGINE_ERROR).inc()
            log.exception("%s %s failed; answered with the apology", request.method, path)
            if endpoint == "voice.status":
                return Response("", status=500)
            return voice.say_and_hang_up(voice.APOLOGY)
        finally:
            try:
                if token is not None:
                    unbind(token)
            finally:
                report_stages()  # closes the account whatever happens next
                if endpoint:
                    webhook = endpoint.rpartition(".")[2]
                    metrics.child(metrics.TURNS, webhook).observe(time.perf_counter() - started)

    def signed(self, request: Request) -> bool:
        """Whether a POST carries Twilio's signature; a request the check cannot even read
        (a URL that is not UTF-8, a body that is not a form) is not signed."""
        assert self.auth_token
        with stages.stage("signature"):
            try:
                return request.method == "POST" and is_valid(
                    request, self.auth_token, self.public_url
                )
            except HTTPException:
                raise  # a body over the limit: 413, as without a token
            except Exception as exc:
                log.warning("%s: the signature could not be checked (%s)", request.path, exc)
                return False
