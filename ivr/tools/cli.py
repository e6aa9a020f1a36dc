"""The `ivr` command line: validate, graph and schema (serve, call, test and calls build on it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from foundation.phone import E164
from ivr.drawing.graph import dot, mermaid
from ivr.engine.catalog import load_paths
from ivr.engine.loader import MAX_PLAN_BYTES, load_file
from ivr.engine.schema import plan_schema
from ivr.errors import PlanError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivr-payments")
def main() -> None:
    """IVR self-service payment call-flow engine."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors and warnings.")
@click.option(
    "--max-plan-bytes",
    type=click.IntRange(min=1),
    default=MAX_PLAN_BYTES,
    envvar="IVR_MAX_PLAN_BYTES",
    show_default=True,
    help="Refuse plan files larger than this.",
)
def validate(paths: tuple[Path, ...], strict: bool, quiet: bool, max_plan_bytes: int) -> None:
    """Validate call plans (files or folders; default: callplans/)."""
    targets = list(paths) or [Path("callplans")]
    result = load_paths(targets, max_bytes=max_plan_bytes)
    for diagnostic in result.diagnostics:
        click.echo(diagnostic.format(), err=False)
    errors, warnings = len(result.errors), len(result.warnings)
    if not quiet:
        click.echo(
            f"{len(result.plans)} plan(s) valid, {len(result.refused)} refused: "
            f"{errors} error(s), {warnings} warning(s)"
        )
    if errors or (strict and warnings):
        sys.exit(1)


@main.command()
@click.argument("plan")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg", "html"]),
    default="mermaid",
    show_default=True,
    help="html: a page to open in a browser (self-contained: works with no network).",
)
@click.option(
    "--callplans",
    type=click.Path(exists=True, file_okay=False),
    help="Plans folder (for a PLAN id).",
)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="config.yaml")
def graph(plan: str, fmt: str, callplans: str | None, config: str | None) -> None:
    """Print a plan as a graph: applets as nodes, outcomes as labelled edges (a router's
    arrows say their conditions). PLAN is a plan file, or the id of a plan in the plans
    folder."""
    try:
        if Path(plan).is_file():
            loaded, _ = load_file(Path(plan))
        else:
            loaded = _plan_by_id(plan, _settings(config, callplans).callplans)
    except PlanError as exc:
        for diagnostic in exc.diagnostics:
            click.echo(diagnostic.format(), err=True)
        sys.exit(1)
    from ivr.drawing.svg import html, svg

    writers = {"mermaid": mermaid, "dot": dot, "svg": svg, "html": html}
    click.echo(writers[fmt](loaded), nl=False)


def _plan_by_id(plan_id: str, folder: Path) -> Any:
    from foundation.suggest import did_you_mean
    from ivr.engine.catalog import load_paths

    result = load_paths([folder])
    plans = {p.id: p for p, _ in result.plans}
    if plan_id in plans:
        return plans[plan_id]
    if plan_id in {Path(name).stem for name in result.refused}:
        raise PlanError([d for d in result.errors if Path(d.file).stem == plan_id])
    raise click.ClickException(
        f"no plan file or plan id '{plan_id}' in {folder}{did_you_mean(plan_id, plans)}"
    )


@main.command()
@click.argument("number")
@click.option(
    "--from", "caller", default="", help="Caller ID, E.164 (empty or 'anonymous': withheld)."
)
@click.option(
    "--keys",
    "keys",
    multiple=True,
    metavar="ENTRY...",
    help="Keys per prompt, separated by spaces or commas; '-' for no input; '~' for the next "
    "--say.",
)
@click.option(
    "--say",
    "say",
    multiple=True,
    metavar="WORDS",
    help="Words the caller says at a prompt, one --say per prompt: where --keys has '~', else "
    "after the keys.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the call as JSON.")
