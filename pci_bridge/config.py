"""The bridge's settings: numbers, CLID pool, card rules, attempt budgets, prompts, stores."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from foundation.suggest import did_you_mean
from pci_bridge.cards import BRAND_NAMES, DEFAULT_ACCEPTED
from pci_bridge.errors import PciBridgeError, bridge_keys
from pci_bridge.prompts import PROMPTS

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

    def prompt(self, name: str, **values: Any) -> str:
        return self.prompts.get(name, PROMPTS[name]).format(**values)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "pci") -> BridgeConfig:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise PciBridgeError(f"{where}: unknown setting '{key}'"
                                     f"{did_you_mean(key, known)}")
            if key in ("transfer_numbers", "clid_pool", "accepted_brands", "currencies"):
                value = tuple(str(v) for v in value)
            if key == "api_keys":
                value = bridge_keys(value, f"{where}.api_keys")
            values[key] = value
        config = cls(**values)
        for brand in config.accepted_brands:
            if brand not in BRAND_NAMES:
                raise PciBridgeError(f"{where}.accepted_brands: unknown brand '{brand}' "
                                     f"(one of {', '.join(BRAND_NAMES)})")
        unknown = set(config.prompts) - set(PROMPTS)
        if unknown:
            raise PciBridgeError(f"{where}.prompts: unknown prompt '{sorted(unknown)[0]}' "
                                 f"(one of {', '.join(PROMPTS)})")
        if not config.transfer_numbers:
            raise PciBridgeError(f"{where}.transfer_numbers: give at least one number")
        return config
