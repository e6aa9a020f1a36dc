"""Webhook-turn latency through the Flask app with the Redis store, against a baseline.

Baseline (measured in the same run, same client, same Redis): a bare Flask endpoint that does
one Redis GET and one SET and returns fixed TwiML. The engine's turns are the incoming-call
webhook and the key-press webhooks of a representative plan (say, menu, amount entry with a
placeholder bound, data router, read-back). Prints median and p99 of each, and the ratios.
Target: at most 1.5x the baseline.

    .venv/bin/python bench/turn.py [--calls 300] [--redis redis://127.0.0.1:6379/0]

Without --redis it starts its own redis-server on a free loopback port.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import redis
import requests
from flask import Flask, Response
from werkzeug.serving import make_server

from ivr.app import create_app
from ivr.app.settings import Settings
from ivr.app.system import System
from ivr.engine.catalog import Catalog
from ivr.engine.loader import load_text
from ivr.engine.records import MemoryRecorder
from ivr.engine.stores.redis_store import RedisStore
from ivr.engine.turns import Engine

PLAN = """
plan: bench_turn
numbers: ["+442071239999"]
start: welcome
fallback: agent
defaults: {voice: Polly.Amy, language: en-GB, timeout: 5, retries: 2, currency: GBP,
           timezone: Europe/London}
data: {Balance: "120.50", Name: Sam}
applets:
  welcome:
    type: say
    say: "Hello $(Name). Your balance is $(Balance:currency)."
    next: menu
  menu:
    type: menu
    prompt: "To pay, press 1. For an agent, press 0."
    options: {"1": amount, "0": agent}
    on: {no_input: agent, no_match: agent}
  amount:
    type: collect_digits
    prompt: "Enter the amount, using star for pence, then hash."
    store: Amount
    validate: {amount: {min: 1, max: "$(Balance)"}}
    next: route
    on: {no_input: agent, invalid: agent}
  route:
    type: data_router
    rules:
      - {source: Amount, op: greater_than, value: "$(Balance)", type: number, goto: agent}
      - {source: Amount, op: between, value: [1, 1000], type: number, goto: confirm}
    default: agent
  confirm:
    type: menu
    prompt: "You will pay $(Amount:currency). Press 1 to confirm."
    options: {"1": bye}
    on: {no_input: agent, no_match: agent}
  bye:
    type: hangup
    say: "Thank you."
  agent:
    type: transfer
    number: "+442071230002"
"""

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/t" input="dtmf">'
    "<Say>Hello</Say></Gather></Response>"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                folder,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(200):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.02)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait()


def baseline_app(client: redis.Redis) -> Flask:
    app = Flask("baseline")

    @app.post("/voice")
    def voice() -> Response:
        client.get("bench:baseline")
        client.set("bench:baseline", "x" * 600, ex=3600)
        return Response(TWIML, mimetype="text/xml")

    return app


def engine_app(url: str) -> Flask:
    store = RedisStore.from_url(url)
    plan, _ = load_text(PLAN, "<bench>")
    catalog = Catalog([plan])
    clock = lambda: datetime(2026, 11, 18, 11, 0, tzinfo=UTC)  # noqa: E731
    engine = Engine(catalog, store, clock=clock, recorder=MemoryRecorder())
    settings = Settings(callplans=Path("/nonexistent"), store_url=url)
    system = System(settings, catalog, store, engine.recorder, engine)
    return create_app(settings, system=system)


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


class TestClientPoster:
    """In-process: Flask's test client (no sockets)."""

    def __init__(self, app: Flask):
        self.client = app.test_client()

    def __call__(self, path: str, data: dict[str, str]) -> bytes:
        return self.client.post(path, data=data).data

    def close(self) -> None:
        pass


class HttpPoster:
    """Real HTTP on loopback: a threaded WSGI server and a keep-alive client."""

    def __init__(self, app: Flask):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.session = requests.Session()

    def __call__(self, path: str, data: dict[str, str]) -> bytes:
        return self.session.post(self.base + path, data=data, timeout=10).content

    def close(self) -> None:
        self.session.close()
        self.server.shutdown()
        self.server.server_close()


def measure(
    base: Callable[[str, dict[str, str]], bytes],
    ours: Callable[[str, dict[str, str]], bytes],
    calls: int,
    tag: str,
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    form = {
        "AccountSid": "AC" + "0" * 32,
        "From": "+447700900123",
        "To": "+442071239999",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    steps = [
        ("/voice", None),
        ("/voice/turn/1/keys", "1"),
        ("/voice/turn/2/keys", "42*50"),
        ("/voice/turn/3/keys", "1"),
    ]
    baseline: list[float] = []
    engine: list[float] = []
    per_step: dict[str, list[float]] = {path: [] for path, _ in steps}
    for round_ in range(calls + 20):  # the first 20 rounds warm up
        sid = f"CA{tag}{round_:030d}"  # CA, 2 + 30 hex digits
        for path, digits in steps:
            data = dict(form, CallSid=sid, **({"Digits": digits} if digits else {}))
            started = time.perf_counter()
            base("/voice", data)
            middle = time.perf_counter()
            body = ours(path, data)
            ended = time.perf_counter()
            if round_ >= 20:
                baseline.append(middle - started)
                engine.append(ended - middle)
                per_step[path].append(ended - middle)
        assert b"Thank you" in body, "the bench call did not reach the end of the plan"
    return baseline, engine, per_step


def report(
    title: str, baseline: list[float], engine: list[float], per_step: dict[str, list[float]]
) -> float:
    b_med, b_p99 = summary(baseline)
    e_med, e_p99 = summary(engine)
    print(f"\n{title}: {len(engine)} webhook turns")
    print(f"{'':30} {'median':>9} {'p99':>9}")
    print(f"{'baseline (GET+SET, fixed)':30} {b_med * 1e3:>7.3f}ms {b_p99 * 1e3:>7.3f}ms")
    print(f"{'engine turn (all kinds)':30} {e_med * 1e3:>7.3f}ms {e_p99 * 1e3:>7.3f}ms")
    for path, samples in per_step.items():
        med, p99 = summary(samples)
        print(f"{'  ' + path:30} {med * 1e3:>7.3f}ms {p99 * 1e3:>7.3f}ms")
    ratio = e_med / b_med
    print(f"ratio: median {ratio:.2f}x, p99 {e_p99 / b_p99:.2f}x")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--redis", help="use this Redis instead of starting one")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines
    with redis_server(args.redis) as url:
        client = redis.Redis.from_url(url)
        base_app, our_app = baseline_app(client), engine_app(url)
        ratios = {}
        for title, poster in (
            ("HTTP on loopback (as Twilio reaches the app)", HttpPoster),
            ("in-process test client (no sockets)", TestClientPoster),
        ):
            base, ours = poster(base_app), poster(our_app)
            try:
                tag = "ab" if poster is HttpPoster else "cd"  # CallSids are CA + 32 hex
                ratios[title] = report(title, *measure(base, ours, args.calls, tag))
            finally:
                base.close()
                ours.close()
        client.close()
    http_ratio = next(iter(ratios.values()))
    verdict = "met" if http_ratio <= 1.5 else "NOT met"
    print(
        f"\ntarget: median turn at most 1.5x the baseline over HTTP: {http_ratio:.2f}x "
        f"({verdict}); in-process the fixed overhead is smaller, so the ratio is higher"
    )


if __name__ == "__main__":
    main()
