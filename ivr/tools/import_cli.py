"""`ivr import studio FLOW.json`: a Twilio Studio flow as a call plan."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivr.lang.fields import ID_RE


@click.group("import")
def import_group() -> None:
    """Bring an IVR from another system into call plans."""


def _subflow(value: str) -> tuple[str, str]:
    sid, sep, plan = value.partition("=")
    if not sep or not sid.startswith("FW") or not ID_RE.fullmatch(plan):
        raise click.BadParameter(f"'{value}': expected FW...=plan_id")
    return sid, plan


@import_group.command("studio")
@click.argument("flow", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the plan here (default: standard output).",
)
@click.option("--plan-id", help="The plan's id (default: from the file name).")
@click.option(
    "--number", "numbers", multiple=True, help="An E.164 number the plan answers (repeatable)."
)
@click.option(
    "--agent-number",
    help="E.164 number the fallback transfers to (default: apologise and hang up).",
)
@click.option(
    "--pci-url",
    default=None,
    help="The PCI bridge's API for capture-payments (default: the embedded bridge).",
)
@click.option(
    "--subflow",
    "subflows",
    multiple=True,
    help="FW...=plan_id: the plan a run-subflow or a redirect to that flow goes to.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail (and write nothing) when any widget is not imported exactly.",
)
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def studio(
    flow: Path,
    output: Path | None,
    plan_id: str | None,
    numbers: tuple[str, ...],
    agent_number: str | None,
    pci_url: str | None,
    subflows: tuple[str, ...],
    strict: bool,
    force: bool,
) -> None:
    """Import a Twilio Studio flow definition (JSON) as a call plan."""
    from ivr.studio.build import DEFAULT_PCI_URL, Options
    from ivr.studio.flow import FlowError, parse_flow
    from ivr.studio.importer import ImportBug, import_flow
    from ivr.studio.liquid import snake

    say = lambda text: click.echo(text, err=True)  # noqa: E731 - the report goes to stderr
    plan = plan_id or snake(flow.stem)
    if not ID_RE.fullmatch(plan):
        raise click.BadParameter(f"'{plan}' must match {ID_RE.pattern}", param_hint="--plan-id")
    if output is not None and output.exists() and not force:
        raise click.UsageError(f"{output} exists (use --force to overwrite it)")
    options = Options(
        plan_id=plan,
        pci_url=pci_url or DEFAULT_PCI_URL,
        agent_number=agent_number,
        numbers=numbers,
        subflows=dict(_subflow(s) for s in subflows),
    )
    try:
        text = flow.read_text(encoding="utf-8")
        imported = import_flow(parse_flow(text), options, source_name=flow.name)
    except (OSError, UnicodeDecodeError) as exc:
        say(f"{flow}: cannot read the file: {exc}")
        sys.exit(1)
    except FlowError as exc:
        for problem in exc.problems:
            say(f"{flow}: error: {problem}")
        sys.exit(1)
    except ImportBug as exc:
        for d in exc.diagnostics:
            say(str(d))
        say(
            "the imported plan does not validate: this is a fault of the importer; please "
            "report it with the flow"
        )
        sys.exit(2)
    for finding in imported.findings:
        kind = "error" if strict else "warning"
        say(f"{flow}: {kind}: {finding.line()}")
    for note in imported.notes:
        say(f"{flow}: note: {note}")
    if imported.left_out:
        names = ", ".join(w.name for w in imported.left_out)
        say(
            f"{flow}: note: left out, not on an incoming call's path (other triggers', or "
            f"after a route not imported): {names}"
        )
    for d in imported.warnings:
        say(str(d))
    if strict and imported.findings:
        say(f"not written: {len(imported.findings)} widget(s) not imported exactly (--strict)")
        sys.exit(1)
    if output is None:
        click.echo(imported.text, nl=False)
    else:
        output.write_text(imported.text, encoding="utf-8")
    where = str(output) if output else "standard output"
    say(
        f"imported {flow.name} as plan '{plan}' ({imported.applets} applets) to {where}: "
        f"{len(imported.not_imported)} widget(s) not imported, "
        f"{len(imported.findings) - len(imported.not_imported)} with a difference"
    )
