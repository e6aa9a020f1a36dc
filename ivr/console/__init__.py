"""The operations console under /console (docs/console.md): users and roles, the dashboard,
plans with versions and in-browser editing, calls. `register` mounts it on the app."""

from __future__ import annotations

from flask import Flask

from ivr.console import (  # noqa: F401  (their routes join the blueprint)
    pages_account,
    pages_admin,
    pages_calls,
    pages_payments,
    pages_phone,
    pages_plans,
)
from ivr.console.auth import install
from ivr.console.blueprint import bp
from ivr.console.services import KEY, ConsoleServices

__all__ = ["ConsoleServices", "register"]


def register(
    app: Flask, services: ConsoleServices, secret_key: str, *, secure_cookies: bool
) -> None:
    """Mount the console on `app` (its sessions signed with `secret_key`)."""
    app.extensions[KEY] = services
    install(app, services.users, secret_key, secure_cookies=secure_cookies)
    app.register_blueprint(bp)
