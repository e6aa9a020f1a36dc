"""`/metrics` (operations.md "Metrics"): Prometheus text from every worker of a gunicorn fleet
(multiprocess mode, set up by the shipped gunicorn.conf.py), whose sums are the calls made;
bounded labels; a bearer token when IVR_METRICS_TOKEN is set."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ivr.adapters.metrics import label
from tests.conftest import ROOT
from tests.test_fleet_plans import Fleet, fleet_config

CALLS = 12
TOKEN = "metrics-token-0123456789abcdef"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(found: dict, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, have), value in found.items()
        if sample == name and set(labels.items()) <= set(have)
    )


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str) -> Iterator[Fleet]:
    server = Fleet("gunicorn", fleet_config(tmp_path, redis_url), tmp_path / "server.log")
    server.shipped = True  # gunicorn.conf.py: multiprocess metrics
    server.start(IVR_METRICS_TOKEN=TOKEN)
    try:
        yield server
    finally:
        server.stop()


def test_a_scrape_counts_every_workers_calls(fleet: Fleet) -> None:
    mark = len(fleet.log.read_text(errors="replace"))
    made = 0
    # the kernel hands connections to the workers as it likes: call until both have answered
    while made < CALLS or (len(fleet.workers_seen(mark)) < 2 and made < 200):
        made += 1
        fleet.whole_call()
        time.sleep(0.01)  # lets the access log line of this call be written
    assert len(fleet.workers_seen(mark)) == 2, "the calls did not reach both workers"

    scraped = requests.get(
        fleet.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert scraped.status_code == 200
    assert scraped.headers["Content-Type"].startswith("text/plain")
    found = samples(scraped.text)
    assert total(found, "ivr_calls_started_total", plan="reload_line") == made
    assert total(found, "ivr_calls_ended_total", plan="reload_line", outcome="ReloadDone") == made
    assert total(found, "ivr_webhook_seconds_count", webhook="incoming") == made
    assert total(found, "ivr_webhook_seconds_count", webhook="keys") == made
    assert total(found, "ivr_webhook_seconds_count", webhook="status") == made
    assert total(found, "ivr_webhook_errors_total") == 0
    assert total(found, "ivr_plan_loads_total", result="loaded") >= 1
    # where each webhook's time went: the two Redis steps of each of a call's 3 webhooks, the
    # engine and TwiML of the 2 that answer with TwiML (the status callback answers 204);
    # together less than the webhooks' own time
    for stage, count in (("session_read", 3), ("session_write", 3), ("engine", 2), ("twiml", 2)):
        assert total(found, "ivr_webhook_stage_seconds_count", stage=stage) == count * made
    staged = sum(
        total(found, "ivr_webhook_stage_seconds_sum", stage=s)
        for s in ("signature", "session_read", "engine", "session_write", "twiml")
    )
    assert 0 < staged < total(found, "ivr_webhook_seconds_sum")
    # no CallSid, no phone number in any label
    assert not re.search(r"CA[0-9a-f]{32}|\+44\d{6,}", scraped.text)


def test_metrics_need_the_token_when_one_is_set(fleet: Fleet) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        answer = requests.get(fleet.url + "/metrics", headers=headers, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert "ivr_" not in answer.text


def test_labels_stay_bounded() -> None:
    assert label("PaymentTaken") == "PaymentTaken"
    assert label("rule_1") == "rule_1"
    for value in ("+447700900123", "CA" + "a" * 32 + " x", "£72.50", "x" * 80, ""):
        assert label(value) == "other"


def test_the_sample_dashboard_uses_only_metrics_we_export() -> None:
    import json

    from prometheus_client import REGISTRY

    import ivr.adapters.metrics  # noqa: F401  (registers the engine's metrics)
    import pci_bridge.metrics  # noqa: F401

    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exported = {
        sample_name
        for family in REGISTRY.collect()
        for sample_name in (
            family.name,
            f"{family.name}_total",
            f"{family.name}_bucket",
            f"{family.name}_count",
            f"{family.name}_sum",
        )
    }
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(?:ivr|pci)_[a-z_]+", target["expr"])
    }
    assert used and used <= exported, used - exported
