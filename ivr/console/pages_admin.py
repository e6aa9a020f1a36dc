"""Admins only: the console's users and roles, and the audit log."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ivr.console.auth import needs, signed_in, users
from ivr.console.blueprint import bp
from ivr.console.roles import ROLE_NAMES, May
from ivr.console.users import MAX_PASSWORD, UserProblem


def _actor() -> str:
    me = signed_in()
    assert me is not None
    return me.name


def _page(error: str | None = None, status: int = 200) -> Any:
    return (
        render_template("console/users.html", people=users().all(), roles=ROLE_NAMES, error=error),
        status,
    )


@bp.errorhandler(UserProblem)
def _refused(problem: UserProblem) -> Any:
    """A user change that cannot be made: the users page, saying why (nothing changed)."""
    return _page(str(problem), 400)


@bp.get("/users")
@needs(May.ADMINISTER)
def users_page() -> Any:
    return _page()


@bp.post("/users")
@needs(May.ADMINISTER)
def add_user() -> Any:
    form = request.form
    added = users().add(
        form.get("username", "")[:100],
        form.get("role", ""),
        form.get("password", "")[: MAX_PASSWORD + 1],
        actor=_actor(),
    )
    flash(f"Added {added.name} ({added.role.value}).")
    return redirect(url_for("console.users_page"))


@bp.post("/users/<name>/role")
@needs(May.ADMINISTER)
def set_role(name: str) -> Any:
    changed = users().set_role(name, request.form.get("role", ""), actor=_actor())
    flash(f"{changed.name} is now {changed.role.value}; their sessions are signed out.")
    return redirect(url_for("console.users_page"))


@bp.post("/users/<name>/remove")
@needs(May.ADMINISTER)
def remove_user(name: str) -> Any:
    users().remove(name, actor=_actor())
    flash(f"Removed {name}.")
    return redirect(url_for("console.users_page"))


@bp.get("/audit")
@needs(May.ADMINISTER)
def audit() -> Any:
    return render_template("console/audit.html", entries=users().audit_entries(500))