@click.option(
    "--url",
    help="Call a running server instead of an in-process app (outcome and path from "
    "the call records of --config's database).",
)
@click.option(
    "--hangup-after", type=click.IntRange(min=0), help="Hang up after answering N prompts."
)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="config.yaml")
@click.option("--callplans", type=click.Path(exists=True, file_okay=False), help="Plans folder.")
@click.option(
    "--verbose", "-v", is_flag=True, help="Show prompts' key settings and missing data sources."
)
@click.option(
    "--at",
    "at",
    help="Simulated start time, ISO 8601 (e.g. 2026-11-18T10:00:00Z); in-process only.",
)
@click.option(
    "--no-barge-in",
    "no_barge_in",
    is_flag=True,
    help="The caller hears every prompt to its end before pressing (the worst case); by "
    "default a key cuts a prompt short, as Twilio does.",
)
def call(
    number: str,
    caller: str,
    keys: tuple[str, ...],
    say: tuple[str, ...],
    as_json: bool,
    url: str | None,
    hangup_after: int | None,
    config: str | None,
    callplans: str | None,
    verbose: bool,
    at: str | None,
    no_barge_in: bool,
) -> None:
    """Simulate a call to NUMBER, acting as Twilio against the webhooks.

    In a terminal, leave out --keys and type each entry as you listen: keys, Enter for none,
    `say WORDS` to speak, Ctrl-C or Ctrl-D to hang up (the call is recorded)."""
    from ivr.adapters.logs import install
    from ivr.app.local_phone import LocalPhone, RemotePhone
    from ivr.phone.twilio import KeySource
    from ivr.tools.simulator.terminal import Terminal
    from ivr.tools.transcript import event_line, lines, summary

    install("WARNING")
    entries = call_entries(keys, say)
    caller = call_caller(caller)
    if not E164.fullmatch(number):
        raise click.BadParameter(
            f"'{number}' is not an E.164 number (+ then the country code, as in +442071230001)",
            param_hint="NUMBER",
        )
    if url:
        _reachable(url)
    if at and url:
        raise click.UsageError(
            "--at sets the clock of an in-process call; a server at --url keeps its own time"
        )
    start = _start_time(at)
    settings = _settings(config, callplans)
    terminal = Terminal() if sys.stdin.isatty() and not as_json else None
    source = terminal.keys(entries) if terminal is not None else KeySource(entries)
    live = None
    if terminal is not None:  # interactive: show each line as it happens, before the caller types

        def live(event: Any) -> None:
            line = event_line(event, "", verbose=verbose)
            if line is not None and terminal.shows(event):
                click.echo(line if event.kind != "leg_start" else f"Call: {event.text}")

    phone = (
        RemotePhone(url, settings, on_event=live)
        if url
        else LocalPhone(settings, start=start, on_event=live)
    )
    phone.simulator.barge_in = not no_barge_in
    report = phone.call(number, caller, source, hangup_after=hangup_after)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    elif live is not None:
        for line in summary(report, verbose=verbose):
            click.echo(line)
    else:
        for line in lines(report, verbose=verbose):
            click.echo(line)


def call_entries(keys: tuple[str, ...], say: tuple[str, ...]) -> list[Any]:
    """The caller's entries in order: --keys split on spaces and commas, each '~' taking the
    next --say (the --say left over come after). Letters in --keys are refused."""
    from ivr.phone.twilio import Spoken, bad_entry

    spoken = [Spoken(words.strip()) for words in say if words.strip()]
    entries: list[Any] = []
    for entry in (e for raw in keys for e in raw.replace(",", " ").split()):
        if entry == "~":
            if not spoken:
                raise click.BadParameter("a '~' has no --say left to take", param_hint="--keys")
            entries.append(spoken.pop(0))
            continue
        problem = bad_entry(entry)
        if problem is not None:
            raise click.BadParameter(f"{problem} (to speak words, use --say)", param_hint="--keys")
        entries.append(entry)
    return entries + spoken


def _reachable(url: str) -> None:
    import requests

    try:
        requests.get(url.rstrip("/") + "/health", timeout=5)
    except requests.ConnectionError:
        raise click.ClickException(
            f"cannot reach {url}: nothing answers there (is `ivr serve` or gunicorn running?)"
        ) from None
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from None


def call_caller(caller: str) -> str:
    caller = caller.strip()
    if caller.lower() in ("", "anonymous"):
        return ""
    if not E164.fullmatch(caller):
        raise click.BadParameter(
            f"'{caller}' is not an E.164 number (+ then the country code, as in "
            "+447700900123); leave it empty for a withheld number",
            param_hint="--from",
        )
    return caller


def _start_time(at: str | None) -> Any:
    if not at:
        return None
    from foundation.clock import parse_utc

    try:
        return parse_utc(at)
    except ValueError:
        raise click.BadParameter(f"'{at}' is not an ISO 8601 time", param_hint="--at") from None


