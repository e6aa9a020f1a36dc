"""Load one call plan: YAML → strict keys → frozen dataclasses → graph checks → `Plan`.

Every problem in a file is reported at once as `FILE:LINE:COL: error: PATH: MESSAGE`; a plan
with any error raises `PlanError` and is never returned.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields as dc_fields
from decimal import Decimal
from pathlib import Path as FsPath
from typing import Any

from foundation.gc_pause import gc_paused
from foundation.suggest import did_you_mean
from ivr.engine.analysis import check_graph
from ivr.engine.display import is_sensitive
from ivr.engine.prompts import loops, stray_locals
from ivr.engine.registry import REGISTRY
from ivr.errors import PlanError
from ivr.lang.diagnostics import Report
from ivr.lang.fields import (
    ID_RE,
    INVALID,
    Check,
    Struct,
    convert_struct,
    found,
    yaml_name,
)
from ivr.lang.model import COMMON_APPLET_KEYS, AppletSpec, Defaults, Plan, PlanHeader
from ivr.lang.templates import Template
from ivr.lang.yaml_source import read_yaml, released

TOP_LEVEL_KEYS = tuple(yaml_name(f) for f in dc_fields(PlanHeader))
_HEADER = {yaml_name(f): f for f in dc_fields(PlanHeader)}
_SIMPLE_TOP = (
    "description",
    "numbers",
    "start",
    "fallback",
    "data",
    "secrets",
    "layout",
    "budget",
    "languages",
)


def plan_version(text: str) -> str:
    """A short content hash: the version a call pins."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


MAX_PLAN_BYTES = 4 * 1024 * 1024  # a 10,000-applet plan is about 1 MB


def load_file(
    path: str | FsPath, *, display: str | None = None, max_bytes: int = MAX_PLAN_BYTES
) -> tuple[Plan, Report]:
    """Load a plan file; raises PlanError (with all diagnostics) when it has errors. A file
    over `max_bytes` is refused before it is read."""
    fs = FsPath(path)
    name = display or str(path)
    try:
        size = fs.stat().st_size
        if size > max_bytes:
            report = Report(name)
            report.error(
                (),
                f"the file is {size:,} bytes, over the limit of {max_bytes:,} for "
                "a call plan (max_plan_bytes in config.yaml, or "
                "IVR_MAX_PLAN_BYTES); split it with goto_plan",
            )
            raise PlanError(report.diagnostics)
        text = fs.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report = Report(name)
        report.error((), f"cannot read the file: {exc}")
        raise PlanError(report.diagnostics) from None
    return load_text(text, name)


def load_text(text: str, file: str = "<string>") -> tuple[Plan, Report]:
    """Load a plan from YAML text; returns the plan and its warnings, or raises PlanError."""
    report = Report(file)
    with gc_paused():  # loading makes many small objects and no cycles worth collecting
        plan = build(text, report)
        # The YAML nodes and values go (freed here, never scanned by the collector); a check
        # across plans reads the text again for them.
        report.locate = released(text)
        report.raw = None
        report.reread = lambda: read_yaml(text, Report(file))
    if report.errors or plan is None:
        raise PlanError(report.sorted())
    return plan, report


