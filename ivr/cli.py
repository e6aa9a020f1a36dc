"""The `ivr` command line: validate, graph and schema (serve, call, test and calls build on it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ivr.catalog import load_paths
from ivr.errors import PlanError
from ivr.graph import dot, mermaid
from ivr.plan.loader import load_file
from ivr.plan.schema import plan_schema


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivr-payments")
def main() -> None:
    """IVR self-service payment call-flow engine."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors and warnings.")
def validate(paths: tuple[Path, ...], strict: bool, quiet: bool) -> None:
    """Validate call plans (files or folders; default: callplans/)."""
    targets = list(paths) or [Path("callplans")]
    result = load_paths(targets)
    for diagnostic in result.diagnostics:
        click.echo(diagnostic.format(), err=False)
    errors, warnings = len(result.errors), len(result.warnings)
    if not quiet:
        click.echo(f"{len(result.plans)} plan(s) valid, {len(result.refused)} refused: "
                   f"{errors} error(s), {warnings} warning(s)")
    if errors or (strict and warnings):
        sys.exit(1)


@main.command()
@click.argument("plan", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True)
def graph(plan: Path, fmt: str) -> None:
    """Print a plan as a graph: applets as nodes, outcomes as labelled edges."""
    try:
        loaded, _ = load_file(plan)
    except PlanError as exc:
        for diagnostic in exc.diagnostics:
            click.echo(diagnostic.format(), err=True)
        sys.exit(1)
    click.echo(mermaid(loaded) if fmt == "mermaid" else dot(loaded), nl=False)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the call plan language."""
    click.echo(json.dumps(plan_schema(), indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