@main.command()
@click.argument("call_sid", required=False)
@click.option("--limit", default=20, show_default=True)
@click.option("--plan", help="Only calls of this plan.")
@click.option("--outcome", help="Only calls with this outcome (e.g. PaymentTaken).")
@click.option("--caller", help="Only calls from this number ('' for withheld).")
@click.option("--since", help="Only calls started at or after this time (ISO, e.g. 2026-11-30).")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="config.yaml")
@click.option("--json", "as_json", is_flag=True)
def calls(
    call_sid: str | None,
    limit: int,
    plan: str | None,
    outcome: str | None,
    caller: str | None,
    since: str | None,
    config: str | None,
    as_json: bool,
) -> None:
    """Recent call records (a table), or one call in full: `ivr calls CALLSID`."""
    from ivr.adapters.records_sql import SqlRecorder
    from ivr.tools.calls_view import detail_lines, table_lines

    if since:
        from foundation.clock import parse_utc

        try:
            parse_utc(since)
        except ValueError:
            raise click.BadParameter(
                f"'{since}' is not an ISO 8601 date or time (as in 2026-11-30 or "
                "2026-11-30T09:00:00Z)",
                param_hint="--since",
            ) from None
    settings = _settings(config, None)
    recorder = SqlRecorder(settings.database_url)
    try:
        if call_sid:
            found = recorder.find(call_sid)
            if found is None:
                raise click.ClickException(f"no call {call_sid} on record")
            records = [found]
        else:
            records = recorder.recent(limit, plan=plan, outcome=outcome, caller=caller, since=since)
    finally:
        recorder.close()
    if as_json:
        data = [_record_dict(r) for r in records]
        click.echo(json.dumps(data[0] if call_sid else data, indent=2))
        return
    if call_sid:
        for line in detail_lines(records[0]):
            click.echo(line)
        return
    if not records:
        click.echo(
            "no calls recorded yet"
            if not (plan or outcome or caller or since)
            else "no calls match"
        )
        return
    for line in table_lines(records):
        click.echo(line)


def _record_dict(r: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(r)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--callplans", type=click.Path(exists=True, file_okay=False), help="Plans folder.")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="config.yaml")
def serve(host: str, port: int, callplans: str | None, config: str | None) -> None:
    """Serve the Twilio webhooks (with hot reload of call plans)."""
    from ivr.app.settings import SettingsError
    from ivr.tools.server import run

    try:
        run(_settings(config, callplans), host, port)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _settings(config: str | None, callplans: str | None) -> Any:
    from ivr.tools.settings_option import load_settings

    return load_settings(config, callplans)


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--config", "config", type=click.Path(dir_okay=False), help="config.yaml")
@click.option("--callplans", type=click.Path(exists=True, file_okay=False), help="Plans folder.")
@click.option("-k", "select", help="Only scenarios whose name contains this text.")
@click.option("--coverage/--no-coverage", default=True, show_default=True)
@click.option(
    "--no-barge-in",
    "no_barge_in",
    is_flag=True,
    help="Callers hear every prompt to its end (the worst case for seconds and budgets).",
)
def test_command(
    paths: tuple[Path, ...],
    config: str | None,
    callplans: str | None,
    select: str | None,
    coverage: bool,
    no_barge_in: bool,
) -> None:
    """Run call plan scenario files (default: callplans/)."""
    from ivr.adapters.logs import install
    from ivr.tools.scenario_report import run_files

    install("ERROR")
    settings = _settings(config, callplans)
    ok = run_files(
        list(paths) or [settings.callplans],
        settings,
        select=select,
        show_coverage=coverage,
        echo=click.echo,
        barge_in=not no_barge_in,
    )
    sys.exit(0 if ok else 1)


@main.command()
def reference() -> None:
    """Print the call plan reference (Markdown) generated from the code."""
    from ivr.engine.reference import reference as generate

    click.echo(generate(), nl=False)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the call plan language."""
    click.echo(json.dumps(plan_schema(), indent=2))


def _add_groups() -> None:
    from ivr.tools.collections_cli import collections, worker
    from ivr.tools.import_cli import import_group
    from ivr.tools.plans_cli import plans
    from ivr.tools.records_cli import write_records
    from ivr.tools.users_cli import users

    main.add_command(collections)
    main.add_command(import_group)
    main.add_command(worker)
    main.add_command(plans)
    main.add_command(users)
    main.add_command(write_records)


_add_groups()

if __name__ == "__main__":  # pragma: no cover
    main()