def build(text: str, report: Report) -> Plan | None:
    """Check a plan, filling `report`; the plan when it has no errors."""
    raw = read_yaml(text, report)
    report.raw = raw
    if raw is None and report.errors:
        return None  # a syntax error: nothing more can be read
    if not isinstance(raw, dict):
        report.error(
            (), f"a call plan is a map with plan:, start: and applets:, found {found(raw)}"
        )
        return None
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            report.error(
                (key,),
                f"unknown top-level key '{key}'{did_you_mean(key, TOP_LEVEL_KEYS)}",
                key=True,
            )
    for key in ("plan", "start", "applets"):
        if key not in raw:
            report.error((), f"missing required key '{key}'")

    plan_id = raw.get("plan")
    if plan_id is not None and (not isinstance(plan_id, str) or not ID_RE.fullmatch(plan_id)):
        report.error(("plan",), f"plan id must match [a-z][a-z0-9_]*, found {found(plan_id)}")

    secrets_check = Check(report)
    header: dict[str, Any] = {}
    for key in _SIMPLE_TOP:
        if key in raw:
            header[key] = _HEADER[key].metadata["kind"].convert(raw[key], (key,), secrets_check)
    secrets = header.get("secrets")
    languages = header.get("languages")
    languages = () if languages in (None, INVALID) else languages
    check = Check(
        report,
        frozenset(secrets) if secrets not in (None, INVALID) else frozenset(),
        tuple(lang.tag for lang in languages),
    )

    defaults = Defaults()
    if "defaults" in raw:
        converted = Struct(Defaults).convert(raw["defaults"], ("defaults",), check)
        if converted is not INVALID:
            defaults = converted
    if languages and defaults.voice is not None:
        report.warning(
            ("defaults", "voice"),
            "a plan with languages: speaks each in its own voice, so this voice is used by "
            "no prompt: give it under languages: (as in en-GB: {voice: "
            f"{defaults.voice.source}}})",
        )
    if languages and defaults.language is not None:
        if defaults.language.source not in check.languages:
            report.error(
                ("defaults", "language"),
                f"'{defaults.language.source}' is not one of the plan's languages "
                f"({', '.join(check.languages)}); a call starts in this one",
            )

    origins: dict[str, dict[str, tuple]] = {}
    specs = _applets(raw.get("applets"), defaults, check, origins)
    if specs is None:
        return None
    check_graph(
        report,
        raw,
        specs,
        origins,
        start=header.get("start"),
        fallback=header.get("fallback"),
        data=header.get("data") if header.get("data") is not INVALID else {},
    )
    layout = header.get("layout")
    layout = {} if layout in (None, INVALID) else layout
    known = raw["applets"] if isinstance(raw.get("applets"), dict) else {}
    for applet_id in layout:
        if applet_id not in known:
            hint = did_you_mean(applet_id, known)
            report.warning(("layout", applet_id), f"no applet '{applet_id}'{hint}", key=True)
    if report.errors:
        return None
    assert isinstance(plan_id, str)
    return Plan(
        id=plan_id,
        start=header["start"],
        fallback=header.get("fallback"),
        description=_plain(header.get("description")),
        numbers=tuple(n.source for n in header.get("numbers", ())),
        defaults=defaults,
        data=_constants(header.get("data") or {}),
        secrets=tuple(header.get("secrets", ())),
        applets={s.id: s for s in specs},
        version=plan_version(text),
        file=report.file,
        source=text,
        layout=layout,
        budget=header.get("budget") if header.get("budget") is not INVALID else None,
        languages=languages,
    )


def _plain(value: Any) -> str | None:
    return value.source if isinstance(value, Template) else value


def _constants(data: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Template):
            return value.source
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {k: plain(v) for k, v in data.items()}


def _applets(
    raw: Any, defaults: Defaults, check: Check, origins: dict[str, dict[str, tuple]]
) -> list[AppletSpec] | None:
    report = check.report
    if raw is None:
        return [] if report.errors else None
    if not isinstance(raw, dict):
        report.error(("applets",), f"expected a map of applet id → applet, found {found(raw)}")
        return None
    inherited = defaults.inherited()
    if check.languages:  # each prompt speaks the caller's language, in that language's voice
        inherited.update(language=None, voice=None)
    out: list[AppletSpec] = []
    for applet_id, body in raw.items():
        path = ("applets", applet_id)
        if not ID_RE.fullmatch(applet_id):
            report.error(path, f"applet id '{applet_id}' must match [a-z][a-z0-9_]*", key=True)
        if not isinstance(body, dict):
            report.error(path, f"expected a map with type:, found {found(body)}")
            continue
        type_name = body.get("type")
        if type_name is None:
            report.error(path, "missing required field 'type'")
            continue
        cls = REGISTRY.get(type_name) if isinstance(type_name, str) else None
        if cls is None:
            available = sorted(REGISTRY)
            shown = f"'{type_name}'" if isinstance(type_name, str) else found(type_name)
            report.error(
                path + ("type",),
                f"unknown applet type {shown}"
                f"{did_you_mean(str(type_name), available)}; available: "
                f"{', '.join(available)}",
            )
            continue
        allowed = [
            k
            for k in COMMON_APPLET_KEYS
            if (k != "next" or cls.accepts_next) and (k != "on" or cls.accepts_on)
        ]
        fields_only = {k: v for k, v in body.items() if k not in COMMON_APPLET_KEYS}
        for key in COMMON_APPLET_KEYS:
            if key in body and key not in allowed:
                report.error(path + (key,), _no_routing_key(cls, key), key=True)
        config = convert_struct(
            cls.Config, fields_only, path, check, inherited=inherited, extra_keys=tuple(allowed)
        )
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            report.error(path + ("description",), f"expected text, found {found(description)}")
        if config is INVALID:
            # Still report routing mistakes, so every error of the file shows at once.
            routes, origin = _routes(cls, None, body, path, check, allowed)
            for outcome, target in routes.items():
                if isinstance(target, str) and target not in raw:
                    report.error(
                        origin[outcome], f"no applet '{target}'{did_you_mean(target, raw)}"
                    )
            continue
        _check_speech(config, path, check)
        routes, origin = _routes(cls, config, body, path, check, allowed)
        out.append(AppletSpec(applet_id, type_name, config, routes, description))
        origins[applet_id] = origin
    return out


