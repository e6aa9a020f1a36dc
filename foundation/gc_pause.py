"""Pausing Python's cyclic garbage collector around work that builds many objects and no
garbage cycles (loading a call plan): a collection in the middle would scan everything the
process holds, again and again, for nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic collection inside the block (nested blocks are fine); reference counting
    still frees everything that is not in a cycle."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
