"""`ivr users`: who may use the operations console, and with which role (docs/console.md).
Every change is written to the console's audit log, by the operating-system user who made it."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ivr.console.roles import ROLE_NAMES
from ivr.console.users import UserProblem, Users
from ivr.tools.settings_option import CONFIG, load_settings


@contextmanager
def _users(config: str | None) -> Iterator[Users]:
    """The users of the configured database; a refused change is a clear error and exit."""
    store = Users(load_settings(config).database_url)
    try:
        yield store
    except UserProblem as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _password(stdin: bool) -> str:
    if stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.ClickException("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise click.ClickException("the two passwords differ; nothing was changed")
    return first


@click.group()
def users() -> None:
    """The console's users: add, list, remove, set-role, set-password."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLE_NAMES), help="What they may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password as one line of stdin.")
@CONFIG
def add(name: str, role: str, password_stdin: bool, config: str | None) -> None:
    """Add a user NAME with ROLE (the password is asked for, or read from stdin)."""
    with _users(config) as store:
        user = store.add(name, role, _password(password_stdin), actor=_actor())
    click.echo(f"added {user.name} ({user.role.value}); they sign in at /console/login")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@CONFIG
def list_(as_json: bool, config: str | None) -> None:
    """Every user and their role."""
    with _users(config) as store:
        people = store.all()
    if as_json:
        rows = [
            {"name": u.name, "role": u.role.value, "created_at": u.created_at.isoformat()}
            for u in people
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not people:
        click.echo("no users yet: add one with `ivr users add NAME --role admin`")
        return
    click.echo(f"{'USER':<24} {'ROLE':<10} SINCE")
    for u in people:
        click.echo(f"{u.name:<24} {u.role.value:<10} {u.created_at:%Y-%m-%d}")


@users.command("remove")
@click.argument("name")
@CONFIG
def remove(name: str, config: str | None) -> None:
    """Remove user NAME (their sessions end at once)."""
    with _users(config) as store:
        store.remove(name, actor=_actor())
    click.echo(f"removed {name}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLE_NAMES))
@CONFIG
def set_role(name: str, role: str, config: str | None) -> None:
    """Give user NAME the role ROLE (their sessions end: they sign in again)."""
    with _users(config) as store:
        user = store.set_role(name, role, actor=_actor())
    click.echo(f"{user.name} is now {user.role.value}")


@users.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password as one line of stdin.")
@CONFIG
def set_password(name: str, password_stdin: bool, config: str | None) -> None:
    """Set a new password for NAME (a forgotten one; their sessions end)."""
    with _users(config) as store:
        store.set_password(name, _password(password_stdin), actor=_actor())
    click.echo(f"new password set for {name}")
