"""`pci-bridge serve`: the PCI bridge on its own (the engine's `ivr serve` embeds it)."""

from __future__ import annotations

import logging

import click
import yaml

from pci_bridge.app import create_bridge_app
from pci_bridge.config import BridgeConfig
from pci_bridge.errors import PciBridgeError
from pci_bridge.redaction import install_logging


@click.group()
def main() -> None:
    """The PCI bridge: card payments by key pad, keyed by the presented CLID."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False),
              help="YAML file with the bridge settings (the `pci:` section of config.yaml "
                   "or a file of its own).")
def serve(host: str, port: int, config: str | None) -> None:
    """Serve the session API (/pci/v1) and the payment leg webhooks (/pci/voice)."""
    from werkzeug.serving import make_server

    raw: dict = {}
    if config:
        with open(config, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
        raw = raw.get("pci") or raw
    try:
        settings = BridgeConfig.from_dict(raw, where=config or "pci")
    except PciBridgeError as exc:
        raise click.ClickException(str(exc)) from None
    install_logging("INFO")
    app = create_bridge_app(settings)
    server = make_server(host, port, app, threaded=True)
    logging.getLogger("pci_bridge").info("PCI bridge on http://%s:%d", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
