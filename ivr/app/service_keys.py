"""The keys of the services a process mounts: the PCI bridge's API keys, the key the plans send
to it (`PCI_API_KEY`), the demo billing service's token (`BILLING_TOKEN`) and the collections
API's key (`COLLECTIONS_API_KEY`).

Configured keys come from the environment, then the config file's `secrets`. A process with
none configured makes its own at start and hands them to its own plans only: nobody outside
the process can call the API. A serving process whose state other processes share (Redis)
cannot do that (each worker would make a different key), so it refuses to start and says
what to set; simulated calls and plan tests (`private`) never refuse.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from foundation.bearer import KeyProblem, new_key, parse_keys, resolve
from ivr.app.settings import Settings, SettingsError

log = logging.getLogger("ivr.keys")

SHARED_STATE_SCHEMES = ("redis://", "rediss://", "unix://")
FOR_ITS_PLANS = (
    "accepts a random key this process made for its own plans; nothing outside the process "
    "can call it"
)
HOW_TO_MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class ServiceKeys:
    pci_api_keys: tuple[str, ...] = ()  # what the bridge accepts
    billing_token: str | None = None  # what the demo billing service accepts
    webhook_secret: str | None = None  # signs the bridge's payment results (the outbox)
    console_secret: str | None = None  # signs console sessions (None: the console is off)
    collections_api_key: str | None = None  # what the collections API accepts
    plan_secrets: dict[str, str] = field(default_factory=dict)  # handed to the plans
    generated: tuple[tuple[str, str], ...] = ()  # (setting, what its made-up key means)


def is_shared(url: str | None) -> bool:
    return (url or "").startswith(SHARED_STATE_SCHEMES)


def service_keys(
    settings: Settings, *, private: bool, environ: Mapping[str, str] | None = None
) -> ServiceKeys:
    """Decide the keys for `settings`. Raises SettingsError when a serving process with shared
    state has a service mounted and no key for it, or a configured key is unusable."""
    env = os.environ if environ is None else environ
    secrets = settings.secrets
    plan_secrets: dict[str, str] = {}
    generated: list[tuple[str, str]] = []
    pci_keys: tuple[str, ...] = ()
    if settings.pci_enabled:
        try:
            pci_keys = parse_keys(
                resolve(env, secrets, "PCI_API_KEYS"), "PCI_API_KEYS"
            ) or parse_keys(settings.pci.get("api_keys"), "pci.api_keys")
        except KeyProblem as exc:
            raise SettingsError(str(exc)) from None
        if not pci_keys:
            state_url = settings.pci.get("state_url") or settings.store_url
            _refuse_when_shared(private, state_url, "the PCI bridge", "PCI_API_KEYS")
            pci_keys = (new_key(),)
            generated.append(("PCI_API_KEYS", f"the PCI bridge's API {FOR_ITS_PLANS}"))
        plan_secrets["PCI_API_KEY"] = resolve(env, secrets, "PCI_API_KEY") or pci_keys[0]
    billing: str | None = None
    if settings.demo_billing:
        billing = resolve(env, secrets, "BILLING_TOKEN")
        if billing is None:
            _refuse_when_shared(
                private, settings.store_url, "the demo billing service", "BILLING_TOKEN"
            )
            billing = new_key()
            generated.append(("BILLING_TOKEN", f"the demo billing service {FOR_ITS_PLANS}"))
        plan_secrets["BILLING_TOKEN"] = billing
    webhook: str | None = None
    if settings.pci_enabled and (settings.pci.get("result_webhook") or settings.demo_billing):
        webhook = resolve(env, secrets, "PCI_WEBHOOK_SECRET")
        if webhook is None:
            state_url = settings.pci.get("state_url") or settings.store_url
            _refuse_when_shared(
                private, state_url, "the payment-result webhook", "PCI_WEBHOOK_SECRET"
            )
            webhook = new_key()
            generated.append(("PCI_WEBHOOK_SECRET", f"the payment-result webhook {FOR_ITS_PLANS}"))
    collections: str | None = None
    if settings.collections or private:  # plan tests answer collections requests canned
        collections = resolve(env, secrets, "COLLECTIONS_API_KEY")
        if collections is None:
            _refuse_when_shared(
                private, settings.store_url, "the collections API", "COLLECTIONS_API_KEY"
            )
            collections = new_key()
            generated.append(("COLLECTIONS_API_KEY", f"the collections API {FOR_ITS_PLANS}"))
        plan_secrets["COLLECTIONS_API_KEY"] = collections
    console = resolve(env, secrets, "IVR_SECRET_KEY")
    if console is not None and len(console) < 16:
        raise SettingsError(
            f"IVR_SECRET_KEY is too short to sign console sessions ({len(console)} characters; "
            f"at least 16): make one with `{HOW_TO_MAKE_ONE}`"
        )
    if console is None and not private and not is_shared(settings.store_url):
        console = new_key()  # one process: sessions last as long as it does
        generated.append(
            (
                "IVR_SECRET_KEY",
                "the console's sessions are signed with a random key this process made, so "
                "they end when it stops (set it to keep them, and for several processes)",
            )
        )
    return ServiceKeys(
        pci_api_keys=pci_keys,
        console_secret=console,
        billing_token=billing,
        webhook_secret=webhook,
        collections_api_key=collections,
        plan_secrets=plan_secrets,
        generated=tuple(generated),
    )


def _refuse_when_shared(private: bool, state_url: str | None, service: str, name: str) -> None:
    if private or not is_shared(state_url):
        return
    raise SettingsError(
        f"{name} is not set: {service} shares its state in {str(state_url).split('@')[-1]} "
        f"with other processes, so each needs the same key. Set {name} in the environment "
        f"(or secrets: in the config file), for example from `{HOW_TO_MAKE_ONE}`"
    )


def log_generated(keys: ServiceKeys) -> None:
    """Say once which keys the process made for itself (never the keys)."""
    for name, consequence in keys.generated:
        log.info("%s is not set: %s", name, consequence)
