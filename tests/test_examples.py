"""The example plans together use every applet type, every outcome and every formatter."""

from __future__ import annotations

from pathlib import Path

from ivr.engine.loader import load_file
from ivr.engine.registry import REGISTRY
from ivr.lang.fields import walk_templates
from ivr.lang.formatters import FORMATTERS

EXAMPLES = sorted(
    (Path(__file__).resolve().parent.parent / "callplans" / "examples").glob("*.yaml")
)


def _plans():
    return [load_file(path)[0] for path in EXAMPLES]


def test_every_applet_type_is_used() -> None:
    used = {spec.type for plan in _plans() for spec in plan.applets.values()}
    assert used == set(REGISTRY)


def test_every_outcome_is_routed_somewhere() -> None:
    routed: dict[str, set[str]] = {}
    for plan in _plans():
        for spec in plan.applets.values():
            routed.setdefault(spec.type, set()).update(spec.routes)
    for name, cls in REGISTRY.items():
        missing = set(cls.outcomes) - routed.get(name, set())
        assert not missing, f"{name}: {sorted(missing)} never routed in callplans/examples"
    assert any(o.startswith("status_") and o.endswith("xx") for o in routed["data_connector"])
    assert any(o[7:].isdigit() for o in routed["data_connector"] if o.startswith("status_"))
    assert any(o.startswith("rule_") for o in routed["data_router"])


def test_every_formatter_is_used() -> None:
    used = {
        ref.formatter
        for plan in _plans()
        for spec in plan.applets.values()
        for template in walk_templates(spec.config)
        for ref in template.refs
    }
    assert set(FORMATTERS) <= used
