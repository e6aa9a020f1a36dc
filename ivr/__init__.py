"""IVR self-service payment call-flow engine: YAML call plans compiled into state machines."""

from ivr.actions import Dial, Enqueue, Gather, Hangup, Pause, Play, Say, Turn
from ivr.catalog import Catalog, LoadResult, load_paths
from ivr.compiler import CompiledPlan, compile_plan
from ivr.engine import Engine
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
from ivr.plan.diagnostics import Diagnostic
from ivr.plan.loader import load_file, load_text
from ivr.plan.model import Plan
from ivr.records import CallRecord, MemoryRecorder
from ivr.session import Session
from ivr.stores import MemoryStore, open_store
from ivr.twiml import render as render_twiml

__all__ = [
    "CallRecord", "Catalog", "CompiledPlan", "Diagnostic", "Dial", "Engine", "EngineError",
    "Enqueue", "Gather", "Hangup", "IVRError", "LoadResult", "LockTimeout", "MemoryRecorder",
    "MemoryStore", "MissingSecret", "Pause", "Plan", "PlanError", "PlanNotFound", "Play",
    "Say", "Session", "StoreError", "TemplateError", "Turn", "compile_plan", "load_file",
    "load_paths", "load_text", "open_store", "render_twiml",
]
