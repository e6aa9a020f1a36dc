"""IVR self-service payment call-flow engine: YAML call plans compiled into state machines."""

from ivr.adapters.twiml import render as render_twiml
from ivr.engine.actions import Dial, Enqueue, Gather, Hangup, Pause, Play, Say, Turn
from ivr.engine.catalog import Catalog, LoadResult, load_paths
from ivr.engine.compiler import CompiledPlan, compile_plan
from ivr.engine.loader import load_file, load_text
from ivr.engine.records import CallRecord, MemoryRecorder
from ivr.engine.session import Session
from ivr.engine.stores import MemoryStore, open_store
from ivr.engine.turns import Engine
from ivr.errors import (
    EngineError,
    IVRError,
    LockTimeout,
    MissingSecret,
    PlanError,
    PlanNotFound,
    StoreError,
    TemplateError,
)
from ivr.lang.diagnostics import Diagnostic
from ivr.lang.model import Plan

__all__ = [
    "CallRecord",
    "Catalog",
    "CompiledPlan",
    "Diagnostic",
    "Dial",
    "Engine",
    "EngineError",
    "Enqueue",
    "Gather",
    "Hangup",
    "IVRError",
    "LoadResult",
    "LockTimeout",
    "MemoryRecorder",
    "MemoryStore",
    "MissingSecret",
    "Pause",
    "Plan",
    "PlanError",
    "PlanNotFound",
    "Play",
    "Say",
    "Session",
    "StoreError",
    "TemplateError",
    "Turn",
    "compile_plan",
    "load_file",
    "load_paths",
    "load_text",
    "open_store",
    "render_twiml",
]
