"""Validate + compile time for generated plans of 100, 1,000 and 10,000 applets.

Prints the time per size and per applet, the growth against the smallest plan measured in the
same run (a per-applet ratio close to 1.0 means growth is close to linear), and the floor:
libyaml composing the same text into nodes, the least any YAML loader must do (measured the
same way: best of the repeats, garbage collection paused as the loader pauses it). Targets
(issue 13): 10,000 applets in under 1 s and at most 3x the compose floor.

    .venv/bin/python bench/compile.py [--sizes 100 1000 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import yaml

from foundation.gc_pause import gc_paused
from ivr.engine.compiler import compile_plan
from ivr.engine.loader import load_text

TARGET_SECONDS = 1.0
TARGET_RATIO = 3.0

HEADER = """plan: bench_{n}
start: a0
fallback: agent
defaults: {{voice: Polly.Amy, language: en-GB, timeout: 5, retries: 2, currency: GBP,
           timezone: Europe/London}}
data: {{BaseUrl: "http://127.0.0.1:9/api"}}
secrets: [TOKEN]
applets:
  agent:
    type: transfer
    number: "+442071230002"
    next: bye
  bye:
    type: hangup
    say: "Goodbye"
"""

# A repeating block of five applet types, chained; each block feeds the next.
BLOCK = """  a{i}:
    type: say
    say: "Step {i}. Your balance is $(Balance:currency)."
    next: a{i1}
  a{i1}:
    type: menu
    prompt: "Press 1 to continue, 2 for an agent."
    options: {{"1": a{i2}, "2": agent}}
    on: {{no_input: agent, no_match: agent}}
  a{i2}:
    type: collect_digits
    prompt: "Enter an amount."
    store: Amount{i}
    validate: {{amount: {{min: 1, max: 500}}}}
    next: a{i3}
    on: {{no_input: agent, invalid: agent}}
  a{i3}:
    type: data_connector
    request:
      method: POST
      url: "$(BaseUrl)/step/{i}"
      headers: {{Authorization: "Bearer #(TOKEN)"}}
      json: {{amount: "$(Amount{i})", call: "$(CallSid)"}}
    response:
      fields: {{Balance: account.balance, Status: account.status}}
    next: a{i4}
    on: {{failure: agent, status_4xx: agent}}
  a{i4}:
    type: data_router
    rules:
      - {{source: Status, op: equals, value: ok, goto: a{next}}}
      - {{source: Balance, op: greater_than, value: 0, type: number, goto: a{next}}}
    default: agent
"""


def make_plan(n: int) -> str:
    """A valid plan with exactly `n` applets (2 fixed + blocks of 5, ending in a hangup)."""
    blocks = max(1, (n - 2) // 5)
    parts = [HEADER.format(n=n)]
    for b in range(blocks):
        i = b * 5
        last = b == blocks - 1
        parts.append(
            BLOCK.format(
                i=i, i1=i + 1, i2=i + 2, i3=i + 3, i4=i + 4, next="_end" if last else i + 5
            ).replace("a_end", "bye")
        )
    return "".join(parts)


def measure(text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        plan, _ = load_text(text, "<bench>")
        compile_plan(plan)
        best = min(best, time.perf_counter() - started)
    return best


def compose_floor(text: str, repeat: int) -> float:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    best = float("inf")
    for _ in range(repeat):
        with gc_paused():
            started = time.perf_counter()
            yaml.compose(text, Loader=loader)
            best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        text = make_plan(n)
        applets = len(load_text(text)[0].applets)
        seconds = measure(text, args.repeat)
        floor = compose_floor(text, args.repeat)
        rows.append((applets, seconds, floor))
    base_applets, base_seconds, _ = rows[0]
    base_per = base_seconds / base_applets
    print(
        f"{'applets':>8} {'validate+compile':>17} {'per applet':>11} {'growth vs linear':>17}"
        f" {'compose floor':>14} {'x floor':>8}"
    )
    for applets, seconds, floor in rows:
        per = seconds / applets
        print(
            f"{applets:>8} {seconds * 1000:>14.1f} ms {per * 1e6:>8.1f} us {per / base_per:>16.2f}x"
            f" {floor * 1000:>11.1f} ms {seconds / floor:>7.2f}x"
        )
    worst = max(seconds / applets / base_per for applets, seconds, _ in rows)
    print(
        f"worst per-applet ratio against the {base_applets}-applet plan: {worst:.2f}x "
        f"({'close to linear' if worst < 2 else 'NOT linear'})"
    )
    applets, seconds, floor = rows[-1]
    met = seconds < TARGET_SECONDS and seconds / floor <= TARGET_RATIO
    print(
        f"{applets} applets: {seconds:.2f} s (target < {TARGET_SECONDS:g} s), "
        f"{seconds / floor:.2f}x the compose floor (target <= {TARGET_RATIO:g}x): "
        f"{'target met' if met else 'TARGET NOT MET'}"
    )


if __name__ == "__main__":
    main()
