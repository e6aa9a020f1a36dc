"""Signing in and out of the console, and changing one's own password."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user

from ivr.console.auth import SignedIn, needs, signed_in, users
from ivr.console.blueprint import bp
from ivr.console.roles import May
from ivr.console.users import MAX_PASSWORD, UserProblem

WRONG = "That user name and password do not match a user of this console."


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path of this site only (no open redirect)."""
    if not target:
        return url_for("console.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or "\\" in target:
        return url_for("console.dashboard")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Public by design: the sign-in form."""
    if request.method == "GET":
        if signed_in() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("console/login.html", error=None, username="")
    username = request.form.get("username", "")[:100]
    password = request.form.get("password", "")[: MAX_PASSWORD + 1]
    attempt = users().sign_in(username, password, request.remote_addr or "unknown")
    if attempt.wait:
        error = f"Too many failed sign-ins. Wait {attempt.wait} seconds, then try again."
        return render_template("console/login.html", error=error, username=username), 429
    if attempt.user is None:
        return render_template("console/login.html", error=WRONG, username=username), 401
    session.clear()  # a fresh session (and CSRF token) for the signed-in user
    login_user(SignedIn(attempt.user))
    session.permanent = True
    users().audit(attempt.user.name, "sign_in", attempt.user.name)
    return redirect(_safe_next(request.form.get("next") or request.args.get("next")))


@bp.post("/logout")
def logout() -> Any:
    """Signs out whoever holds the session (CSRF-checked like every POST)."""
    logout_user()
    session.clear()
    return redirect(url_for("console.login"))


@bp.route("/account", methods=["GET", "POST"])
@needs(May.VIEW)
def account() -> Any:
    me = signed_in()
    assert me is not None
    error = None
    if request.method == "POST":
        current = request.form.get("current_password", "")[: MAX_PASSWORD + 1]
        new = request.form.get("new_password", "")[: MAX_PASSWORD + 1]
        again = request.form.get("new_password_again", "")[: MAX_PASSWORD + 1]
        check = users().sign_in(me.name, current, request.remote_addr or "unknown")
        if check.wait:
            abort(429, description=f"Too many failed attempts. Wait {check.wait} seconds.")
        if check.user is None:
            error = "The current password is not right."
        elif new != again:
            error = "The two new passwords differ."
        else:
            try:
                user = users().set_password(me.name, new, actor=me.name)
            except UserProblem as exc:
                error = str(exc)
            else:
                login_user(SignedIn(user))  # the new epoch: other sessions are signed out
                flash("Your password is changed. Your other sessions are signed out.")
                return redirect(url_for("console.account"))
    return render_template("console/account.html", error=error), (400 if error else 200)
