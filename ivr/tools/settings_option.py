"""The commands' `--config` option, and the settings it names (or a clear error and exit)."""

from __future__ import annotations

import click

from ivr.app.settings import Settings, SettingsError

CONFIG = click.option("--config", "config", type=click.Path(dir_okay=False), help="config.yaml")


def load_settings(config: str | None, callplans: str | None = None) -> Settings:
    """The settings of `config` (IVR_CONFIG, or ./config.yaml when there is one); a
    ClickException naming the problem when they cannot be used."""
    try:
        return Settings.load(config, callplans=callplans)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
