"""The layers hold: the import contracts pass, and no shared code picks an applet by its type
name (applets describe themselves: routing help, documented outcomes, plan references, the
agent number of a fallback transfer)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.engine.registry import REGISTRY, Registry
from ivr.errors import EngineError

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _type_name_tests(tree: ast.AST) -> list[int]:
    """Lines comparing something's `.type` or `.type_name` with an applet type's name."""
    names = set(REGISTRY)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        typed = any(isinstance(s, ast.Attribute) and s.attr in ("type", "type_name") for s in sides)
        literals = [s for s in sides if isinstance(s, ast.Constant | ast.Tuple | ast.Set)]
        named = any(
            (isinstance(s, ast.Constant) and s.value in names)
            or (
                isinstance(s, ast.Tuple | ast.Set)
                and any(isinstance(e, ast.Constant) and e.value in names for e in s.elts)
            )
            for s in literals
        )
        if typed and named:
            found.append(node.lineno)
    return found


def test_no_shared_code_tests_an_applet_type_name() -> None:
    offenders = []
    for path in sorted((ROOT / "ivr").rglob("*.py")):
        for line in _type_name_tests(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []


def test_the_checker_sees_a_type_name_test() -> None:
    tree = ast.parse('if spec.type == "goto_plan":\n    pass\nok = cls.type_name in ("menu",)')
    assert _type_name_tests(tree) == [1, 3]


def test_registry_loads_the_shipped_applets_through_the_entry_point() -> None:
    assert {"say", "menu", "data_connector", "transfer_to_pci", "goto_plan"} <= set(REGISTRY)


def test_a_registry_with_no_plugins_says_how_to_install_them() -> None:
    empty = Registry(group="ivr.applets.none-installed")
    with pytest.raises(EngineError, match="no applet types installed.*pip install -e"):
        list(empty)


def test_two_applets_with_one_type_name_are_refused() -> None:
    from ivr.engine.protocol import Applet

    registry = Registry()

    class One(Applet):
        pass

    class Two(Applet):
        pass

    One.type_name = Two.type_name = "twin"
    registry.add(One)
    with pytest.raises(EngineError, match="applet type 'twin' is defined twice"):
        registry.add(Two)


def test_importing_one_layer_loads_no_other() -> None:
    """`ivr/__init__.py` re-exports lazily: the plan language and the applet protocol load
    without the adapters, the turn API or the twilio library."""
    code = (
        "import sys, ivr.lang.model, ivr.engine.protocol\n"
        "loaded = [m for m in sys.modules if m.startswith(('ivr.adapters', 'ivr.app', "
        "'ivr.tools', 'twilio', 'flask')) or m == 'ivr.engine.turns']\n"
        "print(loaded)\n"
        "import ivr\n"
        "print(ivr.Engine.__name__, ivr.render_twiml.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "Engine render"]
