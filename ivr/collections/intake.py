"""Taking collections files in: a file's rows become cases (once per content), the accounts are
flagged in the billing service, and the inbox folder is emptied into `processed/` or `failed/`
with a report beside each file (collections.md)."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ivr.collections.cases import Case, Cases
from ivr.collections.flags import BillingFlags, FlagProblem
from ivr.collections.rows import MAX_FILE_BYTES, Defaults, Problem, read_rows

log = logging.getLogger("ivr.collections")

TAKING = ".taking"  # inbox/.taking/: files a process has claimed (an atomic rename)
PROCESSED = "processed"
FAILED = "failed"
REPORT_SUFFIX = ".report.txt"
FLAG_RETRY = timedelta(minutes=5)  # between tries at an account's flag
STRANDED_AFTER = 3600  # seconds: a claimed file not moved on by then was left by a dead process


@dataclass
class ImportReport:
    """What taking one file did, and everything wrong in it."""

    file: str
    sha256: str = ""
    opened: list[str] = field(default_factory=list)  # accounts whose case was opened
    already_open: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refused: int = 0  # rows not taken
    unreadable: bool = False  # the file as a whole (header, encoding, size)
    first_seen: datetime | None = None  # the same content was taken then: nothing changed
    flag_problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.unreadable

    def summary(self) -> str:
        if self.unreadable:
            first = self.problems[0] if self.problems else None
            why = f"{first.column}: {first.message}" if first else "it cannot be read"
            return f"{self.file}: not taken: {why}"
        if self.first_seen is not None:
            return (
                f"{self.file}: taken before ({self.first_seen:%Y-%m-%d %H:%M} UTC, same "
                "content): nothing changed"
            )
        already = f", {len(self.already_open)} already open" if self.already_open else ""
        return f"{self.file}: {len(self.opened)} cases opened{already}, {self.refused} rows refused"

    def lines(self) -> list[str]:
        """The report as text: every problem as FILE:LINE: column: message, then the summary."""
        out = list(self.warnings) + [str(p) for p in self.problems]
        out += [f"{self.file}: account {a}: a case is open already" for a in self.already_open]
        out += self.flag_problems
        out.append(self.summary())
        return out


class Intake:
    """Files → cases → flags."""

    def __init__(
        self,
        cases: Cases,
        flags: BillingFlags | None,
        defaults: Defaults,
        campaign: str = "default",
    ):
        self.cases = cases
        self.flags = flags
        self.defaults = defaults
        self.campaign = campaign

    def take_path(self, path: Path, name: str | None = None) -> ImportReport:
        """Take the file at `path` (`name` is how reports call it: the file's name)."""
        shown = name or path.name
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                report = ImportReport(shown, unreadable=True)
                report.problems.append(
                    Problem(shown, 1, "*", f"the file is larger than {MAX_FILE_BYTES} bytes")
                )
                return report
            data = path.read_bytes()
        except OSError as exc:
            report = ImportReport(shown, unreadable=True)
            report.problems.append(Problem(shown, 1, "*", f"cannot be read: {exc.strerror}"))
            return report
        return self.take(data, shown)

    def take(self, data: bytes, name: str) -> ImportReport:
        """Take a file's content: open a case for each good row (once per content), flag the
        accounts, and say what happened."""
        parsed = read_rows(data, name, self.defaults)
        report = ImportReport(
            name,
            sha256=hashlib.sha256(data).hexdigest(),
            problems=parsed.problems,
            warnings=parsed.warnings,
            refused=parsed.refused_lines,
            unreadable=parsed.unreadable,
        )
        if parsed.unreadable:
            return report
        taken = self.cases.take_file(
            report.sha256, name, parsed.rows, parsed.refused_lines, self.campaign
        )
        if taken.first_seen is not None:
            report.first_seen = taken.first_seen
            report.problems, report.warnings, report.refused = [], [], 0
            return report
        report.opened = [case.account for case in taken.opened]
        report.already_open = taken.already_open
        report.flag_problems = [self._flag(case) for case in taken.opened]
        report.flag_problems = [p for p in report.flag_problems if p]
        log.info("collections: %s", report.summary())
        return report

    def retry_flags(self, retry_after: timedelta = FLAG_RETRY) -> int:
        """Set the flag of every open case whose flag the billing service has not confirmed
        (it was down, or did not know the account), and remove it for every resolved case
        whose removal failed, at most once per `retry_after` each; how many were done."""
        before = self.cases.clock() - retry_after
        done = sum(1 for case in self.cases.unflagged(before) if not self._flag(case))
        return done + sum(1 for case in self.cases.still_flagged(before) if self._unflag(case))

    def unflag(self, case: Case) -> None:
        """The case is resolved: remove the account's flag (a failure is noted on the case
        and logged, and tried again by `retry_flags`)."""
        self._unflag(case)

    def _unflag(self, case: Case) -> bool:
        if self.flags is None:
            return False
        try:
            self.flags.remove(case.account)
        except FlagProblem as exc:
            log.warning("collections: %s (tried again later)", exc)
            self.cases.note(case.id, f"flag not removed: {exc}")
            return False
        self.cases.set_flagged(case.id, False, "collections flag removed in billing")
        return True

    def _flag(self, case: Case) -> str:
        """Set the account's flag; '' when set, else what went wrong (noted on the case)."""
        if self.flags is None:
            return ""
        try:
            self.flags.set(case.account)
        except FlagProblem as exc:
            log.warning("collections: %s (tried again later)", exc)
            self.cases.note(case.id, f"flag not set: {exc}")
            return f"{case.source}: {exc}"
        self.cases.set_flagged(case.id, True, "collections flag set in billing")
        return ""


class Inbox:
    """The inbox folder: each file is claimed (renamed into `.taking/`, so one process takes
    it), taken, then moved to `processed/` (or `failed/` when it could not be read at all)
    with its report beside it as NAME.report.txt."""

    def __init__(self, intake: Intake, folder: Path):
        self.intake = intake
        self.folder = folder

    def poll(self) -> list[ImportReport]:
        """Take every file waiting in the inbox (oldest first), and any that a process which
        stopped had claimed; the reports."""
        for name in (TAKING, PROCESSED, FAILED):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        reports = []
        for path, name in self._stranded() + self._waiting():
            claimed = self._claim(path, name)
            if claimed is not None:
                reports.append(self._take(claimed, name))
        return reports

    def _waiting(self) -> list[tuple[Path, str]]:
        files = [
            p
            for p in self.folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".tmp")
        ]

        def age(p: Path) -> tuple[float, str]:
            try:
                return (p.stat().st_mtime, p.name)
            except FileNotFoundError:  # another process claimed it meanwhile
                return (0.0, p.name)

        return [(p, p.name) for p in sorted(files, key=age)]

    def _stranded(self) -> list[tuple[Path, str]]:
        """Files claimed (as PID-NAME) by a process that stopped before moving them on: older
        than STRANDED_AFTER."""
        now = time.time()  # file times are the real time's
        return [
            (p, p.name.split("-", 1)[-1])
            for p in sorted((self.folder / TAKING).iterdir())
            if p.is_file() and now - p.stat().st_mtime > STRANDED_AFTER
        ]

    def _claim(self, path: Path, name: str) -> Path | None:
        target = self.folder / TAKING / f"{os.getpid()}-{name}"
        try:
            os.rename(path, target)  # atomic: of several processes, one gets it
        except FileNotFoundError:
            return None
        os.utime(target)
        return target

    def _take(self, claimed: Path, name: str) -> ImportReport:
        report = self.intake.take_path(claimed, name)
        final = _free_name(self.folder / (FAILED if report.failed else PROCESSED) / name)
        try:
            os.replace(claimed, final)
        except FileNotFoundError:  # taken over meanwhile: that process reports it
            return report
        final.with_name(final.name + REPORT_SUFFIX).write_text(
            "\n".join(report.lines()) + "\n", encoding="utf-8"
        )
        (log.warning if report.failed else log.info)(
            "collections inbox: %s (moved to %s)", report.summary(), final.relative_to(self.folder)
        )
        return report


def _free_name(path: Path) -> Path:
    """`path`, or NAME-2.csv, NAME-3.csv ... when a file of that name is there already."""
    if not path.exists():
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1
