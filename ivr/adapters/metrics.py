"""Prometheus metrics (operations.md "Metrics"), correct under gunicorn with several workers:
with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn.conf.py sets it) every worker writes its own
files and one scrape of `/metrics` sums them all.

Labels come from bounded sets: plan ids, applet ids, outcomes, webhook kinds, results. A value
that does not look like a name (an outcome set from a web service's answer, say) is counted as
`other`; a CallSid, a phone number, an amount or a reference is never a label.
"""

from __future__ import annotations

import os
import re
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)

CALLS_STARTED = Counter("ivr_calls_started", "Calls started, by plan", ["plan"])
CALLS_ENDED = Counter(
    "ivr_calls_ended", "Calls ended (recorded), by plan and outcome", ["plan", "outcome"]
)
TURNS = Histogram(
    "ivr_webhook_seconds",
    "Webhook turns and their latency, by webhook",
    ["webhook"],
    buckets=LATENCY_BUCKETS,
)
STAGES = Histogram(
    "ivr_webhook_stage_seconds",
    "Where a webhook's time goes: signature, session_read (lock and read the call), engine "
    "(the plan's applets, web services included), session_write (write, queue the record, "
    "unlock), twiml",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 15.0),
)
ERRORS = Counter("ivr_webhook_errors", "Webhooks that failed, by kind", ["kind"])


_CHILDREN: dict[tuple[int, str], Any] = {}


def child(metric: Any, label: str) -> Any:
    """`metric.labels(label)`, looked up once per (metric, label): a webhook observes
    several, and `labels()` locks and checks its arguments on every call. The labels are a
    few fixed names (stages, webhooks), so the table stays small."""
    key = (id(metric), label)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN.setdefault(key, metric.labels(label))
    return found


SERVICE_CALLS = Histogram(
    "ivr_data_connector_seconds",
    "Web service calls the plans make, by plan, applet and result, and their latency",
    ["plan", "applet", "result"],
    buckets=LATENCY_BUCKETS,
)
PLAN_PUBLISHES = Counter(
    "ivr_plan_publishes", "Plan versions offered for publishing, by result", ["result"]
)
PLAN_LOADS = Counter(
    "ivr_plan_loads", "Loads of the published plans by a process, by result", ["result"]
)

# webhook error kinds
SIGNATURE_REFUSED = "signature_refused"
STORE_UNAVAILABLE = "store_unavailable"
ENGINE_ERROR = "engine_error"
BAD_REQUEST = "bad_request"


def label(value: str) -> str:
    """`value` if it looks like a name from a plan, else `other`."""
    return value if _NAME.fullmatch(value) else "other"


class EngineMetrics:
    """The engine's observer (`ivr.engine.observer.Observer`): counts calls and web calls."""

    def call_started(self, plan_id: str) -> None:
        CALLS_STARTED.labels(label(plan_id)).inc()

    def call_ended(self, plan_id: str, outcome: str) -> None:
        CALLS_ENDED.labels(label(plan_id), label(outcome)).inc()

    def service_call(self, plan_id: str, applet_id: str, result: str, seconds: float) -> None:
        SERVICE_CALLS.labels(label(plan_id), label(applet_id), label(result)).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets: every worker's metrics in multiprocess mode, else this
    process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
