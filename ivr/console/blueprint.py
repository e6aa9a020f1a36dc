"""The console's blueprint under /console: the CSRF check on every state-changing request,
pages for errors, and what every template is given."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, g, render_template
from flask_wtf.csrf import generate_csrf
from werkzeug.exceptions import HTTPException

from ivr.console.auth import check_csrf, signed_in
from ivr.console.roles import May

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# (endpoint, label, what the user must be allowed) — the navigation, in order
NAVIGATION = [
    ("console.dashboard", "Dashboard", May.VIEW),
    ("console.plans", "Plans", May.VIEW),
    ("console.calls", "Calls", May.VIEW),
    ("console.payments", "Payments", May.VIEW),
    ("console.phone", "Softphone", May.EDIT),
    ("console.users_page", "Users", May.ADMINISTER),
    ("console.audit", "Audit log", May.ADMINISTER),
]


@bp.before_request
def _csrf() -> None:
    check_csrf()


@bp.after_request
def _no_store(response: Any) -> Any:
    """Console pages carry call and payment data: never cached, never framed."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'self'; img-src 'self' data:; style-src 'self' 'nonce-{csp_nonce()}'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    return response


def csp_nonce() -> str:
    """This response's nonce for the style elements the plan editor (CodeMirror) adds."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


@bp.context_processor
def _page_context() -> dict[str, Any]:
    user = signed_in()
    nav = [(endpoint, label) for endpoint, label, need in NAVIGATION if user and user.may(need)]
    return {"me": user, "navigation": nav, "csrf_token": generate_csrf, "csp_nonce": csp_nonce}


@bp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> Any:
    """A console route's errors are pages, with the navigation."""
    code = error.code or 500
    titles = {
        400: "That request could not be used",
        401: "Sign in first",
        403: "Not allowed",
        404: "Not found",
        405: "Not allowed here",
        413: "Too large",
        429: "Too many attempts",
    }
    message = {
        403: "Your role does not allow this. Nothing was changed.",
        401: "Your session has ended. Sign in again; nothing was changed.",
    }.get(code, error.description or "")
    return (
        render_template(
            "console/error.html", code=code, title=titles.get(code, "Error"), message=message
        ),
        code,
    )
