"""Wiring: build the catalog, store, recorder and engine from settings (once per process)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests

from foundation.clock import utc_now
from foundation.outage import Outage
from ivr.adapters.metrics import EngineMetrics
from ivr.adapters.plan_store import PlanStore
from ivr.adapters.record_queue import QueuedRecorder
from ivr.adapters.records_sql import SqlRecorder
from ivr.adapters.sms import SmsSender, receipt
from ivr.adapters.voice import store_outage
from ivr.app.service_keys import ServiceKeys, service_keys
from ivr.app.settings import Destination, Settings
from ivr.engine.catalog import Catalog, LoadResult
from ivr.engine.stores import SessionStore, open_store
from ivr.engine.stores.redis_store import RedisStore
from ivr.engine.turns import Engine, env_secrets

if TYPE_CHECKING:
    from ivr.app.fleet import PlanSync

log = logging.getLogger("ivr.system")


@dataclass
class System:
    settings: Settings
    catalog: Catalog
    store: SessionStore
    recorder: Any
    engine: Engine
    last_load: LoadResult | None = None
    bridge: Any = None  # the embedded PCI bridge, when enabled
    keys: ServiceKeys = field(default_factory=ServiceKeys)
    sms: SmsSender | None = None  # text messages, when `sms_from` and the auth token are set
    plans: PlanStore | None = None  # published versions (serving processes)
    sync: PlanSync | None = None  # follows them, and watches the plans folder
    store_outage: Outage = field(default_factory=store_outage)  # said once, not per webhook
    collections: Any = None  # ivr.app.collections.Collections, when configured
    _collections_work: Any = None

    def late_receipt(self, caller: str, view: dict[str, Any]) -> None:
        """A stored-card charge ended after the plan stopped waiting for it: text the caller
        a receipt when it succeeded (the plan could only say it was still being processed)."""
        result = view.get("result") or {}
        if result.get("outcome") != "success" or not caller:
            return
        if self.sms is None:
            log.warning(
                "payment %s completed after the call stopped waiting; no text message "
                "sent (set sms_from to send receipts)",
                view["session_id"],
            )
            return
        self.sms.send(caller, receipt(self.bridge.config.merchant_name, view))

    @property
    def merchant_name(self) -> str:
        """The name receipts give (the embedded bridge's merchant)."""
        return str(self.bridge.config.merchant_name) if self.bridge is not None else ""

    def paid_by(self, caller: str, since: datetime) -> list[dict[str, Any]]:
        """Payments the embedded bridge took for `caller` since `since` (public views)."""
        if self.bridge is None or not caller:
            return []
        result: list[dict[str, Any]] = self.bridge.sessions.paid_by(caller, since)
        return result

    def outbound_call(self, campaign: str, case: str) -> tuple[str, dict[str, str]] | None:
        """The plan and data sources of an outbound collections call (None: no such case)."""
        if self.collections is None:
            return None
        answer: tuple[str, dict[str, str]] | None = self.collections.outbound_call(campaign, case)
        return answer

    _reload_lock: threading.Lock = field(default_factory=threading.Lock)
    _watcher_pid: int | None = None
    _watcher: Any = None

    @property
    def directory(self) -> dict[str, Destination]:
        """Numbers the simulator can dial: the configured ones, plus the embedded bridge's."""
        numbers = self.bridge.config.transfer_numbers if self.bridge is not None else ()
        return with_bridge_numbers(self.settings.directory, numbers)

    def serving_plans(self) -> dict[str, dict[str, Any]]:
        """Each plan this process serves to new calls: its version (content hash) and, when
        it was published, its number and when."""
        published = self.sync.serving if self.sync is not None else {}
        out: dict[str, dict[str, Any]] = {}
        for plan_id in self.catalog.plan_ids:
            version = self.catalog.current(plan_id).version
            entry: dict[str, Any] = {"version": version}
            row = published.get(plan_id)
            if row is not None and row.version == version:
                entry.update(number=row.number, published_at=row.published_at)
            out[plan_id] = entry
        return out

    def retry_records(self) -> None:
        """Write the call records kept while the database was down (each worker's own)."""
        retry = getattr(self.recorder, "retry", None)
        if retry is not None:
            retry()

    def sync_plans(self) -> bool:
        """One round of following the published plans (and of watching the folder, for the
        process that holds the lease); True when something changed."""
        return self.sync.step() if self.sync is not None else False

    def start_background(self) -> None:
        """Start this process's plan watcher (once per process: gunicorn's post_fork hook
        calls it again in each worker when the app was loaded before the fork); and the
        collections' periodic work (inbox, contact rounds), when configured."""
        if self.collections is not None:
            self._start_collections()
        if self.sync is None or self._watcher_pid == os.getpid():
            return
        from ivr.app.fleet import PlanWatcher

        forked = self._watcher_pid is not None
        self._watcher_pid = os.getpid()
        if forked:
            self._after_fork()
        self.sync.forked()
        self._watcher = PlanWatcher(self, self.settings.plan_poll_interval)
        self._watcher.start()

    def _start_collections(self) -> None:
        """A fleet on Redis: the collections jobs run on `ivr worker` (RQ); this process only
        makes sure the next tick is scheduled. One process alone: a thread of its own."""
        assert self.collections is not None
        client = getattr(self.store, "client", None)
        if client is not None:
            from ivr.app.collections_jobs import schedule_tick

            try:
                schedule_tick(client, self.collections.config.interval)
            except Exception as exc:  # noqa: BLE001 - serving goes on; workers schedule too
                log.warning("collections: the next tick was not scheduled (%s)", exc)
            return
        if self._collections_work is None:
            self._collections_work = self.collections.periodic()
        if self._collections_work is not None:
            self._collections_work.start()

    def stop_collections_work(self, timeout: float = 5.0) -> None:
        """Stop collections' periodic thread (after the turn it is in): whoever stops it runs
        `collections.tick()` itself (tests, simulations)."""
        if self._collections_work is not None:
            self._collections_work.close(timeout)
            self._collections_work = None

    def stop_background(self, timeout: float = 5.0) -> None:
        """Stop this process's background threads, the plan watcher and the call record
        writer (tests, and a clean shutdown)."""
        self.stop_collections_work(timeout)
        watcher = self._watcher
        if watcher is not None:
            watcher.stop.set()
            watcher.join(timeout)
            self._watcher = None
        stop_writer = getattr(self.recorder, "stop", None)
        if stop_writer is not None:
            stop_writer(timeout)

    def _after_fork(self) -> None:
        """In a worker forked from a process that had opened the databases (gunicorn
        --preload): connections are never shared across processes, so drop the inherited ones
        (without closing them under the parent) and let each pool open its own."""
        engines = [getattr(self.plans, "db", None), getattr(self.recorder, "db", None)]
        if self.collections is not None:
            engines.append(self.collections.cases.db)
        if self.bridge is not None:
            engines.append(self.bridge.ledger.db)
        for engine in engines:
            if engine is not None:
                engine.dispose(close=False)

    def reload_plans(self) -> LoadResult:
        """Serving: publish the plans folder's changes and serve the newest published
        versions. Simulated calls and plan tests: load the plans folder. Valid edits replace
        old versions for new calls; a plan with errors is refused and logged, and its old
        version keeps serving."""
        if self.sync is not None:
            with self._reload_lock:
                self.sync.step(starting=True)
                return self.last_load or LoadResult()
        with self._reload_lock:
            result = self.catalog.load([self.settings.callplans])
            for diagnostic in result.diagnostics:
                level = logging.ERROR if diagnostic.severity == "error" else logging.WARNING
                log.log(level, "%s", diagnostic.format())
            for file in result.refused:
                log.error(
                    "plan %s refused; the version already loaded (if any) keeps serving", file
                )
            self.last_load = result
            return result


def with_bridge_numbers(directory: dict[str, Destination], numbers: Any) -> dict[str, Destination]:
    """`directory` plus the PCI bridge's numbers, answered by its voice URL."""
    out = dict(directory)
    for number in numbers:
        out.setdefault(number, Destination(url="/pci/voice", status_url="/pci/voice/status"))
    return out


def bridge_numbers(settings: Settings) -> tuple[str, ...]:
    """The embedded bridge's transfer numbers, as configured (without building it)."""
    if not settings.pci_enabled:
        return ()
    from pci_bridge.config import DEFAULT_TRANSFER_NUMBERS

    return tuple(settings.pci.get("transfer_numbers", DEFAULT_TRANSFER_NUMBERS))


def build_system(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    http: requests.Session | None = None,
    store: SessionStore | None = None,
    recorder: Any = None,
    private: bool = False,
    catalog: Catalog | None = None,
    plan_sources: Callable[[str, str], str | None] | None = None,
    bridge_state: Any = None,
    test_calls: bool = False,
) -> System:
    """Wire a system. `private`: simulated calls and plan tests, whose service keys never
    leave the process (they never refuse to start for want of a configured key).

    The console's softphone wires a private system onto the serving one: its `catalog` (the
    published plans, followed as they change) and `plan_sources`, the bridge's live state
    under a namespace of its own (`bridge_state`), and records marked as `test_calls`."""
    keys = service_keys(settings, private=private)
    shared_catalog = catalog is not None
    if catalog is None:
        catalog = Catalog(numbers=settings.numbers, max_plan_bytes=settings.max_plan_bytes)
    store = store if store is not None else open_store(settings.store_url)
    if recorder is None:
        recorder = SqlRecorder(settings.database_url)
        if isinstance(store, RedisStore):  # a fleet: records queue in Redis, written in batches
            recorder = QueuedRecorder(recorder, store.client)
    engine = Engine(
        catalog,
        store,
        http=http,
        clock=clock,
        secrets=env_secrets({**settings.secrets, **keys.plan_secrets}),
        recorder=recorder,
        session_ttl=settings.session_ttl,
        data=settings.data,
    )
    engine.test_calls = test_calls
    engine.plan_sources = plan_sources
    system = System(settings, catalog, store, recorder, engine, keys=keys)
    if settings.sms_from and settings.auth_token:
        system.sms = SmsSender(
            settings.account_sid,
            settings.auth_token,
            settings.sms_from,
            settings.twilio_api_url,
            engine.http,
        )
    if settings.pci_enabled:
        system.bridge = embedded_bridge(settings, clock, keys, engine.http, bridge_state)
        system.bridge.sessions.on_late_end = system.late_receipt
    if not private:  # serving: the published versions in the database are what serves
        from ivr.app.fleet import PlanSync

        system.plans = PlanStore(
            settings.database_url, clock=clock, max_plan_bytes=settings.max_plan_bytes
        )
        system.sync = PlanSync(system, system.plans, watch=settings.watch_plans)
        engine.plan_sources = system.plans.content
        engine.observer = EngineMetrics()
    if not shared_catalog:
        system.reload_plans()
    return system


def embedded_bridge(
    settings: Settings,
    clock: Callable[[], datetime],
    keys: ServiceKeys,
    http: requests.Session,
    state: Any = None,
) -> Any:
    """The PCI bridge on the same app: its own database file and `pci:` keys in the same
    store; signature checks and public URL shared with the engine; payment results sent with
    the engine's HTTP session (so a service this app mounts is reached in-process)."""
    from pci_bridge import BridgeConfig, build_bridge

    raw = {k: v for k, v in settings.pci.items() if k != "enabled"}
    raw.setdefault("state_url", settings.store_url)
    raw.setdefault("database_url", "sqlite:///var/pci-bridge.sqlite3")
    raw.setdefault("auth_token", settings.auth_token)
    raw.setdefault("public_url", settings.public_url)
    raw["api_keys"] = keys.pci_api_keys
    raw["webhook_secret"] = keys.webhook_secret
    return build_bridge(BridgeConfig.from_dict(raw), clock=clock, http=http, state=state)
