"""The bridge's settings: numbers, CLID pool, card rules, attempt budgets, prompts, stores."""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from typing import Any

from foundation.documents import DocumentError, check, validator
from foundation.phone import E164
from pci_bridge.cards import BRAND_NAMES, DEFAULT_ACCEPTED
from pci_bridge.errors import PciBridgeError, bridge_keys
from pci_bridge.prompts import PROMPTS, TRANSLATIONS

# The embedded default uses the +44 20 7946 0xxx drama range: never real lines.
DEFAULT_TRANSFER_NUMBERS = ("+442079460001",)
DEFAULT_POOL = tuple(f"+4420794601{n:02d}" for n in range(50))


@dataclass(frozen=True)
class BridgeConfig:
    transfer_numbers: tuple[str, ...] = DEFAULT_TRANSFER_NUMBERS
    clid_pool: tuple[str, ...] = DEFAULT_POOL
    accepted_brands: tuple[str, ...] = DEFAULT_ACCEPTED
    currencies: tuple[str, ...] = ("GBP", "EUR", "USD")
    max_attempts: int = 3
    max_cards: int = 3
    ask_postcode: bool = False
    session_ttl: int = 900
    leg_ttl: int = 1800
    card_data_ttl: int = 300
    merchant_name: str = "Example Telecom"
    timezone: str = "Europe/London"
    voice: str | None = "Polly.Amy"
    language: str | None = "en-GB"
    # the voice for each other language a session may ask for (pci_bridge/prompts.py)
    voices: dict[str, str] = field(default_factory=lambda: {"cy-GB": "Polly.Gwyneth"})
    input_timeout: int = 10
    prompts: dict[str, str] = field(default_factory=dict)
    gateway: str = "simulated"
    gateway_latency: float = 0.0
    state_url: str | None = None
    database_url: str = "sqlite:///var/pci-bridge.sqlite3"
    auth_token: str | None = None
    public_url: str | None = None
    api_keys: tuple[str, ...] = ()  # bearer keys for /pci/v1; none: the API refuses everything
    result_webhook: str | None = None  # where ended payments are POSTed (the outbox)
    webhook_secret: str | None = None  # PCI_WEBHOOK_SECRET: signs those POSTs
    outbox_interval: float = 5.0  # seconds between delivery rounds in a serving process

    def prompt(self, name: str, language: str | None = None, **values: Any) -> str:
        """Prompt `name` in `language` (None: the bridge's own), `{names}` filled in; the
        `prompts` setting overrides the bridge's own language (any region of it) only."""
        language = language or self.language or "en-GB"
        own = language[:2].lower() == (self.language or "en-GB")[:2].lower()  # en-US on en-GB
        text = self.prompts.get(name) if own else None
        table = TRANSLATIONS.get(language[:2].lower(), PROMPTS)
        return (text or table[name]).format(**values)

    def voice_for(self, language: str | None) -> str | None:
        """The voice that speaks `language` (None: the bridge's own)."""
        if language and language != self.language:
            return self.voices.get(language) or self.voice
        return self.voice

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "pci") -> BridgeConfig:
        """Settings from a config file's map (checked against CONFIG_SCHEMA), named `where` in
        errors."""
        # tuples come from code (the embedded bridge's keys); files give lists
        document = {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}
        try:
            check(document, _CONFIG, where, noun="setting")
        except DocumentError as exc:
            raise PciBridgeError(str(exc)) from None
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _LISTS:
                value = tuple(str(v) for v in value)
            if key == "api_keys":
                value = bridge_keys(value, f"{where}.api_keys")
            values[key] = value
        config = cls(**values)
        return config


_LISTS = ("transfer_numbers", "clid_pool", "accepted_brands", "currencies")
_NUMBER = {
    "type": "string",
    "pattern": f"^{E164.pattern}$",
    "x-messages": {
        "pattern": "'{value}' is not an E.164 number",
        "type": "'{value}' is not an E.164 number",
    },
}


def _property(f: Field[Any]) -> dict[str, Any]:
    """The JSON Schema of one BridgeConfig field, from its default's type."""
    if f.name in ("transfer_numbers", "clid_pool"):
        return {
            "type": "array",
            "items": _NUMBER,
            "minItems": 1,
            "x-messages": {"minItems": "give at least one number"},
        }
    if f.name == "accepted_brands":
        return {
            "type": "array",
            "items": {
                "enum": list(BRAND_NAMES),
                "x-messages": {
                    "enum": f"unknown brand '{{value}}' (one of {', '.join(BRAND_NAMES)})"
                },
            },
        }
    if f.name in ("currencies", "api_keys"):
        return {
            "type": ["array", "string"] if f.name == "api_keys" else "array",
            "items": {"type": "string"},
        }
    if f.name == "prompts":
        return {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "propertyNames": {
                "enum": list(PROMPTS),
                "x-messages": {"enum": f"unknown prompt '{{value}}' (one of {', '.join(PROMPTS)})"},
            },
        }
    if f.name == "voices":
        return {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "propertyNames": {
                "pattern": "^[a-z]{2,3}-[A-Z]{2}$",
                "x-messages": {"pattern": "'{value}' is not a language tag such as cy-GB"},
            },
        }
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string"}
    default = f.default
    kind = kinds.get(type(default), "string")
    if f.name in ("gateway_latency", "outbox_interval"):
        kind = "number"
    if default is None or f.type in ("str | None",):
        return {"type": [kind, "null"]}
    return {"type": kind}


# The bridge's settings (`pci:` in config.yaml, or pci-bridge's own file).
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {f.name: _property(f) for f in fields(BridgeConfig)},
    "additionalProperties": False,
    "x-messages": {"type": "expected a map of settings"},
}
_CONFIG = validator(CONFIG_SCHEMA)
