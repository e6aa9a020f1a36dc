"""Diagnostics: errors and warnings pinned to a file, line, column and YAML path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """`("applets", "pay", "rules", 1, "op")` → `applets.pay.rules[1].op`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass(frozen=True)
class Diagnostic:
    """One finding of the loader: `FILE:LINE:COL: severity: PATH: MESSAGE`."""

    severity: str  # "error" | "warning"
    message: str
    file: str = "<string>"
    line: int = 1
    col: int = 1
    path: Path = ()

    def format(self) -> str:
        where = f"{format_path(self.path)}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {where}{self.message}"

    def __str__(self) -> str:
        return self.format()


@dataclass
class Report:
    """Collects the diagnostics of one file, resolving YAML paths to line and column."""

    file: str
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    raw: Any = None  # the parsed YAML while the file is checked (then dropped: see document)
    reread: Callable[[], Any] | None = None  # reads the YAML again, for checks across plans
    # Finds a position in the source when a diagnostic needs one (positions are not stored
    # for every node of a large file): (path, key) → (line, column) of the deepest match.
    locate: Callable[[Path, bool], tuple[int, int] | None] | None = None

    def document(self) -> Any:
        """The parsed YAML (read again when it was dropped after loading)."""
        if self.raw is None and self.reread is not None:
            return self.reread()
        return self.raw

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the value (or, with `key`, the key) at `path`, else its parent."""
        table = self.key_positions if key else self.positions
        if self.locate is not None and path not in table:
            found = self.locate(path, key)
            if found is not None:
                return found
        probe = path
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))

    def error(self, path: Path, message: str, *, key: bool = False) -> None:
        line, col = self.where(path, key=key)
        self.diagnostics.append(Diagnostic("error", message, self.file, line, col, path))

    def error_at(self, position: tuple[int, int], path: Path, message: str) -> None:
        line, col = position
        self.diagnostics.append(Diagnostic("error", message, self.file, line, col, path))

    def warning_at(self, position: tuple[int, int], path: Path, message: str) -> None:
        line, col = position
        self.diagnostics.append(Diagnostic("warning", message, self.file, line, col, path))

    def warning(self, path: Path, message: str, *, key: bool = False) -> None:
        line, col = self.where(path, key=key)
        self.diagnostics.append(Diagnostic("warning", message, self.file, line, col, path))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.diagnostics, key=lambda d: (d.line, d.col, d.severity, d.message))
