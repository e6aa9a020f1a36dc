"""The console's roles and what each may do (docs/console.md): a fixed vocabulary, checked on
every route."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    PAYMENTS = "payments"
    EDITOR = "editor"
    ADMIN = "admin"


class May(StrEnum):
    """What a route needs."""

    VIEW = "view"  # the dashboard, plans, calls and payments (masked)
    INQUIRE = "inquire"  # payment inquiries: search, a payment's full history
    EDIT = "edit"  # edit, validate, test, publish and roll back plans; the softphone
    ADMINISTER = "administer"  # users, roles, the audit log


GRANTS: dict[Role, frozenset[May]] = {
    Role.VIEWER: frozenset({May.VIEW}),
    Role.PAYMENTS: frozenset({May.VIEW, May.INQUIRE}),
    Role.EDITOR: frozenset({May.VIEW, May.EDIT}),
    Role.ADMIN: frozenset(May),
}

ROLE_NAMES = tuple(role.value for role in Role)


def role_named(name: str) -> Role:
    """The role called `name`; ValueError naming the roles there are."""
    try:
        return Role(name)
    except ValueError:
        raise ValueError(f"unknown role {name!r}: the roles are {', '.join(ROLE_NAMES)}") from None


def may(role: Role | str, need: May) -> bool:
    try:
        return need in GRANTS[Role(role)]
    except ValueError:
        return False  # a role this version does not know may do nothing
