"""Applet types of the call plan language, one module each; importing this registers them all."""

from applets import (  # noqa: F401  (imported to register the types)
    collect_digits,
    data_connector,
    data_router,
    goto_plan,
    hangup,
    menu,
    pause,
    say,
    set_data,
    time_router,
    transfer,
    transfer_to_pci,
)
from applets.base import REGISTRY, Applet

__all__ = ["REGISTRY", "Applet"]
