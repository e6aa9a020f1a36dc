"""The console's "Run scenario tests": a plan's scenarios (from the plans folder's scenario
files) run against the text in the editor, beside the other serving plans, on private systems;
results per scenario on the plan page, the calls recorded as test calls, nothing published."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ivr.app.scenario_runs import ScenarioRuns
from ivr.console.roles import Role
from ivr.console.users import Users
from tests.conftest import Clock
from tests.test_console_phone import Browser, build

PLAN_ID = "payment_inquiry"
PATH = f"/console/plans/{PLAN_ID}"


@pytest.fixture
def app(tmp_path: Path, service_keys_env: None, clock: Clock) -> Iterator[Flask]:
    app = build(tmp_path, clock)
    users: Users = app.extensions["ivr_console"].users
    for role in Role:
        users.add(role.value, role.value, "correct horse battery", actor="test")
    yield app
    app.extensions["ivr"].stop_background()


def serving_text(app: Flask) -> str:
    text: str = app.extensions["ivr_console"].plans.history(PLAN_ID)[0].content
    return text


def run(browser: Browser, text: str) -> tuple[int, str]:
    answer = browser.client.post(
        PATH, data={"text": text, "action": "test", "csrf_token": browser.csrf}
    )
    return answer.status_code, answer.get_data(as_text=True)


def test_the_serving_text_passes_its_scenarios_and_they_are_test_calls(app: Flask) -> None:
    editor = Browser(app, "editor")
    before = app.extensions["ivr_console"].plans.marker()
    status, page = run(editor, serving_text(app))
    assert status == 200, page
    found = re.search(r"Scenario tests of this text: (\d+) passed, (\d+) failed", page)
    assert found and int(found.group(1)) >= 10 and found.group(2) == "0", page
    assert "a paid payment is read back with its amount and date" in page
    assert app.extensions["ivr_console"].plans.marker() == before  # nothing published
    records = app.extensions["ivr"].recorder.recent(100)
    assert records and all(r.test for r in records)
    assert {r.plan_id for r in records} == {PLAN_ID}


def test_an_edit_that_breaks_a_scenario_shows_what_differed(app: Flask) -> None:
    editor = Browser(app, "editor")
    edited = serving_text(app).replace("was successful", "went through")
    status, page = run(editor, edited)
    assert status == 200
    assert re.search(r"Scenario tests of this text: \d+ passed, [1-9]\d* failed", page), page
    assert "FAIL" in page and "a paid payment is read back" in page
    assert "was successful" in page  # the words the scenario expected, in its failure


def test_a_text_with_errors_is_not_run(app: Flask) -> None:
    editor = Browser(app, "editor")
    status, page = run(editor, serving_text(app) + "\nbogus_key: 1\n")
    assert status == 400 and "Not run: fix the errors below first." in page
    assert "bogus_key" in page and "Scenario tests of this text" not in page
    assert app.extensions["ivr"].recorder.recent(10) == []


def test_viewers_cannot_run_scenarios(app: Flask) -> None:
    viewer = Browser(app, "viewer")
    status, _ = run(viewer, serving_text(app))
    assert status == 403
    assert app.extensions["ivr"].recorder.recent(10) == []


def test_the_time_budget_stops_a_long_run_and_says_so(app: Flask) -> None:
    services: Any = app.extensions["ivr_console"]
    services.scenarios = ScenarioRuns(app.extensions["ivr"], budget=0.0)
    status, page = run(Browser(app, "editor"), serving_text(app))
    assert status == 200 and "Stopped after 0 s" in page and "not run" in page, page
