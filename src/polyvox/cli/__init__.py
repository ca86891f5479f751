"""The ``polyvox`` command (typer). ``main`` builds the application; the other modules hold its commands and
what they share (``output``: printing, listings, exit codes).

The console script is ``polyvox.cli:app``: ``app`` is imported on first use, so the modules of this package
import without building the whole command.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from polyvox.cli.main import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
