"""The benchmark scripts still run (tiny sizes: their figures are in docs/benchmarks.md, made
by running them in full; a test only checks they work and print their verdicts)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_compile_prints_the_time_and_the_compose_floor() -> None:
    out = run("bench/compile.py", "--sizes", "50", "200", "--repeat", "1")
    assert "compose floor" in out and "x floor" in out
    assert "applets:" in out.splitlines()[-1]


def test_turn_measures_every_kind_of_webhook_against_the_floor() -> None:
    out = run("bench/turn.py", "--calls", "3")
    for label in ("incoming call", "key-press turn", "last turn (hang up, record)", "status"):
        assert f"engine: {label}" in out
    assert "target over HTTP" in out


def test_load_finds_the_highest_n_for_both_apps() -> None:
    out = run(
        "bench/load.py", "--levels", "5", "10", "--pace", "0.2", "--ramp", "0.5", "--steady", "1.5"
    )
    assert "highest N with p99 < 50 ms and no error:" in out
    assert "ramp " in out and "steady " in out and "target:" in out
