"""The application factory: the voice webhooks (ivr/adapters/webhooks.py, in front) and a
Flask app with everything else (the PCI bridge and the demo billing service when present, the
console, probes, metrics), with Twilio signature checks."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from foundation.bearer import key_matches, presented_key, resolve
from foundation.request_limits import WEBHOOK_MAX_BYTES, limit_bodies
from foundation.twilio_signature import is_valid
from ivr.adapters import logs, metrics
from ivr.adapters.loopback import mount_services
from ivr.adapters.webhooks import VoiceWebhooks, signature_refused
from ivr.app import probes
from ivr.app.service_keys import log_generated
from ivr.app.settings import DEMO_BILLING_DATABASE, Settings
from ivr.app.system import System, build_system

log = logging.getLogger("ivr.web")

SIGNED_PREFIXES = ("/voice", "/collections/sms/")  # Twilio's webhooks (/voice: VoiceWebhooks)
CONSOLE_MAX_BYTES = 64 * 1024  # sign-in, user and filter forms


def mount_demo_billing(app: Flask, system_: System, private: bool) -> None:
    """The demo back office at /demo/billing (bearer token: BILLING_TOKEN); its cards on file
    become gateway tokens. Its data: `demo_billing_database`, else a SQLite file that every
    worker shares (serving) or this process's own, fresh from the seed (simulated calls)."""
    from demo.billing import Billing, register

    token = system_.keys.billing_token
    assert token is not None, "service_keys gives a token whenever demo_billing is on"
    url = system_.settings.demo_billing_database or (
        "sqlite://" if private else DEMO_BILLING_DATABASE
    )
    billing = register(
        app,
        Billing.from_file(database_url=url),
        token=token,
        clock=system_.engine.clock,
        webhook_secret=system_.keys.webhook_secret,
    )
    gateway = getattr(system_.bridge, "gateway", None)
    if gateway is not None and hasattr(gateway, "ensure_token"):
        for account in billing.accounts:
            card = account.get("card")
            if card:
                gateway.ensure_token(
                    card["token"],
                    brand=card["brand"],
                    last4=card["last4"],
                    exp_month=card["exp_month"],
                    exp_year=card["exp_year"],
                )


def payments_api(system_: System) -> Any:
    """The console's way to the bridge's payments API: `payments_api_url` (another
    deployment's bridge) or this app's own, with the key the plans use (PCI_API_KEY)."""
    from ivr.console.payments_api import PaymentsApi

    settings = system_.settings
    key = system_.keys.plan_secrets.get("PCI_API_KEY") or resolve(
        os.environ, settings.secrets, "PCI_API_KEY"
    )
    url = settings.payments_api_url or (
        settings.self_url.rstrip("/") + "/pci/v1" if system_.bridge is not None else None
    )
    if not url or not key:
        return None
    return PaymentsApi(url, key, system_.engine.http)


def mount_console(app: Flask, system_: System) -> None:
    """The operations console at /console (a serving process: it edits the published plans).
    Without a key to sign its sessions (IVR_SECRET_KEY, required with shared state) every
    console path says how to turn it on."""
    settings = system_.settings
    limit_bodies(app, "/console", CONSOLE_MAX_BYTES)
    # a plan's text may be up to max_plan_bytes, form-encoded (up to 3 bytes a byte); only a
    # signed-in user's body is read (ivr/console/auth.py, check_csrf)
    limit_bodies(app, "/console/plans", settings.max_plan_bytes * 3 + 64 * 1024)
    secret = system_.keys.console_secret
    if secret is None or system_.plans is None:
        log.warning(
            "the console at /console is off: IVR_SECRET_KEY is not set, and this process "
            "shares its state with others, which must sign sessions with the same key"
        )

        @app.route("/console/", defaults={"rest": ""})
        @app.route("/console/<path:rest>")
        def console_off(rest: str) -> Response:
            return Response(
                "The console is off: set IVR_SECRET_KEY (the same in every process) to turn "
                "it on.\n",
                status=503,
                mimetype="text/plain",
            )

        return
    from ivr.app.scenario_runs import ScenarioRuns
    from ivr.app.softphone import Softphone
    from ivr.console import ConsoleServices, register
    from ivr.console.users import Users

    services = ConsoleServices(
        users=Users(system_.plans.db),
        plans=system_.plans,
        records=system_.recorder,
        after_publish=system_.sync_plans,
        payments=payments_api(system_),
        phone=Softphone(system_),
        scenarios=ScenarioRuns(system_),
    )
    secure = (settings.public_url or "").startswith("https://")
    register(app, services, secret, secure_cookies=secure)


