"""What the HTTP benchmarks serve, the way production serves it: a redis-server of their own,
the engine under gunicorn (the repository's gunicorn.conf.py, Redis store, SQL call records,
Twilio signatures checked) with its dedicated call record writer (`ivr write-records`,
docs/operations.md; or none, the workers writing the records themselves), and the floor app
under the same gunicorn settings."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
NUMBER = "+442071239999"

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
      - {source: Amount, op: is_null, goto: agent}
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
    outcome: Confirmed
  agent:
    type: transfer
    number: "+442071230002"
    next: bye
"""

# One call: the incoming-call webhook, three key presses, the last turn (the plan hangs up and
# the call is recorded), then Twilio's status callback.
STEPS = [
    ("incoming", "/voice", None),
    ("keys", "/voice/turn/1/keys", "1"),
    ("keys", "/voice/turn/2/keys", "42*50"),
    ("last", "/voice/turn/3/keys", "1"),
    ("status", "/voice/status", None),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder, "--maxclients", "10000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
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


def engine_config(folder: Path, redis_url: str, database_url: str | None, port: int) -> Path:
    """config.yaml for the engine as deployed: Redis, SQL records, signatures (the token is
    given in the environment), no demo services."""
    plans = folder / "callplans"
    plans.mkdir(parents=True, exist_ok=True)
    (plans / "bench_turn.yaml").write_text(PLAN, encoding="utf-8")
    database = database_url or f"sqlite:///{folder}/calls.sqlite3"
    config = folder / "config.yaml"
    config.write_text(
        f"callplans: {plans}\n"
        f"store: {redis_url}\n"
        f"database: {database}\n"
        f"public_url: http://127.0.0.1:{port}\n"
        "log_level: WARNING\n"
        "demo_billing: false\n"
        "pci: {enabled: false}\n",
        encoding="utf-8",
    )
    return config


@contextmanager
def gunicorn(app: str, port: int, workers: int, env: dict[str, str]) -> Iterator[str]:
    """`gunicorn -c gunicorn.conf.py APP` on loopback; yields its base URL."""
    command = [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--access-logfile", "/dev/null", "--error-logfile", "-", app,
    ]  # fmt: skip
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still loading the app
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise SystemExit(f"{app} did not start:\n{log.read().decode(errors='replace')}")
            time.sleep(0.1)
        yield base
    finally:
        _stop(proc, log)


def _stop(proc: subprocess.Popen, log: Any) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@contextmanager
def record_writer(env: dict[str, str], wanted: bool) -> Iterator[None]:
    """`ivr write-records` beside the workers (when `wanted`), as a fleet runs it."""
    if not wanted:
        yield
        return
    command = [sys.executable, "-m", "ivr.tools.cli", "write-records"]
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=log, stderr=log)
    try:
        time.sleep(0.5)
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"ivr write-records did not start:\n{log.read().decode()}")
        yield
    finally:
        _stop(proc, log)


@contextmanager
def served(
    redis_url: str, workers: int, database_url: str | None = None, dedicated_writer: bool = True
) -> Iterator[tuple[str, str]]:
    """(engine URL, floor URL), both under gunicorn with `workers` workers; the engine's call
    records written by a dedicated writer, or by its workers (`dedicated_writer=False`)."""
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as folder:
        engine_port, floor_port = free_port(), free_port()
        config = engine_config(Path(folder), redis_url, database_url, engine_port)
        engine_env = {
            "IVR_CONFIG": str(config),
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_SECRET_KEY": "bench-console-key-0123456789",  # the console mounted, as served
        }
        with gunicorn("ivr.app:create_app()", engine_port, workers, engine_env) as engine:
            with record_writer(engine_env, dedicated_writer):
                # The same settings, but the floor's master does not import the engine
                floor_env = {"FLOOR_REDIS_URL": redis_url, "IVR_IMPORT_IN_MASTER": "0"}
                with gunicorn("bench.floor:create_app()", floor_port, workers, floor_env) as floor:
                    yield engine, floor


def form(call_sid: str, digits: str | None, status: str = "in-progress") -> dict[str, str]:
    data = {
        "AccountSid": ACCOUNT,
        "CallSid": call_sid,
        "From": "+447700900123",
        "To": NUMBER,
        "CallStatus": status,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    if digits is not None:
        data["Digits"] = digits
    return data


def step_form(call_sid: str, kind: str, digits: str | None) -> dict[str, str]:
    if kind == "status":
        return {**form(call_sid, None, "completed"), "CallDuration": "42"}
    return form(call_sid, digits)


_VALIDATOR = RequestValidator(TOKEN)


def signed(base: str, path: str, data: dict[str, str]) -> dict[str, str]:
    """Headers for a webhook as Twilio signs it (the floor is sent them too, and ignores them)."""
    return {"X-Twilio-Signature": _VALIDATOR.compute_signature(base + path, data)}
