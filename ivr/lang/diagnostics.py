"""Diagnostics: errors and warnings pinned to a file, line, column and YAML path."""

from __future__ import annotations

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
    raw: Any = None  # the parsed YAML, kept for checks that span several plans

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the value (or, with `key`, the key) at `path`, else its parent."""
        table = self.key_positions if key else self.positions
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
