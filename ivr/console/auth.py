"""Who is signed in to the console, and whether they may: Flask-Login sessions in signed
cookies, a CSRF token on every state-changing request (Flask-WTF), a role check on every
route (`@needs(May.EDIT)`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Request, Response, abort, current_app, redirect, request, url_for
from flask.sessions import (
    NullSession,
    SecureCookieSession,
    SecureCookieSessionInterface,
    SessionMixin,
)
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFError, validate_csrf

from ivr.console.roles import May, may
from ivr.console.users import User, Users

F = TypeVar("F", bound=Callable[..., Any])

SESSION_HOURS = 8


class SignedIn(UserMixin):  # type: ignore[misc]
    """The signed-in user as Flask-Login holds it. The session carries `name:epoch`: a changed
    password or role, or a removed user, signs out every session made before."""

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.name}:{self.user.session_epoch}"

    @property
    def name(self) -> str:
        return self.user.name

    def may(self, need: May | str) -> bool:
        return may(self.user.role, May(need))


def users() -> Users:
    found: Users = current_app.extensions["ivr_console_users"]
    return found


class ConsoleSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions under the console's path only: its cookie is sent nowhere else
    (SESSION_COOKIE_PATH), so every other request (a webhook, an API call) gets the null
    session and pays nothing to open and save one."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(app.config["SESSION_COOKIE_PATH"]):
            return self.null_session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, NullSession):
            return
        super().save_session(app, session, response)


def install(app: Flask, users_: Users, secret_key: str, *, secure_cookies: bool) -> None:
    """Sessions for the console on `app`."""
    app.secret_key = secret_key
    app.session_interface = ConsoleSessions()
    app.extensions["ivr_console_users"] = users_
    app.config.update(
        SESSION_COOKIE_NAME="ivr_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=SESSION_HOURS * 3600,
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
        WTF_CSRF_SSL_STRICT=secure_cookies,
    )
    manager = LoginManager()
    manager.session_protection = "basic"
    manager.init_app(app)

    @manager.user_loader
    def load(session_id: str) -> SignedIn | None:
        name, _, epoch = session_id.rpartition(":")
        user = users_.get(name) if name else None
        if user is None or str(user.session_epoch) != epoch:
            return None
        return SignedIn(user)

    @manager.unauthorized_handler
    def sign_in_first() -> Any:
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        abort(401)


def signed_in() -> SignedIn | None:
    user = cast(Any, current_user)
    return user if getattr(user, "is_authenticated", False) else None


def needs(need: May) -> Callable[[F], F]:
    """The route answers only users whose role grants `need`: others get 403 (signed out: the
    sign-in page for a page, 401 for an action)."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = signed_in()
            if user is None:
                manager: LoginManager = current_app.login_manager  # type: ignore[attr-defined]
                return manager.unauthorized()
            if not user.may(need):
                abort(403)
            return view(*args, **kwargs)

        guarded.needs = need  # type: ignore[attr-defined]  # the route inventory reads it
        return cast(F, guarded)

    return wrap


def check_csrf() -> None:
    """Refuse a state-changing request without this session's CSRF token (form field
    `csrf_token` or header X-CSRFToken): 400, nothing changed."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.endpoint != "console.login" and signed_in() is None:
        abort(401)  # before a byte of the body is read
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken", "")
    try:
        validate_csrf(token)
    except CSRFError as exc:
        abort(
            400,
            description=f"The form has expired or did not come from this console "
            f"({exc.description}). Reload the page and try again.",
        )
    except Exception as exc:  # ValidationError from wtforms
        abort(
            400,
            description=f"The form has expired or did not come from this console "
            f"({exc}). Reload the page and try again.",
        )
