"""The console's users in SQL: Argon2 password hashes, roles, sign-in checks slowed down after
repeated failures (per user name and per address, seen by every worker), and the audit log."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from foundation.clock import utc_now
from foundation.db import open_engine
from foundation.migrations import upgrade
from ivr.adapters.tables import SCHEMA, audit_log, console_sign_in_failures, console_users
from ivr.console.roles import Role, role_named

NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 256

# Failed sign-ins: the first FREE_FAILURES cost nothing; after that each attempt must wait
# 2, 4, 8, ... seconds (at most MAX_WAIT) after the last failure. A quiet FORGET_AFTER resets.
FREE_FAILURES = 5
MAX_WAIT = timedelta(minutes=5)
FORGET_AFTER = timedelta(minutes=15)


class UserProblem(ValueError):
    """A user change that cannot be made; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    session_epoch: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to: the user, or why not (`wait` when slowed down)."""

    user: User | None
    wait: int = 0  # seconds to wait before trying again


def normal_name(name: str) -> str:
    """A user name as stored (lower case); UserProblem when it cannot be one."""
    cleaned = name.strip().lower()
    if not NAME.fullmatch(cleaned):
        raise UserProblem(
            f"user name {name[:70]!r} is not valid: 1 to 64 of a-z, 0-9, '.', '_', '@', '-', "
            "starting with a letter or digit"
        )
    return cleaned


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserProblem(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserProblem(f"the password is too long: at most {MAX_PASSWORD} characters")


def _wait(failures: int, last: datetime, now: datetime) -> int:
    """Seconds before the next attempt after `failures` failures, the last at `last`."""
    if failures < FREE_FAILURES:
        return 0
    penalty = min(timedelta(seconds=2 ** (failures - FREE_FAILURES + 1)), MAX_WAIT)
    return max(0, math.ceil((last + penalty - now).total_seconds()))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


class Users:
    def __init__(
        self,
        db: Engine | str,
        *,
        clock: Callable[[], datetime] = utc_now,
        hasher: PasswordHasher | None = None,
    ):
        self.db = open_engine(db) if isinstance(db, str) else db
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None  # hashed on first use: an unknown name costs the same
        upgrade(self.db, SCHEMA)

    def close(self) -> None:
        self.db.dispose()

    # --- users ---------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str, *, actor: str) -> User:
        name, chosen = normal_name(name), self._role(role)
        check_password(password)
        now = self.clock()
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(console_users).values(
                        name=name,
                        role=chosen.value,
                        password_hash=self.hasher.hash(password),
                        # random: a removed user's old sessions never fit a new user's
                        session_epoch=secrets.randbits(30),
                        created_at=now,
                        updated_at=now,
                    )
                )
                self._audit(conn, actor, "user.add", name, f"role {chosen.value}")
        except IntegrityError:
            raise UserProblem(f"there is already a user called {name!r}") from None
        user = self.get(name)
        assert user is not None
        return user

    def get(self, name: str) -> User | None:
        with self.db.connect() as conn:
            row = conn.execute(
                select(console_users).where(console_users.c.name == name.strip().lower())
            ).first()
        return _user(row) if row is not None else None

    def all(self) -> list[User]:
        with self.db.connect() as conn:
            rows = conn.execute(select(console_users).order_by(console_users.c.name)).all()
        return [_user(row) for row in rows]

    def remove(self, name: str, *, actor: str) -> None:
        name = normal_name(name)
        with self.db.begin() as conn:
            self._refuse_last_admin(conn, name, None)
            gone = conn.execute(delete(console_users).where(console_users.c.name == name))
            if not gone.rowcount:
                raise UserProblem(f"there is no user called {name!r}")
            self._audit(conn, actor, "user.remove", name, "")

    def set_role(self, name: str, role: str, *, actor: str) -> User:
        name, chosen = normal_name(name), self._role(role)
        with self.db.begin() as conn:
            self._refuse_last_admin(conn, name, chosen)
            changed = conn.execute(
                update(console_users)
                .where(console_users.c.name == name)
                .values(
                    role=chosen.value,
                    session_epoch=console_users.c.session_epoch + 1,
                    updated_at=self.clock(),
                )
            )
            if not changed.rowcount:
                raise UserProblem(f"there is no user called {name!r}")
            self._audit(conn, actor, "user.role", name, f"role {chosen.value}")
        user = self.get(name)
        assert user is not None
        return user

    def set_password(self, name: str, password: str, *, actor: str) -> User:
        """A new password; every session of the user's is signed out."""
        name = normal_name(name)
        check_password(password)
        with self.db.begin() as conn:
            changed = conn.execute(
                update(console_users)
                .where(console_users.c.name == name)
                .values(
                    password_hash=self.hasher.hash(password),
                    session_epoch=console_users.c.session_epoch + 1,
                    updated_at=self.clock(),
                )
            )
            if not changed.rowcount:
                raise UserProblem(f"there is no user called {name!r}")
            self._audit(conn, actor, "user.password", name, "")
        user = self.get(name)
        assert user is not None
        return user

    def _role(self, role: str) -> Role:
        try:
            return role_named(role)
        except ValueError as exc:
            raise UserProblem(str(exc)) from None

    def _refuse_last_admin(self, conn: Any, name: str, new_role: Role | None) -> None:
        """Removing or demoting the last admin would leave nobody to manage users."""
        if new_role is Role.ADMIN:
            return
        admins = conn.execute(
            select(console_users.c.name)
            .where(console_users.c.role == Role.ADMIN.value)
            .with_for_update()  # two admins demoting each other at once: one waits
        ).scalars()
        if set(admins) == {name}:
            raise UserProblem(f"{name!r} is the only admin: make another user an admin first")

    # --- signing in ----------------------------------------------------------------------

    def sign_in(self, name: str, password: str, address: str) -> SignIn:
        """Check a name and password. The answer never says which was wrong. Every attempt
        is counted before it is checked (so concurrent guesses cannot slip past the count);
        after repeated failures, for the name or from the address, it asks to wait instead."""
        keys = [f"addr:{address[:100]}"]
        try:
            cleaned: str | None = normal_name(name)
            keys.append(f"user:{cleaned}")
        except UserProblem:
            cleaned = None
        now = self.clock()
        wait = max(self._count_attempt(key, now) for key in keys)
        if wait:
            return SignIn(None, wait)
        user, stored = self._hash_of(cleaned) if cleaned else (None, None)
        if stored is None and self._dummy is None:
            self._dummy = self.hasher.hash("not a password of anyone's")
        try:
            self.hasher.verify(stored or self._dummy or "", password[:MAX_PASSWORD])
            good = user is not None
        except (VerificationError, InvalidHashError):
            good = False
        if not good or user is None:
            return SignIn(None)  # counted already
        with self.db.begin() as conn:
            # the name's failures are forgiven; the address's count forgets this attempt
            conn.execute(
                delete(console_sign_in_failures).where(
                    console_sign_in_failures.c.key == f"user:{user.name}"
                )
            )
            conn.execute(
                update(console_sign_in_failures)
                .where(console_sign_in_failures.c.key == keys[0])
                .where(console_sign_in_failures.c.failures > 0)
                .values(failures=console_sign_in_failures.c.failures - 1)
            )
            if stored and self.hasher.check_needs_rehash(stored):
                conn.execute(
                    update(console_users)
                    .where(console_users.c.name == user.name)
                    .values(password_hash=self.hasher.hash(password))
                )
        return SignIn(user)

    def _hash_of(self, name: str) -> tuple[User | None, str | None]:
        with self.db.connect() as conn:
            row = conn.execute(select(console_users).where(console_users.c.name == name)).first()
        if row is None:
            return None, None
        return _user(row), row.password_hash

    def _count_attempt(self, key: str, now: datetime) -> int:
        """Count an attempt against `key` as a failure (forgiven on success) unless it must
        wait: the seconds to wait, or 0. A compare-and-set on (failures, last_at), so two
        workers never both count from the same state."""
        table = console_sign_in_failures
        for _ in range(20):
            with self.db.begin() as conn:
                row = conn.execute(select(table).where(table.c.key == key)).first()
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(table).values(key=key, failures=1, last_at=now))
                        return 0
                    except IntegrityError:
                        continue  # another worker made the row: count against theirs
                last = _aware(row.last_at)
                failures = 0 if now - last > FORGET_AFTER else row.failures
                wait = _wait(failures, last, now)
                if wait:
                    return wait
                counted = conn.execute(
                    update(table)
                    .where(table.c.key == key)
                    .where(table.c.failures == row.failures)
                    .where(table.c.last_at == row.last_at)
                    .values(failures=failures + 1, last_at=now)
                ).rowcount
                if counted:
                    return 0
        return 1  # too busy to count: try again in a second

    # --- audit log -----------------------------------------------------------------------

    def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        with self.db.begin() as conn:
            self._audit(conn, actor, action, target, detail)

    def _audit(self, conn: Any, actor: str, action: str, target: str, detail: str) -> None:
        conn.execute(
            insert(audit_log).values(
                at=self.clock(),
                actor=actor[:64],
                action=action[:40],
                target=target[:200],
                detail=detail[:2000],
            )
        )

    def audit_entries(self, limit: int = 200) -> list[AuditEntry]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
            ).all()
        return [AuditEntry(_aware(r.at), r.actor, r.action, r.target, r.detail) for r in rows]


def _user(row: Any) -> User:
    return User(
        name=row.name,
        role=Role(row.role),
        session_epoch=row.session_epoch,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )
