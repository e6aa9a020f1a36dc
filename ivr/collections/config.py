"""The `collections:` section of config.yaml: where files arrive, how often the inbox is looked
at, what a row leaves out, and the billing service that keeps the accounts' flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from foundation.documents import DocumentError, check, validator
from ivr.collections.notices import SmtpSettings
from ivr.collections.policy import Channel, ContactPolicy, read_policy
from ivr.collections.rows import Defaults
from ivr.collections.schedules import PlanLimits

_TEXT = {"type": "string", "minLength": 1}
_CAMPAIGN = {
    "type": "object",
    "properties": {
        "channels": {
            "type": "array",
            "items": {"enum": ["sms", "email", "call"]},
            "minItems": 1,
            "uniqueItems": True,
        },
        "attempts": {"type": "integer", "minimum": 1, "maximum": 20},
        "gap_hours": {"type": "number", "minimum": 0.001, "maximum": 24 * 90},
        "plan": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"},
        "calling_hours": {
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$",
        },
    },
    "additionalProperties": False,
}
SCHEMA = validator(
    {
        "type": "object",
        "properties": {
            "merchant": _TEXT,
            "call_number": {"type": "string", "pattern": "^\\+[1-9][0-9]{6,14}$"},
            "call_from": {"type": "string", "pattern": "^\\+[1-9][0-9]{6,14}$"},
            "sms_from": {"type": "string", "pattern": "^\\+[1-9][0-9]{6,14}$"},
            "email_from": _TEXT,
            "smtp": {
                "type": "object",
                "properties": {
                    "host": _TEXT,
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "starttls": {"type": "boolean"},
                    "username": _TEXT,
                },
                "additionalProperties": False,
            },
            "templates": _TEXT,
            "campaigns": {"type": "object", "additionalProperties": _CAMPAIGN},
            "inbox": _TEXT,
            "interval": {"type": "number", "minimum": 1, "maximum": 86_400},
            "region": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "timezone": _TEXT,
            "campaign": {"type": "string", "pattern": "^[a-z0-9_-]{1,40}$"},
            "database": _TEXT,
            "billing_url": _TEXT,
            "plans": {
                "type": "object",
                "properties": {
                    "max_payments": {"type": "integer", "minimum": 1, "maximum": 24},
                    "max_days": {"type": "integer", "minimum": 1, "maximum": 730},
                    "first_within_days": {"type": "integer", "minimum": 0, "maximum": 365},
                    "min_payment": {"type": "number", "minimum": 0.01},
                    "retry_gap_hours": {"type": "number", "minimum": 0.001, "maximum": 24 * 31},
                    "max_tries": {"type": "integer", "minimum": 1, "maximum": 10},
                },
                "additionalProperties": False,
            },
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
    merchant: str = "Example Telecom"  # who the notices are from
    call_number: str | None = None  # the number notices ask customers to call
    call_from: str | None = None  # outbound calls come from (default: call_number)
    sms_from: str | None = None  # default: the deployment's sms_from
    email_from: str | None = None
    smtp: SmtpSettings = SmtpSettings()
    templates: Path | None = None  # a folder of templates replacing the shipped ones
    campaigns: dict[str, ContactPolicy] = field(
        default_factory=lambda: {"default": ContactPolicy()}
    )
    plan_limits: PlanLimits = PlanLimits()  # what a custom payment plan may be

    @property
    def channels_used(self) -> frozenset[Channel]:
        """Every channel some campaign contacts customers through."""
        return frozenset(c for policy in self.campaigns.values() for c in policy.channels)

    def policy(self, campaign: str) -> ContactPolicy:
        return self.campaigns.get(campaign) or self.campaigns["default"]

    @classmethod
    def read(cls, raw: dict[str, Any] | None, base: Path, where: str) -> CollectionsConfig:
        """The section as given (`base`: the folder relative paths start from); raises
        DocumentError naming the key at fault."""
        raw = raw or {}
        check(raw, SCHEMA, f"{where}: collections", noun="collections setting")
        region = raw.get("region", "GB")
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise DocumentError(f"{where}: collections.region: '{region}' is not a region code")
        zone = raw.get("timezone", "Europe/London")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DocumentError(
                f"{where}: collections.timezone: '{zone}' is not a time zone (an IANA name: "
                "Europe/London)"
            ) from None
        campaigns = {"default": ContactPolicy()}
        for campaign, policy in (raw.get("campaigns") or {}).items():
            try:
                campaigns[str(campaign)] = read_policy(policy)
            except ValueError as exc:
                raise DocumentError(f"{where}: collections.campaigns.{campaign}.{exc}") from None
        smtp = dict(raw.get("smtp") or {})
        return cls(
            inbox=_path(raw.get("inbox"), base),
            interval=float(raw.get("interval", 60)),
            defaults=Defaults(
                currency=raw.get("currency", "GBP"),
                timezone=zone,
                region=region,
            ),
            campaign=raw.get("campaign", "default"),
            database_url=raw.get("database"),
            billing_url=raw.get("billing_url"),
            merchant=raw.get("merchant", "Example Telecom"),
            call_number=raw.get("call_number"),
            call_from=raw.get("call_from"),
            sms_from=raw.get("sms_from"),
            email_from=raw.get("email_from"),
            smtp=SmtpSettings(
                host=smtp.get("host", "127.0.0.1"),
                port=int(smtp.get("port", 25)),
                starttls=bool(smtp.get("starttls", False)),
                username=smtp.get("username"),
            ),
            templates=_path(raw.get("templates"), base),
            campaigns=campaigns,
            plan_limits=_plan_limits(raw.get("plans") or {}),
        )


def _plan_limits(given: dict[str, Any]) -> PlanLimits:
    """`collections.plans` (checked by the schema); what it leaves out keeps its default."""
    values: dict[str, Any] = {
        k: given[k] for k in ("max_payments", "max_days", "first_within_days", "max_tries")
        if k in given
    }  # fmt: skip
    if "min_payment" in given:
        values["min_payment_minor"] = int(Decimal(str(given["min_payment"])).scaleb(2))
    if "retry_gap_hours" in given:
        values["retry_gap"] = timedelta(hours=given["retry_gap_hours"])
    return PlanLimits(**values)


def _path(value: str | None, base: Path) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else base / path
