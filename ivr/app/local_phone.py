"""A whole system in one process for simulated calls: app, engine and simulator share a
simulated clock, and the simulator drives the app exactly as Twilio would."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import requests

from ivr.app.settings import Settings
from ivr.phone.transport import FlaskTransport, HttpTransport
from ivr.phone.twilio import CallResult, KeySource, SimClock, Spoken, TwilioSimulator


@dataclass
class CallReport:
    """A simulated call: the transcript, and what the plan did (path, data, outcome)."""

    result: CallResult
    path: list[tuple[str, str]] = field(default_factory=list)
    path_plans: list[str] = field(default_factory=list)
    data: dict[str, Any] | None = None
    outcome: str | None = None
    plan: str | None = None
    missing: list[str] = field(default_factory=list)
    note: str | None = None  # why the plan's side is not known (a remote server's call)

    def take_record(self, record: Any) -> None:
        """Path, outcome, plan and missing data from the call's record."""
        self.path = [(s.applet, s.outcome) for s in record.path]
        self.path_plans = [s.plan for s in record.path]
        self.outcome = record.outcome
        self.plan = record.plan_id
        self.missing = list(record.missing)

    def heard(self) -> list[str]:
        return self.result.heard()

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "call_sid": r.call_sid,
            "from": r.caller,
            "to": r.called,
            "plan": self.plan,
            "duration": r.duration,
            "ended_by": r.ended_by,
            "caller_cost": {
                "entries": r.entries,
                "seconds": r.duration,
                "prompt_seconds": r.prompt_seconds,
            },
            "outcome": self.outcome,
            "path": [{"applet": a, "outcome": o} for a, o in self.path],
            "data": self.data,
            "missing": self.missing,
            "transcript": [e.as_dict() for e in r.events],
        }


class LocalPhone:
    """Simulated calls against an in-process app built from `settings`."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: requests.Session | None = None,
        start: datetime | None = None,
        store: Any = None,
        recorder: Any = None,
        on_event: Any = None,
        **wiring: Any,
    ):
        from ivr.adapters.loopback import mount
        from ivr.app import create_app

        if settings.pci_enabled and "database_url" not in settings.pci:
            # A simulated call keeps its payments to itself: a bridge sharing the default
            # ledger file with a running server would settle that server's live payments.
            folder = tempfile.mkdtemp(prefix="ivr-call-")
            weakref.finalize(self, shutil.rmtree, folder, True)
            settings = replace(
                settings, pci={**settings.pci, "database_url": f"sqlite:///{folder}/pci.sqlite3"}
            )
        self.settings = settings
        self.clock = SimClock(start)
        session = http if http is not None else requests.Session()
        self.app = create_app(
            settings,
            clock=self.clock,
            http=session,
            store=store,
            recorder=recorder,
            private=True,
            **wiring,
        )
        mount(session, self.app, settings.self_url)  # the app's own services, in-process
        self.system = self.app.extensions["ivr"]
        self._snapshots: dict[str, Any] = {}
        self.simulator = TwilioSimulator(
            FlaskTransport(self.app),
            directory=self.system.directory,
            auth_token=settings.auth_token,
            sign_base=settings.public_url,
            clock=self.clock,
            account_sid=settings.account_sid,
            on_before_end=self._snapshot,
            on_event=on_event,
        )

    def close(self) -> None:
        """Release database connections (and the bridge's, when embedded)."""
        for part in (self.system.recorder, self.system.bridge):
            close = getattr(part, "close", None)
            if close is not None:
                close()

    def _snapshot(self, call_sid: str) -> None:
        self._snapshots[call_sid] = self.system.engine.session(call_sid)

    def call(
        self,
        to: str,
        caller: str = "",
        keys: list[str | Spoken] | KeySource | None = None,
        *,
        hangup_after: int | None = None,
    ) -> CallReport:
        source = keys if isinstance(keys, KeySource) else KeySource(list(keys or []))
        result = self.simulator.call(to, caller, source, hangup_after=hangup_after)
        report = CallReport(result)
        session = self._snapshots.pop(result.call_sid, None)
        if session is not None:
            names = {
                n
                for pid in self.system.catalog.plan_ids
                for n in self.system.catalog.current(pid).plan.secrets
            }
            report.data = mask(session.data, self.settings.secrets, names)
            report.plan = session.plan_id
        record = self.system.recorder.find(result.call_sid)
        if record is not None:
            report.take_record(record)
        return report


class RemotePhone:
    """Simulated calls against a running server (`ivr call --url`): the transcript as Twilio
    would see it, then the path and outcome from the server's call record, read from the
    database `settings` name (the server's, when they share a config)."""

    RECORD_WAIT = 3.0  # seconds to wait for the server to write the record

    def __init__(self, url: str, settings: Settings, on_event: Any = None):
        from ivr.app.system import bridge_numbers, with_bridge_numbers

        self.settings = settings
        directory = with_bridge_numbers(settings.directory, bridge_numbers(settings))
        self.simulator = TwilioSimulator(
            HttpTransport(url),
            directory=directory,
            auth_token=settings.auth_token,
            sign_base=settings.public_url,
            account_sid=settings.account_sid,
            on_event=on_event,
        )

    def call(
        self,
        to: str,
        caller: str = "",
        keys: list[str | Spoken] | KeySource | None = None,
        *,
        hangup_after: int | None = None,
    ) -> CallReport:
        source = keys if isinstance(keys, KeySource) else KeySource(list(keys or []))
        report = CallReport(self.simulator.call(to, caller, source, hangup_after=hangup_after))
        record = self._record(report.result.call_sid)
        if record is not None:
            report.take_record(record)
        else:
            report.note = (
                f"no call record for {report.result.call_sid} in {_shown(self.settings)}: "
                "give --config the server's config to see the outcome and path"
            )
        return report

    def _record(self, call_sid: str) -> Any:
        import time

        from ivr.adapters.records_sql import SqlRecorder
        from ivr.errors import RecordsUnavailable

        try:
            recorder = SqlRecorder(self.settings.database_url)
        except Exception:  # noqa: BLE001 - a database we cannot open: no record to show
            return None
        try:
            deadline = time.monotonic() + self.RECORD_WAIT
            while True:
                try:
                    record = recorder.find(call_sid)
                except RecordsUnavailable:
                    record = None
                if record is not None or time.monotonic() > deadline:
                    return record
                time.sleep(0.1)
        finally:
            recorder.close()


def _shown(settings: Settings) -> str:
    """The database URL without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(settings.database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: say it as given
        return settings.database_url


def mask(
    data: dict[str, Any], secrets: dict[str, str], names: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """Data sources with any secret value replaced (secrets are never stored, but be sure)."""
    import os

    values = {v for v in secrets.values() if v}
    values |= {v for k, v in os.environ.items() if (k in secrets or k in names) and v}
    return {k: ("****" if isinstance(v, str) and v in values else v) for k, v in data.items()}
