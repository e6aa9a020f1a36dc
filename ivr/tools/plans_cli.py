"""`ivr plans`: the published plan versions every serving process follows — list, history,
publish and rollback (operations.md, "Plans in a fleet")."""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ivr.adapters.plan_store import Candidate, PlanStore, PublishResult
from ivr.errors import PlanNotFound
from ivr.tools.settings_option import CONFIG, load_settings


def _store(config: str | None) -> PlanStore:
    settings = load_settings(config)
    return PlanStore(settings.database_url, max_plan_bytes=settings.max_plan_bytes)


def _author(author: str | None) -> str:
    if author:
        return author
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@click.group(invoke_without_command=True)
@CONFIG
@click.option("--json", "as_json", is_flag=True, help="One object per plan.")
@click.pass_context
def plans(ctx: click.Context, config: str | None, as_json: bool) -> None:
    """Published plan versions: what each plan serves (the default), history, publish,
    rollback. Every serving process follows a publish within a few seconds."""
    if ctx.invoked_subcommand is not None:
        return
    store = _store(config)
    try:
        serving = store.serving()
        counts = {v.plan_id: len(store.history(v.plan_id)) for v in serving}
    finally:
        store.close()
    if as_json:
        rows = [{**_public(v), "versions": counts[v.plan_id]} for v in serving]
        click.echo(json.dumps(rows, indent=2))
        return
    if not serving:
        click.echo("no plans published yet (a serving process publishes its plans folder)")
        return
    click.echo(f"{'PLAN':<24} {'SERVING':<8} {'VERSION':<13} {'PUBLISHED':<20} {'BY':<10} FROM")
    for v in serving:
        click.echo(
            f"{v.plan_id:<24} {f'v{v.number}/{counts[v.plan_id]}':<8} {v.version:<13} "
            f"{v.published_at[:19]:<20} {v.author:<10} {v.source}  {v.message}"
        )


@plans.command()
@click.argument("plan_id")
@CONFIG
@click.option("--json", "as_json", is_flag=True)
def history(plan_id: str, config: str | None, as_json: bool) -> None:
    """Every published version of PLAN_ID, newest first."""
    store = _store(config)
    try:
        versions = store.history(plan_id)
    finally:
        store.close()
    if not versions:
        raise click.ClickException(f"plan '{plan_id}' was never published")
    if as_json:
        click.echo(json.dumps([_public(v) for v in versions], indent=2))
        return
    for v in versions:
        serving = "  (serving)" if v is versions[0] else ""
        click.echo(
            f"v{v.number:<4} {v.version}  {v.published_at[:19]}  {v.author:<10} {v.source}  "
            f"{v.message}{serving}"
        )


@plans.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-m", "--message", required=True, help="Why: kept with the version.")
@click.option("--author", help="Who (default: your user name).")
@CONFIG
def publish(files: tuple[str, ...], message: str, author: str | None, config: str | None) -> None:
    """Check FILES with the plans being served and publish each one that passes."""
    candidates = []
    for name in files:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{name}: cannot read the file: {exc}") from None
        candidates.append(Candidate(name, text, name))
    store = _store(config)
    try:
        result = store.publish(candidates, author=_author(author), message=message)
    finally:
        store.close()
    _report(result)


@plans.command()
@click.argument("plan_id")
@click.option(
    "--to",
    "number",
    type=int,
    help="The version to serve again (default: the one before the serving version).",
)
@click.option("-m", "--message", default="", help="Why (default: 'rollback to vN').")
@click.option("--author", help="Who (default: your user name).")
@CONFIG
def rollback(
    plan_id: str, number: int | None, message: str, author: str | None, config: str | None
) -> None:
    """Serve an earlier version of PLAN_ID again (published as a new version)."""
    store = _store(config)
    try:
        versions = store.history(plan_id)
        if not versions:
            raise click.ClickException(f"plan '{plan_id}' was never published")
        if number is None:
            if len(versions) < 2:
                raise click.ClickException(f"plan '{plan_id}' has only one version")
            number = versions[0].number - 1
        result = store.rollback(plan_id, number, author=_author(author), message=message)
    except PlanNotFound as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    _report(result)


def _report(result: PublishResult) -> None:
    for diagnostic in result.checked.diagnostics:
        click.echo(diagnostic.format(), err=diagnostic.severity == "error")
    for version in result.published:
        click.echo(f"published {version.plan_id} v{version.number} ({version.version})")
    for name in result.unchanged:
        click.echo(f"{name}: unchanged (already serving this content)")
    if result.checked.refused:
        raise click.ClickException(
            "refused (nothing published for them): " + ", ".join(result.checked.refused)
        )


def _public(version: Any) -> dict[str, Any]:
    out = asdict(version)
    out.pop("content")
    return out
