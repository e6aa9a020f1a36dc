"""Published plan versions in SQL: what every worker of every host serves.

A publish stores an immutable version (content, content hash, author, time, message, source)
after checking it with the engine's loader together with the other plans being served (numbers
answered twice, `goto_plan` to a plan that is not there). Each plan serves its newest version;
a rollback publishes an earlier version's content again. The plans-folder watcher records the
files it published (`plan_files`) and holds a lease so that one process in the fleet watches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from foundation.clock import utc_now
from foundation.db import open_engine
from foundation.migrations import upgrade
from ivr.adapters.tables import SCHEMA, plan_files, plan_versions, plan_watch_lease
from ivr.engine.catalog import LoadResult, load_texts
from ivr.engine.loader import MAX_PLAN_BYTES, plan_version
from ivr.errors import PlanNotFound


@dataclass(frozen=True)
class PublishedVersion:
    id: int
    plan_id: str
    number: int
    version: str
    content: str
    author: str
    message: str
    source: str
    published_at: str

    @property
    def name(self) -> str:
        """How diagnostics name this version: `plan_id v3`."""
        return f"{self.plan_id} v{self.number}"


@dataclass(frozen=True)
class Candidate:
    """A plan text offered for publishing, named as its diagnostics should name it."""

    name: str  # the file path, or e.g. "<console>"
    text: str
    source: str  # what the version row says it came from


@dataclass
class PublishResult:
    """What a publish did: the versions stored, and what the check found (refused names in
    `checked.refused`, every diagnostic in `checked.diagnostics`)."""

    published: list[PublishedVersion]
    unchanged: list[str]  # names whose plan already serves that content
    checked: LoadResult


class PlanStore:
    def __init__(
        self,
        db: Engine | str,
        *,
        clock: Callable[[], datetime] = utc_now,
        max_plan_bytes: int = MAX_PLAN_BYTES,
    ):
        self.db = open_engine(db) if isinstance(db, str) else db
        self.clock = clock
        self.max_plan_bytes = max_plan_bytes
        upgrade(self.db, SCHEMA)

    def close(self) -> None:
        self.db.dispose()

    # -- reading ------------------------------------------------------------------------------

    def marker(self) -> int:
        """Changes whenever anything is published (the newest row id; 0 when empty)."""
        with self.db.connect() as conn:
            return int(conn.execute(select(func.max(plan_versions.c.id))).scalar() or 0)

    def serving(self) -> list[PublishedVersion]:
        """Each plan's newest version, by plan id."""
        newest = (
            select(func.max(plan_versions.c.id)).group_by(plan_versions.c.plan_id).scalar_subquery()
        )
        query = (
            select(plan_versions)
            .where(plan_versions.c.id.in_(newest))
            .order_by(plan_versions.c.plan_id)
        )
        with self.db.connect() as conn:
            return [_version(row._mapping) for row in conn.execute(query)]

    def history(self, plan_id: str) -> list[PublishedVersion]:
        """Every version of `plan_id`, newest first."""
        query = (
            select(plan_versions)
            .where(plan_versions.c.plan_id == plan_id)
            .order_by(plan_versions.c.number.desc())
        )
        with self.db.connect() as conn:
            return [_version(row._mapping) for row in conn.execute(query)]

    def content(self, plan_id: str, version: str) -> str | None:
        """The text of a version by its content hash (a call pinned to it, on another worker)."""
        query = (
            select(plan_versions.c.content)
            .where(plan_versions.c.plan_id == plan_id, plan_versions.c.version == version)
            .limit(1)
        )
        with self.db.connect() as conn:
            found = conn.execute(query).scalar()
        return str(found) if found is not None else None

    def load_serving(self) -> tuple[list[PublishedVersion], LoadResult]:
        """The serving versions, loaded and cross-checked as one set."""
        serving = self.serving()
        checked = load_texts([(v.name, v.content) for v in serving], max_bytes=self.max_plan_bytes)
        return serving, checked

    # -- publishing ---------------------------------------------------------------------------

    def publish(
        self, candidates: Iterable[Candidate], *, author: str, message: str
    ) -> PublishResult:
        """Check `candidates` with the plans being served and store each one that passes and
        changes its plan. A candidate with errors is refused; the others are not held back."""
        offered = list(candidates)
        serving = {v.plan_id: v for v in self.serving()}
        result = self._check(offered, serving)
        by_name = {c.name: c for c in offered}
        published, unchanged = [], []
        for plan, _ in result.plans:
            candidate = by_name[plan.file]
            current = serving.get(plan.id)
            if current is not None and current.version == plan.version:
                unchanged.append(candidate.name)
                continue
            published.append(
                self._insert(
                    plan.id, plan.version, candidate.text, author, message, candidate.source
                )
            )
        return PublishResult(published, unchanged, result)

    def check(self, candidates: Iterable[Candidate]) -> LoadResult:
        """What a publish of `candidates` would find (nothing is stored): each on its own,
        then beside the serving plans they do not replace."""
        return self._check(list(candidates), {v.plan_id: v for v in self.serving()})

    def _check(self, offered: list[Candidate], serving: dict[str, PublishedVersion]) -> LoadResult:
        # each offered plan on its own first (what it is, and its own errors) ...
        checked = LoadResult()
        replaced: set[str] = set()
        for candidate in offered:
            alone = load_texts(
                [(candidate.name, candidate.text)], max_bytes=self.max_plan_bytes, cross_check=False
            )
            checked.diagnostics.extend(alone.errors)
            checked.refused.extend(alone.refused)
            replaced |= {plan.id for plan, _ in alone.plans}
        # ... then beside the serving plans they do not replace
        others = [(v.name, v.content) for pid, v in serving.items() if pid not in replaced]
        ok = {name for name in (c.name for c in offered) if name not in checked.refused}
        together = load_texts(
            others + [(c.name, c.text) for c in offered if c.name in ok],
            max_bytes=self.max_plan_bytes,
        )
        refused = set(checked.refused) | {n for n in together.refused if n in ok}
        # a serving plan the offered ones would break (a goto_plan to an applet they drop)
        broken = [n for n in together.refused if n not in ok]
        if broken:
            refused |= ok
        return LoadResult(
            plans=[(p, r) for p, r in together.plans if r.file in ok and r.file not in refused],
            diagnostics=sorted(
                [d for d in checked.diagnostics]
                + [d for d in together.diagnostics if d.file in ok or d.file in broken],
                key=lambda d: (d.file, d.line, d.col),
            ),
            refused=sorted(refused),
        )

    def rollback(self, plan_id: str, number: int, *, author: str, message: str) -> PublishResult:
        """Publish version `number` of `plan_id` again (checked like any publish)."""
        wanted = [v for v in self.history(plan_id) if v.number == number]
        if not wanted:
            known = ", ".join(f"v{v.number}" for v in reversed(self.history(plan_id)))
            raise PlanNotFound(
                f"plan '{plan_id}' has no version {number}"
                + (f" (it has {known})" if known else " (it was never published)")
            )
        old = wanted[0]
        return self.publish(
            [Candidate(f"{plan_id} v{number}", old.content, f"rollback to v{number}")],
            author=author,
            message=message or f"rollback to v{number}",
        )

    def _insert(
        self, plan_id: str, version: str, text: str, author: str, message: str, source: str
    ) -> PublishedVersion:
        for _ in range(10):  # two publishers may take the same next number: the loser retries
            with self.db.connect() as conn:
                newest = conn.execute(
                    select(plan_versions)
                    .where(plan_versions.c.plan_id == plan_id)
                    .order_by(plan_versions.c.number.desc())
                    .limit(1)
                ).first()
            if newest is not None and newest.version == version:
                return _version(newest._mapping)  # the same content won the race: one row
            number = 1 + (newest.number if newest is not None else 0)
            row: dict[str, Any] = {
                "plan_id": plan_id,
                "number": number,
                "version": version,
                "content": text,
                "author": author[:100],
                "message": message,
                "source": source[:500],
                "published_at": self.clock().isoformat(),
            }
            try:
                with self.db.begin() as conn:
                    new_id = conn.execute(insert(plan_versions).values(**row)).inserted_primary_key
            except IntegrityError:
                continue
            assert new_id is not None
            return PublishedVersion(id=int(new_id[0]), **row)
        raise RuntimeError(f"could not publish plan '{plan_id}': too many concurrent publishes")

    # -- the plans-folder watcher ---------------------------------------------------------------

    def files(self) -> dict[str, str]:
        """The paths the watcher has seen, with the content hash it saw (one query)."""
        with self.db.connect() as conn:
            rows = conn.execute(select(plan_files.c.path, plan_files.c.content_hash))
            return {str(path): str(digest) for path, digest in rows}

    def forget_file(self, path: str) -> None:
        with self.db.begin() as conn:
            conn.execute(plan_files.delete().where(plan_files.c.path == path))

    def record_file(self, path: str, content_hash: str) -> None:
        now = self.clock().isoformat()
        with self.db.begin() as conn:
            done = conn.execute(
                update(plan_files)
                .where(plan_files.c.path == path)
                .values(content_hash=content_hash, seen_at=now)
            ).rowcount
            if not done:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(plan_files).values(
                                path=path, content_hash=content_hash, seen_at=now
                            )
                        )
                except IntegrityError:
                    pass  # recorded by another process meanwhile

    def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold `name` for `seconds` (renewing it when already held by `holder`)."""
        now = self.clock()
        expires = (now + timedelta(seconds=seconds)).isoformat()
        with self.db.begin() as conn:
            taken = conn.execute(
                update(plan_watch_lease)
                .where(
                    plan_watch_lease.c.name == name,
                    (plan_watch_lease.c.holder == holder)
                    | (plan_watch_lease.c.expires_at < now.isoformat()),
                )
                .values(holder=holder, expires_at=expires)
            ).rowcount
        if taken:
            return True
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(plan_watch_lease).values(name=name, holder=holder, expires_at=expires)
                )
        except IntegrityError:
            return False
        return True


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _version(row: Any) -> PublishedVersion:
    return PublishedVersion(
        id=row["id"],
        plan_id=row["plan_id"],
        number=row["number"],
        version=row["version"],
        content=row["content"],
        author=row["author"],
        message=row["message"],
        source=row["source"],
        published_at=row["published_at"],
    )


__all__ = ["Candidate", "PlanStore", "PublishResult", "PublishedVersion", "plan_version"]
