"""`ivr collections`: take CSV files of accounts in arrears in, look at the cases, listen to the
inbox (collections.md; README "Collections")."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ivr.app.collections import Collections, open_collections
from ivr.app.settings import SettingsError
from ivr.collections.cases import CaseState
from ivr.errors import CollectionsError
from ivr.tools.settings_option import CONFIG, load_settings

STATES = [s.value for s in CaseState]


@contextmanager
def _collections(config: str | None) -> Iterator[Collections]:
    from ivr.adapters.logs import install

    install("WARNING")
    try:
        opened = open_collections(load_settings(config))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield opened
    except CollectionsError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        opened.close()


@click.group()
def collections() -> None:
    """Collections: import files of accounts in arrears, list cases, listen to the inbox."""


@collections.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@CONFIG
def import_files(files: tuple[str, ...], config: str | None) -> None:
    """Open a case for each account in FILES (CSV: account, phone, amount_due, ...). Prints
    every problem as FILE:LINE: column: message and what was done; the same content again
    changes nothing. Exit 1 when a file could not be read or a row was refused."""
    bad = False
    opened = refused = 0
    with _collections(config) as chosen:
        for name in files:
            report = chosen.intake.take_path(Path(name), name)
            for line in report.lines():
                click.echo(line)
            opened += len(report.opened)
            refused += report.refused
            bad = bad or report.failed or bool(report.refused)
    if len(files) > 1:
        click.echo(f"in all: {opened} cases opened, {refused} rows refused")
    if bad:
        raise SystemExit(1)


@collections.command("cases")
@click.option("--state", type=click.Choice(STATES), help="Only cases in this state.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
@click.option("--history", is_flag=True, help="Each case's changes, with time and cause.")
@CONFIG
def cases(state: str | None, as_json: bool, history: bool, config: str | None) -> None:
    """List the collections cases (oldest first)."""
    with _collections(config) as chosen:
        found = chosen.cases.cases(CaseState(state) if state else None)
        if as_json:
            out = []
            for case in found:
                entry = case.as_dict()
                entry["payments"] = [
                    {**payment.as_dict(), "plan": plan.id}
                    for plan in chosen.plans.for_case(case.id)
                    for payment in plan.instalments
                ]
                if history:
                    entry["history"] = [
                        {"at": e.at.isoformat(), "from": e.state_from, "to": e.state_to,
                         "cause": e.cause}
                        for e in chosen.cases.events(case.id)
                    ]  # fmt: skip
                    entry["contacts"] = [
                        {"at": k.at.isoformat(), "attempt": k.attempt, "channel": k.channel,
                         "result": k.result, "detail": k.detail}
                        for k in chosen.cases.contacts(case.id)
                    ]  # fmt: skip
                out.append(entry)
            click.echo(json.dumps(out, indent=2))
            return
        if not found:
            click.echo("no cases" + (f" in state {state}" if state else ""))
            return
        for case in found:
            flag = "flagged" if case.flagged else "not flagged"
            click.echo(
                f"{case.id:>5}  {case.account:<14} {case.state.value:<15} "
                f"{case.amount_due:>10.2f} {case.currency}  {case.phone:<16} {flag:<12} "
                f"{case.source}"
            )
            if history:
                for e in chosen.cases.events(case.id):
                    moved = (
                        e.state_to
                        if e.state_from == e.state_to
                        else f"{e.state_from or '-'} → {e.state_to}"
                    )
                    click.echo(f"         {e.at:%Y-%m-%d %H:%M:%S}  {moved:<28} {e.cause}")
                for k in chosen.cases.contacts(case.id):
                    what = f"round {k.attempt}: {k.channel} {k.result}"
                    click.echo(f"         {k.at:%Y-%m-%d %H:%M:%S}  {what:<28} {k.detail}")


@collections.command("listen")
@click.option("--once", is_flag=True, help="Look at the inbox once and stop.")
@CONFIG
def listen(once: bool, config: str | None) -> None:
    """Every `interval` seconds: take the files dropped into the inbox (`collections.inbox`),
    moving each to processed/ or failed/ with its report beside it, and run the contact
    rounds that are due (with `collections.call_number` set). `ivr serve` and the gunicorn
    workers do this themselves when either is configured."""
    with _collections(config) as chosen:
        if chosen.inbox is None and chosen.contacts is None:
            raise click.ClickException(
                "nothing to do: set collections.inbox in config.yaml (a folder files are "
                "dropped into) and collections.call_number (to send payment-due notices)"
            )
        where = f"the inbox {chosen.inbox.folder}" if chosen.inbox else "contact rounds"
        click.echo(f"taking {where} every {chosen.config.interval:g} s")
        while True:
            for report in chosen.inbox.poll() if chosen.inbox else []:
                click.echo(report.summary())
            chosen.intake.retry_flags()
            if chosen.contacts is not None:
                for made in chosen.contacts.run_due():
                    sent = ", ".join(f"{k} {v.result}" for k, v in made.sent.items())
                    click.echo(
                        f"case {made.case.account}: round {made.attempt}: {sent}"
                        if not made.closed
                        else f"case {made.case.account}: closed"
                    )
            if once:
                return
            try:
                time.sleep(chosen.config.interval)
            except KeyboardInterrupt:
                return


@click.command()
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then stop.")
@CONFIG
def worker(burst: bool, config: str | None) -> None:
    """Run collections jobs (inbox, notices, outbound calls, scheduled payments) from Redis
    with RQ: start as many as you like, on any hosts sharing the store and database; each
    piece of work is done once. Needs `store: redis://...` (with the embedded store the
    serving process does the work itself)."""
    import os

    from ivr.adapters.logs import install
    from ivr.app.collections_jobs import run_worker
    from ivr.app.service_keys import is_shared

    if config:
        os.environ["IVR_CONFIG"] = os.path.abspath(config)  # the jobs read the same settings
    settings = load_settings(config)
    if not is_shared(settings.store_url):
        raise click.ClickException(
            f"ivr worker needs a Redis store (store: redis://...), not {settings.store_url}: "
            "with the embedded store the serving process runs the collections work itself"
        )
    if not settings.collections:
        raise click.ClickException("no collections: section in the config: nothing to run")
    install(settings.log_level, settings.log_format)
    click.echo(f"ivr worker: collections jobs from {settings.store_url.split('@')[-1]}")
    run_worker(settings, burst=burst)


@collections.command("simulate")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--customers", "script", type=click.Path(exists=True, dir_okay=False),
              help="YAML: account → what the customer does (pays, promises, plan_1, plan_2, "
                   "plan_3, declines, voicemail, never_answers, busy).")  # fmt: skip
@click.option("--days", default=92, show_default=True, type=click.IntRange(1, 730))
@click.option("--callplans", type=click.Path(exists=True, file_okay=False), default="callplans",
              show_default=True)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="The cases as a JSON list.")
def simulate_campaign(
    csv_file: str, script: str | None, days: int, callplans: str, as_json: bool
) -> None:
    """Run a whole campaign from CSV_FILE on simulated time, nothing outside this process:
    notices (texts and email to a local SMTP server), outbound calls answered by the scripted
    customers through the real webhooks and plans, payments on the simulated gateway,
    scheduled payments on their dates; then what happened to each case."""
    from ivr.adapters.logs import install
    from ivr.app.campaign_sim import ScriptError, read_customers, simulate

    install("ERROR")
    try:
        customers = read_customers(Path(script)) if script else {}
    except ScriptError as exc:
        raise click.ClickException(str(exc)) from None
    result = simulate(Path(csv_file), customers, days=days, callplans=Path(callplans))
    if as_json:
        click.echo(json.dumps([s.__dict__ for s in result.stories], indent=2))
        return
    for line in result.report:
        click.echo(line)
    for story in result.stories:
        click.echo(story.line())
    counts = ", ".join(f"{n} {state}" for state, n in sorted(result.counts().items()))
    click.echo(
        f"{days} days: {len(result.stories)} cases ({counts}); {result.texts} texts, "
        f"{result.emails} emails, {result.calls} calls"
    )
