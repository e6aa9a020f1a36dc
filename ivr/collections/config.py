"""The `collections:` section of config.yaml: where files arrive, how often the inbox is looked
at, what a row leaves out, and the billing service that keeps the accounts' flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers

from foundation.documents import DocumentError, check, validator
from ivr.collections.rows import Defaults

_TEXT = {"type": "string", "minLength": 1}
SCHEMA = validator(
    {
        "type": "object",
        "properties": {
            "inbox": _TEXT,
            "interval": {"type": "number", "minimum": 1, "maximum": 86_400},
            "region": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "timezone": _TEXT,
            "campaign": {"type": "string", "pattern": "^[a-z0-9_-]{1,40}$"},
            "database": _TEXT,
            "billing_url": _TEXT,
        },
        "additionalProperties": False,
    }
)


@dataclass(frozen=True)
class CollectionsConfig:
    inbox: Path | None = None  # no inbox: files are only taken by `ivr collections import`
    interval: float = 60.0  # seconds between looks at the inbox
    defaults: Defaults = Defaults()
    campaign: str = "default"
    database_url: str | None = None  # default: the engine's database
    billing_url: str | None = None  # default: the demo billing service, when mounted

    @classmethod
    def read(cls, raw: dict[str, Any] | None, base: Path, where: str) -> CollectionsConfig:
        """The section as given (`base`: the folder relative paths start from); raises
        DocumentError naming the key at fault."""
        raw = raw or {}
        check(raw, SCHEMA, f"{where}: collections", noun="collections setting")
        region = raw.get("region", "GB")
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise DocumentError(f"{where}: collections.region: '{region}' is not a region code")
        inbox = Path(raw["inbox"]) if "inbox" in raw else None
        if inbox is not None and not inbox.is_absolute():
            inbox = base / inbox
        return cls(
            inbox=inbox,
            interval=float(raw.get("interval", 60)),
            defaults=Defaults(
                currency=raw.get("currency", "GBP"),
                timezone=raw.get("timezone", "Europe/London"),
                region=region,
            ),
            campaign=raw.get("campaign", "default"),
            database_url=raw.get("database"),
            billing_url=raw.get("billing_url"),
        )
