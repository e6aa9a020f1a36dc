"""Plans in a fleet: every serving process follows the published versions in the database,
and one process in the fleet (the holder of a lease) publishes the plans folder's changes.

`PlanSync.step()` is one round: publish the files whose content changed since they were last
seen (when this process watches the folder), then serve the newest published version of every
plan if anything was published since the last round. `PlanWatcher` runs rounds on a thread
(every `plan_poll_interval` seconds, 1 by default), so a publish from any host reaches every
worker within a few seconds. Calls in progress keep the version they started on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.adapters import metrics
from ivr.adapters.plan_store import Candidate, PlanStore, PublishedVersion, content_hash
from ivr.engine.catalog import LoadResult, plan_files
from ivr.engine.loader import load_file
from ivr.errors import PlanError

if TYPE_CHECKING:
    from ivr.app.system import System

log = logging.getLogger("ivr.plans")
load_log = logging.getLogger("ivr.system")  # where plan diagnostics have always been logged

LEASE = "plans-folder"
LEASE_SECONDS = 15.0
FILE_AUTHOR = "file"


class PlanSync:
    """One process's view of the published plans, and its share of watching the folder."""

    def __init__(self, system: System, store: PlanStore, *, watch: bool):
        self.system = system
        self.store = store
        self.watch = watch
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.seen_marker = -1
        self.pid = os.getpid()
        self.serving: dict[str, PublishedVersion] = {}  # what the last round loaded, by plan
        self._lock = threading.Lock()

    def forked(self) -> None:
        """In a worker forked after the app was built: read the published set afresh, and
        hold the lease under this process's own name."""
        if os.getpid() != self.pid:
            self.pid = os.getpid()
            self.seen_marker = -1
            self.holder = f"{socket.gethostname()}:{self.pid}:{id(self):x}"

    def step(self, *, starting: bool = False) -> bool:
        """One round; True when this process now serves something new or refused a file.
        `starting`: publish the folder's changes without waiting for the lease (a new fleet
        serves its files at once; a content already published is never stored twice)."""
        with self._lock:
            changed = False
            if starting or (
                self.watch and self.store.take_lease(LEASE, self.holder, LEASE_SECONDS)
            ):
                changed = self.publish_folder()
            return self.follow() or changed

    def publish_folder(self) -> bool:
        """Publish the plan files whose content changed since the fleet last saw them."""
        settings = self.system.settings
        changed: list[tuple[Path, str]] = []
        present = plan_files([settings.callplans])
        seen = self.store.files()
        for path in present:
            digest = _digest(path, settings.max_plan_bytes)
            if digest is not None and digest != seen.get(str(path)):
                changed.append((path, digest))
        removed = self._removed(seen, {str(p) for p in present})
        if not changed:
            return removed
        log.info("call plans changed; reloading")
        candidates, refused = [], LoadResult()
        for path, _ in changed:
            try:
                plan, _report = load_file(path, max_bytes=settings.max_plan_bytes)
            except PlanError as exc:  # unreadable, too big or broken: refused unread further
                refused.diagnostics.extend(exc.diagnostics)
                refused.refused.append(str(path))
                continue
            candidates.append(Candidate(str(path), plan.source, str(path)))
        result = self.store.publish(
            candidates, author=FILE_AUTHOR, message="changed in the plans folder"
        )
        report = result.checked
        report.diagnostics = sorted(
            refused.diagnostics + report.diagnostics, key=lambda d: (d.file, d.line, d.col)
        )
        report.refused = sorted(refused.refused + report.refused)
        _log_load(report)
        metrics.PLAN_PUBLISHES.labels("refused").inc(len(report.refused))
        metrics.PLAN_PUBLISHES.labels("published").inc(len(result.published))
        metrics.PLAN_PUBLISHES.labels("unchanged").inc(len(result.unchanged))
        for version in result.published:
            log.info(
                "published %s v%d (%s) from %s",
                version.plan_id,
                version.number,
                version.version,
                version.source,
            )
        for path, digest in changed:
            self.store.record_file(str(path), digest)  # a broken file is not retried until edited
        self.system.last_load = report
        return True

    def _removed(self, seen: dict[str, str], present: set[str]) -> bool:
        """Files of this folder seen before and gone now: said once. Their plans keep serving
        (a deploy in progress or a mistaken `rm` must not leave a number unanswered)."""
        folder = str(self.system.settings.callplans)
        gone = [p for p in seen if p.startswith(folder) and p not in present]
        for path in gone:
            log.warning("plan file %s was removed; its published version keeps serving", path)
            self.store.forget_file(path)
        return bool(gone)

    def follow(self) -> bool:
        """Serve the newest published versions, if anything was published since last time."""
        marker = self.store.marker()
        if marker == self.seen_marker:
            return False
        serving, loaded = self.store.load_serving()
        for diagnostic in loaded.errors:  # published versions passed; a newer release may not
            log.error("%s", diagnostic.format())
        metrics.PLAN_LOADS.labels("refused" if loaded.refused else "loaded").inc()
        self.system.catalog.serve(loaded, keep={v.plan_id for v in serving})
        self.serving = {v.plan_id: v for v in serving}
        self.seen_marker = marker
        log.info(
            "serving %s",
            ", ".join(f"{v.plan_id} v{v.number} ({v.version})" for v in serving) or "no plans",
        )
        return True


class PlanWatcher(threading.Thread):
    """Runs `system.sync_plans()` rounds every `interval` seconds until `stop` is set or the
    system is gone (it holds the system weakly: an app that is dropped stops its watcher)."""

    def __init__(self, system: System, interval: float = 1.0):
        super().__init__(name="plan-sync", daemon=True)
        self._system = weakref.ref(system)
        self.interval = interval
        self.stop = threading.Event()
        self._failing = False

    def run(self) -> None:
        while not self.stop.wait(self.interval) and self._round():
            pass

    def _round(self) -> bool:
        """One round; False when the system is gone (nothing of it is kept between rounds)."""
        system = self._system()
        if system is None:
            return False
        system.retry_records()  # call records kept while the database was down
        try:
            system.sync_plans()
        except Exception as exc:  # the database may be down: keep serving what is loaded
            if not self._failing:
                log.error(
                    "following the published plans failed (%s: %s); the loaded versions "
                    "keep serving",
                    type(exc).__name__,
                    exc,
                )
            self._failing = True
        else:
            if self._failing:
                log.info("following the published plans again")
            self._failing = False
        return True

    @property
    def system(self) -> System:
        system = self._system()
        assert system is not None, "the system this watcher served is gone"
        return system

    def check(self) -> bool:
        return self.system.sync_plans()


def _digest(path: Path, max_bytes: int) -> str | None:
    """The file's content hash; an oversized file is not read (its size and time stand in)."""
    try:
        stat = path.stat()
        if stat.st_size > max_bytes:
            return f"size {stat.st_size} mtime {stat.st_mtime_ns}"
        return content_hash(path.read_bytes())
    except OSError:
        return None  # removed or unreadable while listing: the next round sees it again


def _log_load(result: LoadResult) -> None:
    for diagnostic in result.diagnostics:
        level = logging.ERROR if diagnostic.severity == "error" else logging.WARNING
        load_log.log(level, "%s", diagnostic.format())
    for name in result.refused:
        load_log.error(
            "plan %s refused; the version already published (if any) keeps serving", name
        )
