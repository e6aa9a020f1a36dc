"""The console's scenario runs: a plan's scenarios (the scenario files in the plans folder
whose calls reach that plan) run against the plans given (an edited text beside the other
serving plans), each on a private system as `ivr test` runs them: a memory store, a throwaway
bridge ledger with the simulated gateway and no payment-result webhook, the demo billing of its
own; records kept as test calls. Bounded by a time budget (a web request waits for it)."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from ivr.app.scenarios import Scenario, ScenarioError, load_scenarios, run_scenario, scenario_files
from ivr.app.system import System
from ivr.console.scenario_runs import ScenarioResult, ScenarioRun
from ivr.engine.catalog import Catalog
from ivr.lang.model import Plan

log = logging.getLogger("ivr.console.scenarios")

BUDGET_SECONDS = 20.0  # inside a web request: what is not run by then is said to be so


class ScenarioRuns:
    def __init__(self, live: System, budget: float = BUDGET_SECONDS):
        self.live = live
        self.budget = budget

    def __call__(self, plan_id: str, plans: list[Plan]) -> ScenarioRun:
        run = ScenarioRun()
        settings = self.live.settings
        catalog = Catalog(plans, numbers=settings.numbers, max_plan_bytes=settings.max_plan_bytes)
        chosen = self._scenarios(plan_id, catalog, run)
        if not chosen and not run.notes:
            run.notes.append(
                f"No scenario reaches {plan_id}: add one to a scenario file in "
                f"{settings.callplans.name}/ (docs/scenario-files.md)."
            )
        deadline = time.monotonic() + self.budget
        with tempfile.TemporaryDirectory(prefix="ivr-console-test-") as folder:
            private = replace(
                settings,
                store_url="memory://",
                demo_billing_database=None,
                pci={
                    **settings.pci,
                    "database_url": f"sqlite:///{folder}/pci.sqlite3",
                    "gateway": "simulated",
                    "result_webhook": None,
                    "state_url": None,
                },
            )
            for n, (file, scenario) in enumerate(chosen):
                if time.monotonic() > deadline:
                    run.notes.append(
                        f"Stopped after {self.budget:.0f} s: {len(chosen) - n} of "
                        f"{len(chosen)} scenarios not run (`ivr test` runs them all)."
                    )
                    break
                outcome = run_scenario(
                    scenario,
                    private,
                    catalog=catalog,
                    recorder=self.live.recorder,
                    test_calls=True,
                )
                run.results.append(
                    ScenarioResult(
                        file.name,
                        scenario.name,
                        outcome.passed,
                        tuple(outcome.failures),
                        outcome.seconds,
                    )
                )
        return run

    def _scenarios(
        self, plan_id: str, catalog: Catalog, run: ScenarioRun
    ) -> list[tuple[Path, Scenario]]:
        """The scenarios whose call reaches `plan_id` first (by number or `plan:`)."""
        chosen = []
        for file in scenario_files([self.live.settings.callplans]):
            try:
                scenarios = load_scenarios(file)
            except ScenarioError as exc:
                run.notes.append(f"{file.name} not run: {len(exc.diagnostics)} error(s).")
                continue
            for scenario in scenarios:
                answering = scenario.plan or _plan_of(catalog, scenario.number)
                if answering == plan_id:
                    chosen.append((file, scenario))
        return chosen


def _plan_of(catalog: Catalog, number: str) -> str | None:
    compiled = catalog.for_number(number)
    return compiled.plan.id if compiled is not None else None
