"""How many callers at once: the engine and the floor under the same load, in one run.

N simulated callers over real HTTP on loopback, each call five webhooks (incoming, two key
presses, the last turn that hangs up and records, the status callback) with PACE seconds
between them, as a caller listens and presses. Both apps run under gunicorn (the repository's
gunicorn.conf.py, 2 workers) against the same Redis; the engine with SQL call records written by
its dedicated writer (`ivr write-records`; --workers-write-records for a fleet without one) and
Twilio signatures checked (bench/serving.py), the floor a bare GET+SET endpoint (bench/floor.py).
Before the first level both apps take WARM_UP calls, not measured (a worker's first calls
build what it keeps: connections, compiled statements, the plan's routes).

Two shapes of load for each N:
- ramp: all N calls start within the first RAMP seconds;
- steady: exactly N calls in progress (a call that ends is replaced at once), measured for
  STEADY seconds once the last caller has started.

For each N it prints p50, p99 and max latency, errors (an answer >= 400, no answer within 15 s,
a refused connection) and webhooks per second, for both apps; then the highest N each sustains
(p99 under 50 ms, no error) and the engine's share of the floor's. Target (issue 13): the engine
sustains at least 0.8x the floor's highest N, in both shapes. Loopback only; bounded in time
(the levels stop once both apps fail one).

A shared machine's speed varies from one minute to the next (other tenants, the host), and a
level takes a minute or more: each level is run --repeat times, the floor and the engine taking
turns (floor first, then engine first, ...), and each app's best run stands for the level, so a
slow minute counts against neither. Between runs the engine's queued call records are written
out first (the next run must not pay for the last one's records), then the machine rests.

    .venv/bin/python bench/load.py [--levels 500 1000 2000 4000 6000 8000] [--workers 2]
                                   [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from bench.serving import STEPS, redis_server, served, signed, step_form  # noqa: E402
from ivr.engine.stores.base import RECORDS_QUEUE_KEY  # noqa: E402

PACE = 5.0  # seconds between a caller's webhooks
RAMP = 5.0  # ramp: every call starts within this many seconds
STEADY = 30.0  # steady: seconds of exactly N calls in progress
P99_LIMIT = 0.050
TARGET = 0.8
TIMEOUT = 15.0  # Twilio gives up on a webhook after 15 s
REST = 2.0  # seconds between runs, once the engine's records are written
WARM_UP = 200  # calls each app takes before the first level, not measured


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # what went wrong, by webhook
    started: float = 0.0
    ended: float = 0.0

    @property
    def ok(self) -> bool:
        return self.errors == 0 and bool(self.latencies) and self.p99 < P99_LIMIT

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0

    def line(self, name: str) -> str:
        if not self.latencies:
            return f"{name:7} no answers, {self.errors} errors"
        rate = len(self.latencies) / max(self.ended - self.started, 1e-9)
        return (
            f"{name:7} p50 {statistics.median(self.latencies) * 1e3:7.1f} ms  "
            f"p99 {self.p99 * 1e3:7.1f} ms  max {max(self.latencies) * 1e3:7.1f} ms  "
            f"errors {self.errors:4}  {rate:6.0f} webhooks/s  {'ok' if self.ok else 'FAILS'}"
            + (f"  ({self.why()})" if self.errors else "")
        )

    def why(self) -> str:
        return ", ".join(f"{reason}: {count}" for reason, count in self.reasons.items())


async def post(base: str, path: str, data: dict[str, str]) -> int:
    """One webhook as Twilio sends it (signed, form-encoded), on a new connection."""
    parts = urlsplit(base)
    body = urlencode(data).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {signed(base, path, data)['X-Twilio-Signature']}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()  # to the end: the server closes the connection
        return int(status_line.split()[1])
    finally:
        writer.close()


async def one_call(
    base: str,
    sid: str,
    result: Result,
    measured: float,
    until: float = float("inf"),
    pace: float | None = None,
) -> None:
    """One call's webhooks, `pace` (PACE) apart; those started in [measured, until) are
    counted. The caller hangs up at `until` (the end of a steady phase)."""
    for i, (kind, path, digits) in enumerate(STEPS):
        if i:
            await asyncio.sleep(PACE if pace is None else pace)
        started = time.monotonic()
        if started >= until:
            return
        reason = ""
        try:
            status = await asyncio.wait_for(post(base, path, step_form(sid, kind, digits)), TIMEOUT)
            if status >= 400:
                reason = f"{kind} answered {status}"
        except TimeoutError:
            reason = f"{kind}: no answer in {TIMEOUT:g} s"
        except (OSError, ValueError, IndexError) as exc:
            reason = f"{kind}: {type(exc).__name__}"
        failed = bool(reason)
        if started >= measured:
            if failed:
                result.errors += 1
                result.reasons[reason] = result.reasons.get(reason, 0) + 1
            else:
                result.latencies.append(time.monotonic() - started)
        if failed:
            return  # the caller hears an application error: the call is over


def sid(run: str, n: int) -> str:
    """A CallSid as Twilio makes them (CA and 32 hex digits), unique to the run and call."""
    return f"CA{zlib.crc32(run.encode()):08x}{n:024x}"


async def ramp(base: str, n: int, run: str) -> Result:
    result = Result(started=time.monotonic())
    starts = sorted(random.uniform(0, RAMP) for _ in range(n))

    async def later(delay: float, i: int) -> None:
        await asyncio.sleep(delay)
        await one_call(base, sid(run, i), result, result.started)

    await asyncio.gather(*(later(d, i) for i, d in enumerate(starts)))
    result.ended = time.monotonic()
    return result


async def steady(base: str, n: int, run: str) -> Result:
    """N callers, each placing calls back to back. They start staggered over one call's
    length (so turns arrive evenly); the measured window is the STEADY seconds after the last
    has started, when exactly N calls are in progress; at its end every caller hangs up."""
    span = PACE * (len(STEPS) - 1)
    begin = time.monotonic()
    result = Result(started=begin + span)
    until = result.started + STEADY
    counter = iter(range(10**9))

    async def caller(delay: float) -> None:
        await asyncio.sleep(delay)
        while time.monotonic() < until:
            await one_call(base, sid(run, next(counter)), result, result.started, until)

    await asyncio.gather(*(caller(span * i / n) for i in range(n)))
    result.ended = until
    return result


async def warm_up(base: str, run: str) -> None:
    """WARM_UP calls, briskly paced, not measured."""
    ignored = Result()
    await asyncio.gather(
        *(one_call(base, sid(run, i), ignored, float("inf"), pace=0.2) for i in range(WARM_UP))
    )


def best(runs: list[Result]) -> Result:
    """The level's result for one app: its best run (a passing one if any, else the one with
    the fewest errors, then the lowest p99)."""
    return min(runs, key=lambda r: (not r.ok, r.errors, r.p99))


def settle(redis_url: str, within: float = 60.0) -> None:
    """Wait until the engine has written the records the last run queued, then rest."""
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + within
    try:
        while client.llen(RECORDS_QUEUE_KEY) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        client.close()
    time.sleep(REST)


def highest(levels: list[int], results: dict[int, Result]) -> int:
    best = 0
    for n in levels:
        if n in results and results[n].ok:
            best = n
        else:
            break
    return best


def main() -> None:
    global PACE, RAMP, STEADY  # the pacing: set once, from the command line
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    levels = [500, 1000, 2000, 4000, 6000, 8000]
    parser.add_argument("--levels", type=int, nargs="+", default=levels)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shapes", nargs="+", default=["ramp", "steady"])
    parser.add_argument("--database", help="SQL URL for call records (default: a SQLite file)")
    parser.add_argument("--pace", type=float, default=PACE, help="seconds between webhooks")
    parser.add_argument("--ramp", type=float, default=RAMP, help="ramp: seconds to start all")
    parser.add_argument("--steady", type=float, default=STEADY, help="steady: seconds of load")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each level per app, taking turns"
    )
    parser.add_argument(
        "--workers-write-records",
        action="store_true",
        help="no dedicated record writer: the engine's workers write the records themselves",
    )
    args = parser.parse_args()
    PACE, RAMP, STEADY = args.pace, args.ramp, args.steady
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    summary = []
    with redis_server() as redis_url:
        dedicated = not args.workers_write_records
        with served(redis_url, args.workers, args.database, dedicated) as (engine, floor):
            for name, base in (("floor", floor), ("engine", engine)):
                asyncio.run(warm_up(base, f"w{name[0]}"))
            settle(redis_url)
            writer = "a dedicated writer" if dedicated else "the workers"
            print(f"engine's call records written by {writer}")
            for shape in args.shapes:
                run_shape = ramp if shape == "ramp" else steady
                results: dict[str, dict[int, Result]] = {"floor": {}, "engine": {}}
                print(f"\n{shape}: gunicorn {args.workers} workers each, webhooks {PACE:g} s apart")
                for n in args.levels:
                    print(f"  N = {n}")
                    runs: dict[str, list[Result]] = {"floor": [], "engine": []}
                    apps = [("floor", floor), ("engine", engine)]
                    for attempt in range(max(args.repeat, 1)):
                        for name, base in apps if attempt % 2 == 0 else apps[::-1]:
                            tag = f"{shape[0]}{name[0]}{attempt}{n:06d}"
                            result = asyncio.run(run_shape(base, n, tag))
                            runs[name].append(result)
                            print(f"    run {attempt + 1} " + result.line(name))
                            settle(redis_url)
                    for name in ("floor", "engine"):
                        results[name][n] = best(runs[name])
                        print("    best  " + results[name][n].line(name))
                    if not results["floor"][n].ok and not results["engine"][n].ok:
                        break
                best_floor = highest(args.levels, results["floor"])
                best_engine = highest(args.levels, results["engine"])
                share = best_engine / best_floor if best_floor else 0.0
                summary.append((shape, best_floor, best_engine, share))
    print("\nhighest N with p99 < 50 ms and no error:")
    met = True
    for shape, best_floor, best_engine, share in summary:
        met = met and share >= TARGET
        print(
            f"  {shape:7} floor {best_floor:5}  engine {best_engine:5}  engine/floor {share:.2f}x"
        )
    verdict = "met" if met else "NOT MET"
    print(f"target: engine at least {TARGET}x the floor in every shape - {verdict}")


if __name__ == "__main__":
    main()
