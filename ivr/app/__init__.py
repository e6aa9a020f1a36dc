"""The composition root: settings, service keys, and the one place that wires the engine, its
adapters, the PCI bridge and the demo services into a system and a WSGI app.

Gunicorn serves `ivr.app:create_app()`."""

from ivr.app.web import create_app

__all__ = ["create_app"]