def create_app(
    settings: Settings | None = None,
    *,
    system: System | None = None,
    private: bool = False,
    **wiring: Any,
) -> Flask:
    """Build the webhook app. `wiring` (clock, http, store, recorder) is passed to the system.

    `private`: the app serves simulated calls or plan tests in this process only (`ivr call`,
    `ivr test`); otherwise it is a serving process (`ivr serve`, gunicorn), which refuses to
    start without the keys its shared state needs and warns when webhooks are unsigned."""
    settings = settings or Settings.load()
    if not private and not logs.configured():  # gunicorn leaves the root logger to the app
        logs.install(settings.log_level, settings.log_format)
    app = Flask("ivr", static_folder=None)  # no static files: every route is decided
    limit_bodies(app, "/collections/sms/", WEBHOOK_MAX_BYTES)
    app.extensions["ivr"] = system or build_system(settings, private=private, **wiring)
    system_: System = app.extensions["ivr"]
    # The voice webhooks are answered in front of Flask (ivr/adapters/webhooks.py)
    webhooks = VoiceWebhooks(app.wsgi_app, system_, settings.auth_token, settings.public_url)
    app.extensions["ivr_webhooks"] = webhooks
    app.wsgi_app = webhooks  # type: ignore[method-assign]
    if settings.trust_proxy:
        proxied = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
        app.wsgi_app = proxied  # type: ignore[method-assign]
    if system_.bridge is not None:
        from pci_bridge import register

        register(app, system_.bridge)
    if settings.demo_billing:
        mount_demo_billing(app, system_, private)
    if system_.bridge is not None:
        if private:
            system_.bridge.deliver_when_ended()
        else:
            system_.bridge.start_delivery()
    if not private:
        announce(settings, system_)
        # The plans reach the services this app mounts in-process: a worker never waits on
        # a worker over HTTP (simulated calls mount the whole self_url in LocalPhone).
        services = [
            path
            for path, on in (
                ("/pci/", system_.bridge is not None),
                ("/demo/billing/", settings.demo_billing),
                ("/collections/", bool(settings.collections)),
            )
            if on
        ]
        mount_services(system_.engine.http, app, settings.self_url, services)
        mount_console(app, system_)
        if settings.collections:
            from ivr.app.collections import open_collections
            from ivr.collections.api import register as register_collections_api
            from ivr.collections.sms_status import register as register_sms_status

            system_.collections = open_collections(
                settings,
                http=system_.engine.http,
                billing_token=system_.keys.billing_token,
                clock=system_.engine.clock,
                find_record=system_.recorder.find,
                pci_key=system_.keys.plan_secrets.get("PCI_API_KEY"),
            )
            assert system_.keys.collections_api_key is not None
            register_collections_api(app, system_.collections, system_.keys.collections_api_key)
            register_sms_status(app, system_.collections.cases)
        system_.start_background()  # follow the published plans (and watch the folder)

    @app.before_request
    def check_signature() -> BaseResponse | None:
        """Twilio's other webhooks (a text's delivery report) on the Flask app."""
        token = settings.auth_token
        if not token or not request.path.startswith(SIGNED_PREFIXES):
            return None
        if request.method == "POST" and is_valid(request, token, settings.public_url):
            return None
        return signature_refused(request.path)

    probes.register(app)
    register_metrics(app, os.environ.get("IVR_METRICS_TOKEN"))

    return app


def register_metrics(app: Flask, token: str | None) -> None:
    """`GET /metrics` (Prometheus text): with IVR_METRICS_TOKEN set, only for
    `Authorization: Bearer TOKEN`; without it public by design (keep it off the public
    network: docs/operations.md)."""

    @app.get("/metrics")
    def metrics_page() -> Response:
        if token:
            presented = presented_key(request.headers.get("Authorization"))
            if presented is None or not key_matches(presented, (token,)):
                answer = Response(
                    "401 Unauthorized: send IVR_METRICS_TOKEN as a bearer key\n",
                    status=401,
                    mimetype="text/plain",
                )
                answer.headers["WWW-Authenticate"] = "Bearer"
                return answer
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)


def announce(settings: Settings, system_: System) -> None:
    """What a serving process says once at start: demo services mounted, keys it made for
    itself, and unauthenticated webhooks."""
    log.info("demo services mounted: %s", "/demo/billing" if settings.demo_billing else "none")
    log_generated(system_.keys)
    if not settings.auth_token:
        log.warning(
            "TWILIO_AUTH_TOKEN is not set: the voice webhooks (/voice%s) accept "
            "requests without a Twilio signature; set it in production",
            ", /pci/voice" if system_.bridge is not None else "",
        )