def _check_speech(config: Any, path: tuple, check: Check) -> None:
    """An applet's own language must be one the plan speaks; words said into a secret are
    heard by the speech recognizer; $(item) means nothing outside a for_each prompt item."""
    language = getattr(config, "language", None)
    if check.languages and isinstance(language, Template) and not language.refs:
        if language.source not in check.languages:
            check.error(
                path + ("language",),
                f"'{language.source}' is not one of the plan's languages "
                f"({', '.join(check.languages)}){did_you_mean(language.source, check.languages)}",
            )
    if loops(config) and getattr(config, "for_each", None) is None:
        for name in dict.fromkeys(stray_locals(config)):
            check.warning(
                path,
                f"$({name}) is set only inside a prompt item with for_each; elsewhere in "
                "this applet it is empty",
            )
    store = getattr(config, "store", None)
    if "speech" in getattr(config, "input", ()) and isinstance(store, str) and is_sensitive(store):
        check.warning(
            path + ("input",),
            f"'{store}' looks secret, and words said here are heard (and may be kept) by the "
            "speech recognizer: take it by keys only (input: [dtmf])",
        )


def _no_routing_key(cls: Any, key: str) -> str:
    if cls.is_terminal():
        return f"{cls.type_name} is terminal and has no outcomes to route ('{key}' not allowed)"
    if cls.routing_help:
        return cls.routing_help.format(key=key)
    return f"'{key}' is not allowed for {cls.type_name}"  # pragma: no cover


def _routes(
    cls: Any, config: Any, body: dict[str, Any], path: tuple, check: Check, allowed: list[str]
) -> tuple[dict[str, str], dict[str, tuple]]:
    report = check.report
    routes: dict[str, str] = {}
    origin: dict[str, tuple] = {}
    for outcome, target, sub in cls.extra_routes(config) if config is not None else ():
        routes[outcome] = target
        origin[outcome] = path + sub
    if "next" in body and "next" in allowed:
        target = body["next"]
        if not isinstance(target, str):
            report.error(path + ("next",), f"expected an applet id, found {found(target)}")
        else:
            routes["next"] = target
            origin["next"] = path + ("next",)
    if "on" in body and "on" in allowed:
        if not isinstance(body["on"], dict):
            report.error(
                path + ("on",), f"expected a map of outcome → applet id, found {found(body['on'])}"
            )
            return routes, origin
        valid = list(cls.outcome_names(config) if config is not None else cls.outcomes)
        if cls.outcome_hint:
            valid.append(cls.outcome_hint)
        for outcome, target in body["on"].items():
            where = path + ("on", outcome)
            known = (
                cls.is_outcome(config, outcome)
                if config is not None
                else outcome in cls.outcomes
                or bool(cls.outcome_pattern and cls.outcome_pattern.fullmatch(outcome))
            )
            if not known or (outcome in origin and origin[outcome][len(path)] == "options"):
                if outcome in origin and origin[outcome][len(path)] == "options":
                    report.error(
                        where, f"key '{outcome}' is routed in options; route it there", key=True
                    )
                    continue
                names = [v for v in valid if v != "next" or "next" in allowed]
                report.error(
                    where,
                    f"unknown outcome '{outcome}' for {cls.type_name}"
                    f"{did_you_mean(outcome, names)}; outcomes: {', '.join(names)}",
                    key=True,
                )
                continue
            if outcome == "next" and "next" in routes:
                report.error(where, "outcome 'next' is routed twice (next: and on: next)", key=True)
                continue
            if not isinstance(target, str):
                report.error(where, f"expected an applet id, found {found(target)}")
                continue
            routes[outcome] = target
            origin[outcome] = where
    return routes, origin


def is_plan_file(path: FsPath) -> bool:
    return path.suffix in (".yaml", ".yml") and not path.name.startswith(".")
