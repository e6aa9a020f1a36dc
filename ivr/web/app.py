"""The Flask application factory: engine webhooks (and, when present, the PCI bridge and the
demo billing service) on one app, with Twilio signature checks."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.settings import Settings
from ivr.system import System, build_system
from ivr.web import voice
from ivr.web.signature import is_valid

log = logging.getLogger("ivr.web")

SIGNED_PREFIXES = ("/voice",)


def mount_demo_billing(app: Flask, system_: System) -> None:
    """The demo back office at /demo/billing; its cards on file become gateway tokens."""
    from demo.billing import register

    billing = register(app, clock=system_.engine.clock)
    gateway = getattr(system_.bridge, "gateway", None)
    if gateway is not None and hasattr(gateway, "ensure_token"):
        for account in billing.accounts:
            card = account.get("card")
            if card:
                gateway.ensure_token(card["token"], brand=card["brand"], last4=card["last4"],
                                     exp_month=card["exp_month"], exp_year=card["exp_year"])


def create_app(settings: Settings | None = None, *, system: System | None = None,
               **wiring: Any) -> Flask:
    """Build the webhook app. `wiring` (clock, http, store, recorder) is passed to the system."""
    settings = settings or Settings.load()
    app = Flask("ivr")
    app.extensions["ivr"] = system or build_system(settings, **wiring)
    if settings.trust_proxy:
        proxied = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
        app.wsgi_app = proxied  # type: ignore[method-assign]
    app.register_blueprint(voice.bp)
    system_ = app.extensions["ivr"]
    if system_.bridge is not None:
        from pci_bridge import register

        register(app, system_.bridge)
    if settings.demo_billing:
        mount_demo_billing(app, system_)

    @app.before_request
    def check_signature() -> Response | None:
        token = settings.auth_token
        if not token or not request.path.startswith(SIGNED_PREFIXES):
            return None
        if request.method == "POST" and is_valid(request, token, settings.public_url):
            return None
        log.warning("403: bad or missing X-Twilio-Signature for %s", request.path)
        return Response("invalid Twilio signature", status=403, mimetype="text/plain")

    @app.get("/health")
    def health() -> dict[str, Any]:
        sys = app.extensions["ivr"]
        return {"status": "ok", "plans": sys.catalog.plan_ids, "store": sys.store.ping()}

    return app
