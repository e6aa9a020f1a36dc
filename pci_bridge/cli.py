"""`pci-bridge serve`: the PCI bridge on its own (the engine's `ivr serve` embeds it)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import replace

import click
import yaml

from foundation.redaction import install_logging
from pci_bridge.app import create_bridge_app
from pci_bridge.config import BridgeConfig
from pci_bridge.errors import KeyProblem, PciBridgeError, bridge_keys


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The PCI bridge: card payments by key pad, keyed by the presented CLID."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file with the bridge settings (the `pci:` section of config.yaml "
    "or a file of its own).",
)
def serve(host: str, port: int, config: str | None) -> None:
    """Serve the session API (/pci/v1) and the payment leg webhooks (/pci/voice).

    \b
    Environment:
      PCI_API_KEYS       bearer keys for /pci/v1, comma-separated (required unless the
                         config file gives api_keys)
      TWILIO_AUTH_TOKEN  check X-Twilio-Signature on /pci/voice (403 when wrong)
      PCI_PUBLIC_URL     the base URL Twilio requests, when behind a proxy
      PCI_DATA_KEY       base64 of 32 bytes: seals card fields between prompts
    """
    from werkzeug.serving import make_server

    raw = _bridge_section(config)
    install_logging("INFO")
    try:
        settings = standalone_config(raw, config or "pci", os.environ)
    except PciBridgeError as exc:
        raise click.ClickException(str(exc)) from None
    app = create_bridge_app(settings)
    app.extensions["pci_bridge"].start_delivery()
    server = make_server(host, port, app, threaded=True)
    logging.getLogger("pci_bridge").info("PCI bridge on http://%s:%d", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def standalone_config(raw: dict, where: str, environ: Mapping[str, str]) -> BridgeConfig:
    """The settings of a bridge serving on its own: the file, then the environment for keys,
    the Twilio token and the public URL. Refuses to start with no API key (nobody could call
    the API); warns when voice webhooks are not authenticated."""
    config = BridgeConfig.from_dict(raw, where=where)
    keys = bridge_keys(environ.get("PCI_API_KEYS"), "PCI_API_KEYS") or config.api_keys
    if not keys:
        raise KeyProblem(
            "no API key: set PCI_API_KEYS to one or more bearer keys "
            "(comma-separated, 16+ characters each, e.g. from `python -c "
            "'import secrets; print(secrets.token_urlsafe(32))'`), or api_keys "
            "in the config file"
        )
    config = replace(
        config,
        api_keys=keys,
        auth_token=environ.get("TWILIO_AUTH_TOKEN") or config.auth_token,
        public_url=environ.get("PCI_PUBLIC_URL") or config.public_url,
        webhook_secret=environ.get("PCI_WEBHOOK_SECRET") or config.webhook_secret,
    )
    if config.result_webhook and not config.webhook_secret:
        raise KeyProblem(
            "result_webhook is set but PCI_WEBHOOK_SECRET is not: set it to the "
            "secret the receiver checks X-PCI-Signature with"
        )
    if not config.auth_token:
        logging.getLogger("pci_bridge").warning(
            "TWILIO_AUTH_TOKEN is not set: the payment leg webhooks (/pci/voice) accept "
            "requests without a Twilio signature; set it in production"
        )
    return config


def _bridge_section(config: str | None) -> dict:
    raw: dict = {}
    if config:
        with open(config, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
        raw = raw.get("pci") or raw
    return {k: v for k, v in raw.items() if k != "enabled"}


@main.command()
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML file with the bridge settings (the `pci:` section of config.yaml "
    "or a file of its own): database_url and result_webhook.",
)
@click.option("--list-only", is_flag=True, help="List what is not acknowledged; send nothing.")
@click.option("--all", "show_all", is_flag=True, help="List delivered outcomes too.")
def reconcile(config: str | None, list_only: bool, show_all: bool) -> None:
    """List the payment outcomes the business has not acknowledged, and send them again.

    \b
    Environment: PCI_WEBHOOK_SECRET (signs what is sent), IVR_PCI_DATABASE_URL (the ledger,
    over the file's database_url).
    """
    from datetime import UTC, datetime

    from pci_bridge.ledger import Ledger
    from pci_bridge.outbox import Outbox

    raw = _bridge_section(config)
    if os.environ.get("IVR_PCI_DATABASE_URL"):
        raw["database_url"] = os.environ["IVR_PCI_DATABASE_URL"]
    try:
        settings = BridgeConfig.from_dict(raw, where=config or "pci")
    except PciBridgeError as exc:
        raise click.ClickException(str(exc)) from None
    secret = os.environ.get("PCI_WEBHOOK_SECRET") or settings.webhook_secret
    ledger = Ledger(settings.database_url)
    try:
        rows = ledger.outbox_rows(pending_only=not show_all)
        click.echo(f"{'session':<28} {'reference':<12} {'outcome':<18} {'attempts':>8}  state")
        for row in rows:
            body = json.loads(row["body"])
            outcome = (body.get("result") or {}).get("outcome") or "(no result)"
            state = (
                f"delivered {row['delivered_at']}"
                if row["delivered_at"]
                else f"pending, next {row['next_attempt_at']}"
                + (f", last: {row['last_error']}" if row["last_error"] else "")
            )
            click.echo(
                f"{row['session_id']:<28} {body.get('reference', ''):<12} "
                f"{outcome:<18} {row['attempts']:>8}  {state}"
            )
        pending = [r for r in rows if not r["delivered_at"]]
        click.echo(f"{len(pending)} not acknowledged")
        if list_only or not pending:
            return
        if not settings.result_webhook or not secret:
            raise click.ClickException(
                "cannot send: set result_webhook in the config and "
                "PCI_WEBHOOK_SECRET in the environment"
            )
        outbox = Outbox(ledger, settings.result_webhook, secret, lambda: datetime.now(UTC))
        sent = outbox.deliver_due(everything=True, limit=len(pending))
        acknowledged = sum(1 for d in sent if d.acknowledged)
        click.echo(
            f"sent {len(sent)}: {acknowledged} acknowledged, "
            f"{len(sent) - acknowledged} to try again"
        )
        if acknowledged < len(pending):
            sys.exit(1)
    finally:
        ledger.close()
