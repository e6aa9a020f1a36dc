"""Applet types by name.

The engine imports no applet module. Applet types are plugins: a distribution names a module
under the `ivr.applets` entry-point group, and importing that module defines `Applet`
subclasses, each of which registers itself here by its `type_name`. The shipped types are
declared in pyproject.toml (`applets = "applets"`); a contact center's own applets go in their
own package with their own entry point, and need no change to the engine.

The entry points are read once, on the first lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from ivr.errors import EngineError

if TYPE_CHECKING:
    from ivr.engine.protocol import Applet

ENTRY_POINT_GROUP = "ivr.applets"


class Registry(Mapping[str, "type[Applet]"]):
    """Applet classes by type name; loads the installed applet plugins on first use."""

    def __init__(self, group: str = ENTRY_POINT_GROUP):
        self.group = group
        self._types: dict[str, type[Applet]] = {}
        self._loaded = False
        self._loading = False  # on the thread that loads: lookups made by the plugins' imports
        self._lock = threading.RLock()

    def add(self, cls: type[Applet]) -> None:
        """Called by `Applet.__init_subclass__` for every class with a `type_name`."""
        known = self._types.get(cls.type_name)
        if known is not None and (known.__module__, known.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise EngineError(
                f"applet type '{cls.type_name}' is defined twice: by "
                f"{known.__module__}.{known.__qualname__} and "
                f"{cls.__module__}.{cls.__qualname__}"
            )
        self._types[cls.type_name] = cls

    def _load(self) -> dict[str, type[Applet]]:
        """Every plugin loaded, once; other threads wait until it is done (the lock), and a
        plugin whose import fails leaves the registry unloaded (the next lookup retries and
        raises again) rather than half-loaded."""
        if self._loaded:
            return self._types
        with self._lock:
            if self._loaded or self._loading:  # loaded, or a plugin's import looking itself up
                return self._types
            self._loading = True
            try:
                found = entry_points(group=self.group)
                if not found:
                    raise EngineError(
                        f"no applet types installed (no '{self.group}' entry "
                        "points): install the project with "
                        "`pip install -e .` (./scripts/setup.sh does)"
                    )
                for point in found:
                    point.load()
                self._loaded = True
            finally:
                self._loading = False
        return self._types

    def __getitem__(self, name: str) -> type[Applet]:
        if self._loaded:  # the checks of a large plan look types up ten times per applet
            return self._types[name]
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, name: object) -> bool:
        return name in self._load()


REGISTRY = Registry()
