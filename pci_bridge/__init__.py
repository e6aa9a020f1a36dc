"""The PCI bridge: the automated payment system call plans transfer callers to.

It is the only part of the project that sees card data. It imports nothing from the engine
that could carry card data back into it; the engine sees a session id, a presented CLID, an
amount and a result.
"""

from pci_bridge.app import Bridge, build_bridge, create_bridge_app, register
from pci_bridge.config import BridgeConfig
from pci_bridge.errors import Conflict, GatewayError, NotFound, PciBridgeError, ValidationError

__all__ = [
    "Bridge",
    "BridgeConfig",
    "Conflict",
    "GatewayError",
    "NotFound",
    "PciBridgeError",
    "ValidationError",
    "build_bridge",
    "create_bridge_app",
    "register",
]
