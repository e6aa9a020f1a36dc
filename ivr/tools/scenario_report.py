"""Runs scenario files and reports them like a test runner, with coverage per plan."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ivr.app.scenarios import (
    Outcome,
    ScenarioError,
    coverage,
    load_scenarios,
    run_scenario,
    scenario_files,
)
from ivr.app.settings import DEFAULT_DATABASE, Settings
from ivr.engine.catalog import Catalog
from ivr.tools.transcript import cost


def run_files(
    paths: list[Path],
    settings: Settings,
    *,
    select: str | None = None,
    show_coverage: bool = True,
    echo: Callable[[str], None] = print,
    barge_in: bool = True,
) -> bool:
    """Run scenario files; the default SQLite databases are swapped for throwaway ones so a
    test run leaves nothing behind (configured databases, e.g. PostgreSQL, are used as is)."""
    with tempfile.TemporaryDirectory(prefix="ivr-test-") as folder:
        if settings.database_url == DEFAULT_DATABASE:
            settings = replace(settings, database_url=f"sqlite:///{folder}/calls.sqlite3")
        if "database_url" not in settings.pci:
            settings = replace(
                settings, pci={**settings.pci, "database_url": f"sqlite:///{folder}/pci.sqlite3"}
            )
        return _run_files(
            paths,
            settings,
            select=select,
            show_coverage=show_coverage,
            echo=echo,
            barge_in=barge_in,
        )


def _run_files(
    paths: list[Path],
    settings: Settings,
    *,
    select: str | None,
    show_coverage: bool,
    echo: Callable[[str], None],
    barge_in: bool = True,
) -> bool:
    files = scenario_files(paths)
    results: list[Outcome] = []
    broken = 0
    if not files:
        echo(f"no scenario files found in {', '.join(str(p) for p in paths)}")
        return False
    for file in files:
        try:
            scenarios = load_scenarios(file)
        except ScenarioError as exc:
            echo(f"{file}: not run, the file has {len(exc.diagnostics)} error(s):")
            for diagnostic in exc.diagnostics:
                echo(f"  {diagnostic.format()}")
            broken += 1
            continue
        echo(str(file))
        for scenario in scenarios:
            if select and select.lower() not in scenario.name.lower():
                continue
            outcome = run_scenario(scenario, settings, barge_in=barge_in)
            results.append(outcome)
            mark = "PASS" if outcome.passed else "FAIL"
            spent = ""
            if outcome.report is not None:
                r = outcome.report.result
                spent = f": a {r.duration}s call, {cost(r.entries, r.prompt_seconds)}"
            echo(f"  {mark} {scenario.name} ({outcome.seconds * 1000:.0f} ms){spent}")
            for failure in outcome.failures:
                for line in failure.splitlines():
                    echo(f"       {line}")
    if show_coverage and results:
        catalog, _ = Catalog.from_paths([settings.callplans], numbers=settings.numbers)
        echo("coverage")
        for plan_id, cov in sorted(coverage(catalog, results).items()):
            if not cov.seen_applets:
                continue
            applets = cov.percent(cov.seen_applets, cov.applets)
            edges = cov.percent(cov.seen_edges, cov.edges)
            echo(
                f"  {plan_id}: applets {len(cov.seen_applets & cov.applets)}/"
                f"{len(cov.applets)} ({applets:.0f}%), outcomes "
                f"{len(cov.seen_edges & cov.edges)}/{len(cov.edges)} ({edges:.0f}%)"
            )
            missing_applets = sorted(cov.applets - cov.seen_applets)
            missing_edges = sorted(f"{a}.{o}" for a, o in cov.edges - cov.seen_edges)
            if missing_applets:
                echo(f"    applets not run: {', '.join(missing_applets)}")
            if missing_edges:
                echo(f"    outcomes not taken: {', '.join(missing_edges)}")
    passed = sum(1 for r in results if r.passed)
    failed = len(results) - passed + broken
    echo(f"{passed} passed, {failed} failed")
    return failed == 0 and bool(results)
