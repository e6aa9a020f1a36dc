"""Settings: `config.yaml` (or IVR_CONFIG) with environment overrides, checked strictly.

With no file at all everything runs embedded: plans from ./callplans, a memory session store,
call records in a SQLite file under ./var.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from foundation.documents import DocumentError, check, validator
from ivr.engine.loader import MAX_PLAN_BYTES
from ivr.errors import IVRError

DEFAULT_DATABASE = "sqlite:///var/ivr.sqlite3"


class SettingsError(IVRError):
    """config.yaml is missing something or has a wrong value."""


@dataclass(frozen=True)
class Destination:
    """A number the simulator (acting as Twilio) can dial.

    `url`: one of our own numbers, answered by that voice URL (e.g. the PCI bridge);
    otherwise an outside line that answers with `answer` (completed, busy, no-answer, failed)
    after `talk_seconds`.
    """

    url: str | None = None
    status_url: str | None = None
    answer: str = "completed"
    talk_seconds: int = 60


# the demo back office's data, shared by every serving process, unless demo_billing_database says
DEMO_BILLING_DATABASE = "sqlite:///var/demo-billing.sqlite3"


@dataclass(frozen=True)
class Settings:
    callplans: Path = Path("callplans")
    store_url: str = "memory://"
    database_url: str = DEFAULT_DATABASE
    public_url: str | None = None
    auth_token: str | None = None
    trust_proxy: bool = False
    numbers: dict[str, str] = field(default_factory=dict)
    directory: dict[str, Destination] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    session_ttl: int = 4 * 3600
    log_level: str = "INFO"
    log_format: str = "text"  # or json: one object a line
    watch_plans: bool = True
    plan_poll_interval: float = 1.0  # seconds between checks for newly published versions
    account_sid: str = "AC" + "0" * 32
    data: dict[str, Any] = field(default_factory=dict)
    self_url: str = "http://127.0.0.1:8080"
    payments_api_url: str | None = None  # the console's bridge (default: this app's /pci/v1)
    # the softphone's own bridge ledger (test payments; SQLite by default, any SQL URL)
    softphone_pci_database_url: str = "sqlite:///var/softphone-pci.sqlite3"
    pci: dict[str, Any] = field(default_factory=dict)
    demo_billing: bool = False  # the shipped config.yaml turns it on
    max_plan_bytes: int = MAX_PLAN_BYTES
    emergency_number: str | None = None  # an agent line when no session can be had
    demo_billing_database: str | None = None  # the demo back office's data (SQL URL)
    sms_from: str | None = None  # the number receipts are texted from (Twilio Messages)
    twilio_api_url: str = "https://api.twilio.com"  # the simulator's on loopback, in tests
    collections: dict[str, Any] = field(default_factory=dict)  # ivr/collections/config.py
    source: str | None = None

    @property
    def pci_enabled(self) -> bool:
        return bool(self.pci.get("enabled", True))

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Settings:
        """Read `path` (else IVR_CONFIG, else ./config.yaml when present), then the environment."""
        chosen = path or os.environ.get("IVR_CONFIG")
        if chosen is None and Path("config.yaml").exists():
            chosen = "config.yaml"
        values: dict[str, Any] = {}
        base = Path(".")
        if chosen is not None:
            file = Path(chosen)
            try:
                raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            except OSError as exc:
                raise SettingsError(f"cannot read config {file}: {exc}") from None
            except yaml.YAMLError as exc:
                raise SettingsError(f"{file}: not valid YAML: {exc}") from None
            if not isinstance(raw, dict):
                raise SettingsError(f"{file}: expected a map of settings")
            values = _check(raw, str(file))
            values["source"] = str(file)
            base = file.parent
        env = {
            "store_url": os.environ.get("IVR_STORE_URL"),
            "log_level": os.environ.get("IVR_LOG_LEVEL"),
            "log_format": os.environ.get("IVR_LOG_FORMAT"),
            "database_url": os.environ.get("IVR_DATABASE_URL"),
            "public_url": os.environ.get("IVR_PUBLIC_URL"),
            "auth_token": os.environ.get("TWILIO_AUTH_TOKEN"),
        }
        values.update({k: v for k, v in env.items() if v})
        if os.environ.get("IVR_MAX_PLAN_BYTES"):
            try:
                values["max_plan_bytes"] = int(os.environ["IVR_MAX_PLAN_BYTES"])
            except ValueError:
                raise SettingsError(
                    "IVR_MAX_PLAN_BYTES should be a number of bytes, found "
                    f"{os.environ['IVR_MAX_PLAN_BYTES']!r}"
                ) from None
        if os.environ.get("IVR_PCI_DATABASE_URL"):
            values["pci"] = {
                **values.get("pci", {}),
                "database_url": os.environ["IVR_PCI_DATABASE_URL"],
            }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "callplans" in values:
            plans = Path(values["callplans"])
            values["callplans"] = plans if plans.is_absolute() else base / plans
        else:
            values["callplans"] = base / "callplans"
        return cls(**values)


_TEXT = {"type": ["string", "null"]}
_FLAG = {"type": ["boolean", "null"]}
_COUNT = {"type": ["integer", "null"], "minimum": 0}
_MAP = {"type": ["object", "null"]}
# config.yaml (documented in docs/operations.md and README). `pci:` is the embedded bridge's
# own settings, checked by the bridge.
SETTINGS_SCHEMA = {
    "type": "object",
    "properties": {
        "callplans": _TEXT,
        "store": _TEXT,
        "database": _TEXT,
        "public_url": _TEXT,
        "trust_proxy": _FLAG,
        "numbers": _MAP,
        "secrets": _MAP,
        "session_ttl": _COUNT,
        "log_level": {
            "enum": ["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error", None]
        },
        "log_format": {"enum": ["text", "json", None]},
        "watch_plans": _FLAG,
        "plan_poll_interval": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 5},
        "account_sid": _TEXT,
        "data": _MAP,
        "self_url": _TEXT,
        "payments_api_url": _TEXT,
        "softphone_pci_database_url": _TEXT,
        "pci": _MAP,
        "demo_billing": _FLAG,
        "max_plan_bytes": _COUNT,
        "emergency_number": _TEXT,
        "demo_billing_database": _TEXT,
        "sms_from": _TEXT,
        "twilio_api_url": _TEXT,
        "collections": _MAP,
        "directory": {
            "type": ["object", "null"],
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "url": _TEXT,
                    "status_url": _TEXT,
                    "answer": _TEXT,
                    "talk_seconds": _COUNT,
                },
                "additionalProperties": False,
                "x-messages": {"type": "should be a map, found {value!r}"},
            },
        },
    },
    "additionalProperties": False,
    "x-messages": {"type": "expected a map of settings"},
}
_SETTINGS = validator(SETTINGS_SCHEMA)
_RENAMED = {"store": "store_url", "database": "database_url"}


def _check(raw: dict[str, Any], file: str) -> dict[str, Any]:
    try:
        check(raw, _SETTINGS, file, noun="setting")
    except DocumentError as exc:
        raise SettingsError(str(exc)) from None
    out = {_RENAMED.get(k, k): v for k, v in raw.items() if v is not None}
    if "directory" in out:
        out["directory"] = {
            str(number): Destination(**entry) for number, entry in out["directory"].items()
        }
    for key in ("numbers", "secrets"):
        if key in out:
            out[key] = {str(k): str(v) for k, v in out[key].items()}
    return out
