"""`/health` (liveness) and `/ready` (readiness) as operations.md describes them.

`/health` touches no dependency: 200 while the process answers. `/ready` asks each dependency
this process uses — the session store, the database, the embedded bridge's live state and
ledger — within a short budget, and whether a plan is loaded: 200 when all answer, else 503
naming each failing check. Neither reveals a secret, a phone number or card data.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify

from foundation.probe import problem

if TYPE_CHECKING:
    from ivr.app.system import System

READY_BUDGET = 2.0  # seconds for all checks together (a probe's own timeout is often 3-5 s)

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="ready")


def _store(system: System) -> dict[str, str]:
    try:
        return {"store": "ok" if system.store.ping() else "not answering"}
    except Exception as exc:
        return {"store": problem(exc)}


def _database(system: System) -> dict[str, str]:
    db = system.plans.db if system.plans is not None else getattr(system.recorder, "db", None)
    if db is None:
        return {}
    try:
        with db.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"database": "ok"}
    except Exception as exc:
        return {"database": problem(exc)}


def _bridge(system: System) -> dict[str, str]:
    if system.bridge is None:
        return {}
    checks: dict[str, str] = system.bridge.checks()
    return checks


def _plans(system: System) -> dict[str, str]:
    return {"plans": "ok" if system.catalog.plan_ids else "no plan loaded"}


CHECKS: tuple[Callable[[System], dict[str, str]], ...] = (_store, _database, _bridge, _plans)


def readiness(system: System, budget: float = READY_BUDGET) -> tuple[bool, dict[str, Any]]:
    futures = {check: _pool.submit(check, system) for check in CHECKS}
    done, _ = concurrent.futures.wait(futures.values(), timeout=budget)
    results: dict[str, str] = {}
    for check, future in futures.items():
        name = check.__name__.lstrip("_")
        if future in done:
            results.update(future.result())
        else:
            results[name] = f"no answer within {budget:g} s"
    ok = all(value == "ok" for value in results.values())
    body: dict[str, Any] = {"status": "ready" if ok else "unavailable", "checks": results}
    if ok:
        body["plans"] = system.serving_plans()
    return ok, body


def register(app: Flask) -> None:
    @app.get("/health")
    def health() -> dict[str, Any]:
        system = app.extensions["ivr"]
        return {"status": "ok", "plans": system.catalog.plan_ids}

    @app.get("/ready")
    def ready() -> Response:
        ok, body = readiness(app.extensions["ivr"])
        answer = jsonify(body)
        answer.status_code = 200 if ok else 503
        answer.headers["Cache-Control"] = "no-store"
        return answer
