"""The garbage collector around loading and serving (foundation/gc_pause.py): no collection
while a plan loads, and a serving process's start-up heap never scanned again."""

from __future__ import annotations

import gc
import runpy
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


def test_gunicorn_workers_settle_their_heap_once_started(unfrozen: None) -> None:
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0
    conf["post_worker_init"](SimpleNamespace(wsgi=SimpleNamespace(extensions={})))
    assert gc.get_freeze_count() > 0
