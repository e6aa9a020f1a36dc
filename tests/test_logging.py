"""Logs (operations.md "Logs"): configured by the app factory, so gunicorn workers log like
`ivr serve`; text or JSON lines; the CallSid on every line about a call; card-like numbers
redacted whatever the format."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import requests

from foundation.redaction import RedactingFilter
from ivr.adapters.logs import CallContext, JsonFormatter, TextFormatter, bound_call, install
from tests.test_fleet_plans import CALLER, Fleet, fleet_config

SID = "CA" + "7" * 32


def record(message: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    made = logging.LogRecord("ivr.web", level, __file__, 1, message, args, None)
    CallContext().filter(made)
    RedactingFilter().filter(made)
    return made


def test_a_json_line_has_time_level_logger_message_and_the_call() -> None:
    with bound_call(SID):
        line = JsonFormatter().format(record("no plan answers %s", "+441000000999"))
    data = json.loads(line)
    assert set(data) == {"time", "level", "logger", "message", "call_sid"}
    assert (data["level"], data["logger"], data["call_sid"]) == ("WARNING", "ivr.web", SID)
    assert data["message"] == "no plan answers +441000000999"
    assert data["time"].endswith("+00:00")


def test_outside_a_call_there_is_no_call_sid() -> None:
    data = json.loads(JsonFormatter().format(record("serving %s", "plans")))
    assert "call_sid" not in data


def test_a_text_line_names_the_call_once() -> None:
    with bound_call(SID):
        plain = TextFormatter().format(record("data_connector failed: %s", "timeout"))
        named = TextFormatter().format(record("[%s] webhook failed", SID))
    assert plain.endswith(f"WARNING ivr.web: data_connector failed: timeout [{SID}]")
    assert named.count(SID) == 1


def test_card_numbers_are_redacted_in_json_too() -> None:
    line = JsonFormatter().format(record("caller said %s", "4111 1111 1111 1111"))
    assert "4111" not in line and "[REDACTED]" in line


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format 'xml': use text or json"):
        install("INFO", "xml")


def test_gunicorn_workers_log_json_lines_with_the_call_sid(tmp_path: Path, redis_url: str) -> None:
    config = fleet_config(tmp_path, redis_url)
    server = Fleet("gunicorn", config, tmp_path / "server.log")
    server.start(IVR_LOG_FORMAT="json", IVR_LOG_LEVEL="INFO")
    try:
        answer = requests.post(
            server.url + "/voice",
            data={"CallSid": SID, "From": CALLER, "To": "+441000000999"},
            timeout=10,
        )
        assert answer.status_code == 200 and "not in service" in answer.text
    finally:
        server.stop()
    lines = [
        json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
    ]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    about = [line for line in lines if line.get("call_sid") == SID]
    assert about and about[0]["level"] == "WARNING" and about[0]["logger"] == "ivr.web"
    assert any(line["logger"] == "ivr.plans" for line in lines)  # both workers' own lines
