"""The garbage collector around loading and serving (foundation/gc_pause.py): no collection
while a plan loads, and a serving process's start-up heap never scanned again."""

from __future__ import annotations

import gc
import json
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from foundation.gc_pause import gc_paused, settle_heap

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_no_collection_inside_the_block_and_nested_blocks_restore_it() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds
    assert gc.isenabled()


def test_collection_resumes_after_an_error_inside_the_block() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a plan failed to load")
    assert gc.isenabled()


def test_settling_moves_the_live_heap_out_of_every_later_collection(unfrozen: None) -> None:
    kept = [{"n": i} for i in range(50_000)]  # what a worker builds at start
    settle_heap()
    frozen = gc.get_freeze_count()
    assert frozen >= len(kept)
    scanned = {id(x) for x in gc.get_objects()}  # what a collection of everything visits
    assert not any(id(x) in scanned for x in kept)

    class Cycle:
        pass

    a, b = Cycle(), Cycle()
    a.other, b.other = b, a  # garbage made after settling is still collected
    del a, b
    assert gc.collect() >= 2


def test_gunicorn_workers_settle_their_heap_once_started(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_IMPORT_IN_MASTER", "0")  # the master's own settling: below
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0
    conf["post_worker_init"](SimpleNamespace(wsgi=SimpleNamespace(extensions={})))
    assert gc.get_freeze_count() > 0


MASTER = """
import gc, json, runpy, sys, threading
runpy.run_path(sys.argv[1])
print(json.dumps({"imported": "ivr.app" in sys.modules, "threads": threading.active_count(),
                  "frozen": gc.get_freeze_count(), "applets": "applets.menu" in sys.modules}))
"""


@pytest.mark.parametrize("setting", [None, "0"])
def test_the_gunicorn_master_imports_the_engine_and_starts_nothing(
    setting: str | None, tmp_path: Path
) -> None:
    """gunicorn reads its conf in the master, before forking the workers: the engine's modules
    are imported there (each worker then starts with them: a recycle costs create_app alone),
    with the applet plugins, frozen for the collector, with no thread started before the fork;
    IVR_IMPORT_IN_MASTER=0 leaves the master bare."""
    env = {k: v for k, v in os.environ.items() if k != "IVR_IMPORT_IN_MASTER"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    if setting is not None:
        env["IVR_IMPORT_IN_MASTER"] = setting
    seen = json.loads(read_conf(MASTER, env).strip().splitlines()[-1])
    assert seen["threads"] == 1  # nothing running when gunicorn forks
    if setting is None:
        assert seen["imported"] and seen["frozen"] > 10_000
        assert seen["applets"]  # the plugins too: a recycled worker never mixes old and new
    else:
        assert not seen["imported"] and seen["frozen"] == 0 and not seen["applets"]


@pytest.mark.parametrize(("setting", "expected"), [(None, 200_000), ("5000", 5000), ("0", 0)])
def test_workers_are_recycled_rarely_and_as_configured(
    setting: str | None, expected: int, tmp_path: Path
) -> None:
    """A recycle under load is a burst of queueing (docs/operations.md): every 200,000 to
    220,000 webhooks by default, IVR_MAX_REQUESTS to change it (0: never)."""
    env = {k: v for k, v in os.environ.items() if k != "IVR_MAX_REQUESTS"}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), IVR_IMPORT_IN_MASTER="0")
    if setting is not None:
        env["IVR_MAX_REQUESTS"] = setting
    show = (
        "import runpy, sys; c = runpy.run_path(sys.argv[1]); "
        "print(c['max_requests'], c['max_requests_jitter'])"
    )
    assert read_conf(show, env).split() == [str(expected), str(expected // 10)]


def test_a_recycle_count_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    env = {**os.environ, "IVR_MAX_REQUESTS": "lots", "IVR_IMPORT_IN_MASTER": "0"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    with pytest.raises(subprocess.CalledProcessError) as failed:
        read_conf("import runpy, sys; runpy.run_path(sys.argv[1])", env)
    assert "IVR_MAX_REQUESTS must be a whole number of webhooks (0: never), not 'lots'" in (
        failed.value.stderr
    )


def read_conf(code: str, env: dict[str, str]) -> str:
    """What `code` prints, run in a fresh interpreter as gunicorn's master would read
    gunicorn.conf.py (its path is sys.argv[1])."""
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "gunicorn.conf.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout
