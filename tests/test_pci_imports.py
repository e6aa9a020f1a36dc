"""The bridge stays independent: nothing in pci_bridge/ imports the engine, the applets or the
demo (it may import foundation/)."""

from __future__ import annotations

import ast
from pathlib import Path

BRIDGE = Path(__file__).resolve().parent.parent / "pci_bridge"
FORBIDDEN = ("ivr", "applets", "demo")


def test_the_bridge_imports_nothing_of_the_engine_applets_or_demo() -> None:
    found = []
    for path in sorted(BRIDGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] in FORBIDDEN]
    assert found == []
