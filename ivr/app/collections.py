"""Collections wired to this deployment: the cases in the engine's database (or the section's
own), the billing service that keeps the accounts' flags (the demo one, in-process, when it is
mounted), and the inbox listener."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from foundation.bearer import new_key, resolve
from foundation.documents import DocumentError
from ivr.adapters.loopback import mount
from ivr.app.settings import DEMO_BILLING_DATABASE, Settings, SettingsError
from ivr.collections.cases import Cases
from ivr.collections.config import CollectionsConfig
from ivr.collections.flags import BillingFlags
from ivr.collections.intake import Inbox, Intake, Listener


@dataclass
class Collections:
    config: CollectionsConfig
    cases: Cases
    intake: Intake
    inbox: Inbox | None
    http: requests.Session
    _owned: list[Any]

    def listener(self) -> Listener | None:
        """The inbox's listener (None without an inbox); not started."""
        return Listener(self.inbox, self.config.interval) if self.inbox is not None else None

    def close(self) -> None:
        self.cases.close()
        for part in self._owned:
            part.close()


def collections_config(settings: Settings) -> CollectionsConfig:
    base = Path(settings.source).parent if settings.source else Path(".")
    try:
        return CollectionsConfig.read(settings.collections, base, settings.source or "config")
    except DocumentError as exc:
        raise SettingsError(str(exc)) from None


def open_collections(
    settings: Settings,
    *,
    http: requests.Session | None = None,
    billing_token: str | None = None,
    clock: Any = None,
) -> Collections:
    """Collections for `settings`. A serving process passes its `http` session (its
    in-process services mounted) and the billing token its plans use; a command run on its own
    (`ivr collections import`) reaches the demo billing service in-process, on the database
    the serving processes share."""
    config = collections_config(settings)
    owned: list[Any] = []
    cases = Cases(config.database_url or settings.database_url, clock=clock)
    token = resolve(os.environ, settings.secrets, "BILLING_TOKEN") or billing_token
    url = config.billing_url
    if url is None and settings.demo_billing:
        url = settings.self_url.rstrip("/") + "/demo/billing"
        if http is None:
            http, token = _demo_billing(settings, token, clock, owned)
    if http is None:
        http = requests.Session()
        owned.append(http)
    flags = BillingFlags(http, url, token) if url else None
    intake = Intake(cases, flags, config.defaults, config.campaign)
    inbox = Inbox(intake, config.inbox) if config.inbox is not None else None
    return Collections(config, cases, intake, inbox, http, owned)


def _demo_billing(
    settings: Settings, token: str | None, clock: Any, owned: list[Any]
) -> tuple[requests.Session, str]:
    """The demo billing service mounted on a session of this process's own, on the database
    every serving process shares."""
    from flask import Flask

    from demo.billing import Billing, register

    token = token or new_key()
    app = Flask("collections_billing", static_folder=None)
    service = Billing.from_file(
        database_url=settings.demo_billing_database or DEMO_BILLING_DATABASE
    )
    options: dict[str, Any] = {"token": token}
    if clock is not None:
        options["clock"] = clock
    register(app, service, **options)
    http = requests.Session()
    mount(http, app, settings.self_url)
    owned.extend([http, service])
    return http, token
