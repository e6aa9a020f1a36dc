"""The shipped applet types, one module each. Importing this package defines them, and each
registers itself with the engine's registry (`ivr.engine.registry`): the `ivr.applets` entry
point in pyproject.toml names this package, so the engine finds them without importing them."""

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
