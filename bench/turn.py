"""Webhook-turn latency of the engine as production runs it, against a floor, in one run.

The engine: gunicorn with the repository's gunicorn.conf.py, the Redis store, SQL call records
(a SQLite file, or --database URL), Twilio signatures checked. The floor: a bare Flask endpoint
doing one Redis GET and one SET and answering fixed TwiML (bench/floor.py), served by the same
gunicorn settings against the same Redis. One client, one request at a time, each request
signed as Twilio signs it (the floor is sent the header too and ignores it).

Each simulated call is five webhooks: the incoming call, two key presses, the last turn (the
plan hangs up and the call is recorded) and the status callback. Prints p50 and p99 per kind
and against the floor, over HTTP, then in-process (Flask's test client, same configuration,
no sockets). Targets (issue 13): key-press turns and the last turn at most 1.5x the floor at
p50 and p99 over HTTP.

    .venv/bin/python bench/turn.py [--calls 400] [--database postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving import STEPS, TOKEN, engine_config, redis_server, served, signed, step_form  # noqa: E402

TARGET = 1.5
WARM_UP = 30  # calls not counted


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


Post = Callable[[str, dict[str, str], dict[str, str]], tuple[int, bytes]]


def http_post(base: str) -> Post:
    session = requests.Session()

    def post(path: str, data: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes]:
        response = session.post(base + path, data=data, headers=headers, timeout=15)
        return response.status_code, response.content

    return post


def run(engine: Post, floor: Post, engine_base: str, floor_base: str, calls: int, tag: str):
    times: dict[str, dict[str, list[float]]] = {
        "engine": {k: [] for k, _, _ in STEPS},
        "floor": {k: [] for k, _, _ in STEPS},
    }
    for n in range(calls + WARM_UP):
        sid = f"CA{tag}{os.getpid():08x}{n:022x}"[:34]
        for kind, path, digits in STEPS:
            data = step_form(sid, kind, digits)
            for who, post, base in (("floor", floor, floor_base), ("engine", engine, engine_base)):
                headers = signed(base, path, data)
                started = time.perf_counter()
                status, body = post(path, data, headers)
                elapsed = time.perf_counter() - started
                if status >= 400:
                    raise SystemExit(f"{who} answered {status} to {path}: {body[:300]!r}")
                if who == "engine" and kind == "last" and b"Thank you" not in body:
                    raise SystemExit(f"the bench call did not reach the end of its plan: {body!r}")
                if n >= WARM_UP:
                    times[who][kind].append(elapsed)
    return times


def report(title: str, times: dict[str, dict[str, list[float]]]) -> dict[str, tuple[float, float]]:
    floor_all = [t for samples in times["floor"].values() for t in samples]
    f50, f99 = statistics.median(floor_all), percentile(floor_all, 0.99)
    print(f"\n{title}")
    print(f"{'':34} {'p50':>9} {'p99':>9} {'p50 x floor':>12} {'p99 x floor':>12}")
    print(f"{'floor (any webhook)':34} {f50 * 1e3:>7.2f}ms {f99 * 1e3:>7.2f}ms")
    print("  (each kind is compared with the floor's answers to the same webhooks)")
    ratios = {}
    labels = {
        "incoming": "engine: incoming call",
        "keys": "engine: key-press turn",
        "last": "engine: last turn (hang up, record)",
        "status": "engine: status callback",
    }
    for kind, label in labels.items():
        samples, floor = times["engine"][kind], times["floor"][kind]
        p50, p99 = statistics.median(samples), percentile(samples, 0.99)
        k50, k99 = statistics.median(floor), percentile(floor, 0.99)
        ratios[kind] = (p50 / k50, p99 / k99)
        print(
            f"{label:34} {p50 * 1e3:>7.2f}ms {p99 * 1e3:>7.2f}ms "
            f"{p50 / k50:>11.2f}x {p99 / k99:>11.2f}x"
        )
    return ratios


def in_process(redis_url: str, database: str | None, calls: int):
    from bench.floor import create_app as floor_app
    from ivr.app import create_app
    from ivr.app.settings import Settings

    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as folder:
        config = engine_config(Path(folder), redis_url, database, 80)
        os.environ["TWILIO_AUTH_TOKEN"] = TOKEN
        os.environ["FLOOR_REDIS_URL"] = redis_url
        settings = Settings.load(config)
        engine_client = create_app(settings).test_client()
        floor_client = floor_app().test_client()

        def poster(client) -> Post:
            def post(path: str, data: dict[str, str], headers: dict[str, str]):
                response = client.post(path, data=data, headers=headers)
                return response.status_code, response.data

            return post

        return run(
            poster(engine_client), poster(floor_client), "http://127.0.0.1:80",
            "http://localhost", calls, "cd",
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="calls measured (5 webhooks each)")
    parser.add_argument("--database", help="SQL URL for call records (default: a SQLite file)")
    args = parser.parse_args()
    with redis_server() as redis_url:
        with served(redis_url, workers=1, database_url=args.database) as (engine, floor):
            http = report(
                f"over HTTP: gunicorn (1 sync worker each), {args.calls} calls",
                run(http_post(engine), http_post(floor), engine, floor, args.calls, "ab"),
            )
        report(
            f"in-process (Flask test client, no sockets), {args.calls} calls",
            in_process(redis_url, args.database, args.calls),
        )
    checks = [("key-press turn", http["keys"]), ("last turn", http["last"])]
    met = all(max(r) <= TARGET for _, r in checks)
    print(
        "\ntarget over HTTP (p50 and p99 at most 1.5x the floor): "
        + "; ".join(f"{name} {r[0]:.2f}x / {r[1]:.2f}x" for name, r in checks)
        + (" - target met" if met else " - TARGET NOT MET")
    )


if __name__ == "__main__":
    main()
