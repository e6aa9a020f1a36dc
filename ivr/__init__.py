"""IVR self-service payment call-flow engine: YAML call plans compiled into state machines.

The public API is re-exported here, loaded on first use (PEP 562): importing one layer
(`ivr.lang`, `ivr.engine.protocol`) does not load the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> (module, attribute)
_EXPORTS = {
    "render_twiml": ("ivr.adapters.twiml", "render"),
    **{
        name: ("ivr.engine.actions", name)
        for name in ("Dial", "Enqueue", "Gather", "Hangup", "Pause", "Play", "Say", "Turn")
    },
    **{name: ("ivr.engine.catalog", name) for name in ("Catalog", "LoadResult", "load_paths")},
    **{name: ("ivr.engine.compiler", name) for name in ("CompiledPlan", "compile_plan")},
    **{name: ("ivr.engine.loader", name) for name in ("load_file", "load_text")},
    **{name: ("ivr.engine.records", name) for name in ("CallRecord", "MemoryRecorder")},
    "Session": ("ivr.engine.session", "Session"),
    **{name: ("ivr.engine.stores", name) for name in ("MemoryStore", "open_store")},
    "Engine": ("ivr.engine.turns", "Engine"),
    **{
        name: ("ivr.errors", name)
        for name in (
            "EngineError",
            "IVRError",
            "LockTimeout",
            "MissingSecret",
            "PlanError",
            "PlanNotFound",
            "StoreError",
            "TemplateError",
        )
    },
    "Diagnostic": ("ivr.lang.diagnostics", "Diagnostic"),
    "Plan": ("ivr.lang.model", "Plan"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'ivr' has no attribute '{name}'") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from ivr.adapters.twiml import render as render_twiml  # noqa: F401
    from ivr.engine.actions import Dial, Enqueue, Gather, Hangup, Pause, Play, Say, Turn  # noqa: F401
    from ivr.engine.catalog import Catalog, LoadResult, load_paths  # noqa: F401
    from ivr.engine.compiler import CompiledPlan, compile_plan  # noqa: F401
    from ivr.engine.loader import load_file, load_text  # noqa: F401
    from ivr.engine.records import CallRecord, MemoryRecorder  # noqa: F401
    from ivr.engine.session import Session  # noqa: F401
    from ivr.engine.stores import MemoryStore, open_store  # noqa: F401
    from ivr.engine.turns import Engine  # noqa: F401
    from ivr.errors import (  # noqa: F401
        EngineError,
        IVRError,
        LockTimeout,
        MissingSecret,
        PlanError,
        PlanNotFound,
        StoreError,
        TemplateError,
    )
    from ivr.lang.diagnostics import Diagnostic  # noqa: F401
    from ivr.lang.model import Plan  # noqa: F401
