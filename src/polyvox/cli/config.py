"""``polyvox config``: show the effective settings (environment, then YAML file, then defaults)."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
import yaml

from polyvox.config import Settings
from polyvox.logs import redact_settings

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


def effective(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, secrets redacted (API keys, the LLM's and remote ASR's keys)."""
    data: dict[str, Any] = redact_settings(settings.model_dump(mode="json"))
    return data


@config_app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
) -> None:
    """Print the effective settings (API keys redacted) and where the YAML file is."""
    data = effective(Settings())
    source = os.environ.get("POLYVOX_CONFIG")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(f"# config file: {source or 'none (set POLYVOX_CONFIG)'}; the environment wins over it")
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
