"""The ``polyvox`` console script names an object that is the CLI application (the CLI is a package)."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import typer

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def test_the_console_script_loads_the_cli_with_its_commands() -> None:
    target = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["scripts"]["polyvox"]
    module, _, name = target.partition(":")
    app = getattr(importlib.import_module(module), name)
    assert isinstance(app, typer.Typer)
    commands = {
        command.name or command.callback.__name__ for command in app.registered_commands if command.callback
    }
    assert {"say", "engines", "voices", "doctor", "serve", "wyoming", "monitor", "audiobook"} <= commands
