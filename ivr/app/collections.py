"""Collections wired to this deployment: the cases in the engine's database (or the section's
own), the billing service that keeps the accounts' flags (the demo one, in-process, when it is
mounted), the notices' channels (Twilio's Messages API, SMTP), and the periodic work (inbox,
flags, contact rounds)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from foundation.bearer import new_key, resolve
from foundation.documents import DocumentError
from ivr.adapters.loopback import mount_services
from ivr.adapters.records_sql import SqlRecorder
from ivr.adapters.twilio_rest import twilio_client
from ivr.app.settings import DEMO_BILLING_DATABASE, Settings, SettingsError
from ivr.collections.bridge import BridgeClient
from ivr.collections.calls import CallOutcomes, OutboundCalls, outbound_data
from ivr.collections.cases import Cases, UnknownCase
from ivr.collections.config import CollectionsConfig
from ivr.collections.contact import Contacts
from ivr.collections.flags import BillingFlags
from ivr.collections.instalments import Instalments
from ivr.collections.intake import Inbox, Intake
from ivr.collections.notices import (
    EmailChannel,
    NoticeWriter,
    Notifier,
    SmsChannel,
    SmtpSettings,
)
from ivr.collections.periodic import Periodic
from ivr.collections.plans import Plans
from ivr.collections.policy import Channel
from ivr.collections.promises import Promises
from ivr.collections.schedules import PlanLimits
from ivr.collections.sms_status import SMS_STATUS_PATH
from ivr.collections.starts import PlanStarts

log = logging.getLogger("ivr.collections")


@dataclass
class Collections:
    config: CollectionsConfig
    cases: Cases
    intake: Intake
    inbox: Inbox | None
    contacts: Contacts | None  # None until collections.call_number is set
    outcomes: CallOutcomes
    plans: Plans
    bridge: BridgeClient | None  # the PCI bridge's session API (plans' payments)
    instalments: Instalments | None
    starts: PlanStarts | None
    promises: Promises
    http: requests.Session
    _owned: list[Any]

    def tick(self) -> None:
        """The periodic work, once: the inbox's files, flags to retry, texts' delivery reports
        that came early, contact rounds due, placed calls to settle, promises to check, plans
        waiting for their card, scheduled payments due. A step that fails is logged and the
        others still run (a bridge refusing one plan never holds back the payments due)."""
        steps: list[tuple[str, Callable[[], object] | None]] = [
            ("inbox", self.inbox.poll if self.inbox is not None else None),
            ("flags", self.intake.retry_flags),
            ("text reports", self.cases.apply_message_reports),
            ("contact rounds", self.contacts.run_due if self.contacts is not None else None),
            ("placed calls", self.outcomes.settle),
            ("promises", self.promises.run_due),
            ("plans waiting", self.starts.run_pending if self.starts is not None else None),
            ("payments due", self.instalments.run_due if self.instalments is not None else None),
        ]
        for name, step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception:
                log.exception("collections: the %s step failed (tried again next time)", name)

    def outbound_call(self, campaign: str, case_id: str) -> tuple[str, dict[str, str]] | None:
        """The plan and data sources of the call placed for case `case_id` of `campaign`
        (None when there is no such case being contacted)."""
        if not case_id.isdigit() or len(case_id) > 12 or self.config.call_number is None:
            return None
        try:
            case = self.cases.get(int(case_id))
        except UnknownCase:
            return None
        if case.campaign != campaign or not case.is_open:
            return None
        return self.config.policy(campaign).plan, outbound_data(case, self.config.call_number)

    @property
    def limits(self) -> PlanLimits:
        return self.config.plan_limits

    def periodic(self) -> Periodic | None:
        """The periodic work in a thread of its own (None when there is none); not started."""
        if self.inbox is None and self.contacts is None and self.instalments is None:
            return None
        return Periodic(self.tick, self.config.interval, "ivr-collections")

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
    find_record: Callable[[str], Any] | None = None,
    pci_key: str | None = None,
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
    sms, email = _channels(settings, config, http)
    contacts = _contacts(settings, config, cases, http, sms, email) if config.call_number else None
    if find_record is None:
        recorder = SqlRecorder(settings.database_url)
        owned.append(recorder)
        find_record = recorder.find
    promises = Promises(cases, flags, intake.unflag)
    plans = Plans(cases.db, cases.clock)
    outcomes = CallOutcomes(cases, config, find_record, intake.unflag, promises, plans)
    bridge = _bridge(settings, http, pci_key)
    instalments = (
        Instalments(
            plans,
            cases,
            bridge,
            Notifier(config.merchant, sms, email),
            intake.unflag,
            config.plan_limits,
        )  # fmt: skip
        if bridge is not None
        else None
    )
    starts = PlanStarts(plans, cases, bridge, instalments) if bridge is not None else None
    return Collections(
        config, cases, intake, inbox, contacts, outcomes, plans, bridge, instalments, starts,
        promises, http, owned,
    )  # fmt: skip


def _bridge(settings: Settings, http: requests.Session, key: str | None) -> BridgeClient | None:
    """The bridge's session API: `payments_api_url`, else this app's own bridge."""
    url = settings.payments_api_url or (
        settings.self_url.rstrip("/") + "/pci/v1" if settings.pci_enabled else None
    )
    key = key or resolve(os.environ, settings.secrets, "PCI_API_KEY")
    if key is None:  # as the plans do: the first of the bridge's own keys
        keys = resolve(os.environ, settings.secrets, "PCI_API_KEYS") or ""
        key = next((k.strip() for k in keys.split(",") if k.strip()), None)
    if not url or not key:
        log.info(
            "collections: no PCI bridge API (%s): scheduled payments are not charged; set "
            "PCI_API_KEY (and payments_api_url for another deployment's bridge)",
            "no key" if url else "the bridge is off",
        )
        return None
    return BridgeClient(http, url, key)


def _contacts(
    settings: Settings,
    config: CollectionsConfig,
    cases: Cases,
    http: requests.Session,
    sms: SmsChannel | None,
    email: EmailChannel | None,
) -> Contacts:
    """The contact rounds, with the channels the campaigns use."""
    call = None
    if Channel.CALL in config.channels_used:
        base = settings.public_url or settings.self_url
        client = _client(settings, http)
        assert config.call_number is not None and client is not None
        call = OutboundCalls(client, config.call_from or config.call_number, base).place
    assert config.call_number is not None
    writer = NoticeWriter(config.merchant, config.call_number, config.templates)
    return Contacts(cases, config, writer, sms, email, call)


def _client(settings: Settings, http: requests.Session) -> Any:
    if not settings.auth_token:
        return None
    return twilio_client(settings.account_sid, settings.auth_token, settings.twilio_api_url, http)


def _channels(
    settings: Settings, config: CollectionsConfig, http: requests.Session
) -> tuple[SmsChannel | None, EmailChannel | None]:
    """Text and email, when the campaigns use them (notices) or can be sent (receipts); a
    channel a campaign uses that the settings cannot send through is a SettingsError saying
    what to set."""
    used = config.channels_used if config.call_number else frozenset()
    sms = email = None
    if Channel.SMS in used or Channel.CALL in used:
        if not settings.auth_token:
            raise SettingsError(
                "collections: a campaign texts or calls customers, but TWILIO_AUTH_TOKEN is "
                "not set: set it, or leave sms and call out of the campaigns' channels"
            )
    client = _client(settings, http)
    sender = config.sms_from or settings.sms_from
    if Channel.SMS in used:
        if not sender:
            raise SettingsError(
                "collections: a campaign texts customers, but collections.sms_from (or "
                "sms_from) is not set: set it, or leave sms out of the campaigns' channels"
            )
    if client is not None and sender:
        base = (settings.public_url or settings.self_url).rstrip("/")
        sms = SmsChannel(client, sender, base + SMS_STATUS_PATH)
    if Channel.EMAIL in used and not config.email_from:
        raise SettingsError(
            "collections: a campaign emails customers, but collections.email_from is not "
            "set: set it (and collections.smtp), or leave email out of the channels"
        )
    if config.email_from:
        password = resolve(os.environ, settings.secrets, "SMTP_PASSWORD")
        smtp = config.smtp
        email = EmailChannel(
            SmtpSettings(smtp.host, smtp.port, smtp.starttls, smtp.username, password),
            config.email_from,
        )
    return sms, email


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
    mount_services(http, app, settings.self_url, ["/demo/billing/"])  # the rest: HTTP
    owned.extend([http, service])
    return http, token
