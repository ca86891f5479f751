"""What the ``polyvox`` command prints: one-line errors, listings, and the entry point that guards them.

A mistake (a bad setting, a missing folder, an unknown engine) is one line on standard error and exit status
2, never a traceback. A reader that closes the pipe early (``polyvox say hi -o - | head -c 10``) ends the
command quietly, as Unix tools do.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperArgument, TyperGroup, TyperOption

from polyvox.config.settings import ConfigFileError
from polyvox.errors import InvalidSettingError, PolyvoxError

out = Console()
err = Console(stderr=True)

USAGE_ERROR = 2
WIDE = 100
"""Terminal columns from which listings show every column."""
BROKEN_PIPE = 128 + 13
"""What a shell reports for a writer stopped by SIGPIPE (``yes | head``)."""


def fail(error: PolyvoxError) -> typer.Exit:
    """Print ``error [code] (param): message`` on one line; the ``typer.Exit`` to raise."""
    param = f" ({error.param})" if error.param else ""
    err.print(
        f"[bold red]error[/] {escape(f'[{error.code}]{param}: {error.message}')}",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(code=USAGE_ERROR)


def pipe_closed() -> typer.Exit:
    """Standard output's reader is gone: stop without a word (later flushes go to /dev/null)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return typer.Exit(code=BROKEN_PIPE)


def _setting_name(loc: Sequence[int | str]) -> str:
    """Where a bad value came from: its environment variable if set, else the key in the config file."""
    env = "POLYVOX_" + "__".join(str(part).upper() for part in loc)
    if env in {name.upper() for name in os.environ}:
        return env
    dotted = ".".join(str(part) for part in loc)
    config = os.environ.get("POLYVOX_CONFIG")
    return f"{dotted} in {config}" if config else dotted


def settings_error(exc: ValidationError | SettingsError) -> InvalidSettingError:
    """A settings failure of pydantic(-settings) as one error naming the setting and what is wrong."""
    if isinstance(exc, ConfigFileError):
        return InvalidSettingError(str(exc), param="POLYVOX_CONFIG")
    if isinstance(exc, ValidationError):
        problems = exc.errors(include_url=False)
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        message = f"{first['msg']}, got {first['input']!r}{more}"
        return InvalidSettingError(message, param=_setting_name(first["loc"]))
    # pydantic-settings parses complex values (dicts, lists) as JSON before validating them.
    field = re.search(r'field "([^"]+)"', str(exc))
    cause = exc.__cause__
    reason = f"not valid JSON: {cause}" if isinstance(cause, json.JSONDecodeError) else str(cause or exc)
    return InvalidSettingError(reason, param=_setting_name([field.group(1)]) if field else None)


def plain_help(command: object) -> None:
    """Name option values by their option (``--speed SPEED``) instead of type tags (``<float>``)."""
    for param in getattr(command, "params", ()):
        if isinstance(param, TyperOption) and not param.is_flag and param.metavar is None:
            param.metavar = (param.name or "value").upper()
        elif isinstance(param, TyperArgument):
            # typer prints an argument's type beside its name whatever its metavar ("TEXT <str>").
            param.metavar = param.metavar or (param.name or "value").upper()
            setattr(param, "display_type_rich", _no_type)  # noqa: B010 (an instance override)
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            plain_help(sub)


def _no_type(ctx: object) -> None:
    return None


def run(app: typer.Typer) -> None:
    """Run the typer ``app``, reporting bad settings in one line (exit 2) instead of a traceback."""
    command = typer.main.get_command(app)
    plain_help(command)
    try:
        command()
    except ValidationError as exc:
        if not exc.title.endswith("Settings"):
            raise
        raise SystemExit(fail(settings_error(exc)).exit_code) from None
    except SettingsError as exc:
        raise SystemExit(fail(settings_error(exc)).exit_code) from None


class GuardedTyper(typer.Typer):
    """A typer app that, run as a program (``app()``, the console script), goes through :func:`run`."""

    def __call__(self, *args: object, **kwargs: object) -> None:
        run(self)


def listing(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    records: Sequence[Mapping[str, object]],
    *,
    as_json: bool,
    whole: Sequence[str] = (),
    clip: Mapping[str, int] | None = None,
    wide_only: Sequence[str] = (),
) -> None:
    """Print a listing: JSON (``records``), a table on a terminal, or tab-separated lines when piped.

    In the table, columns named in ``whole`` are never cut or wrapped (names stay whole on any width), the
    others wrap; ``clip`` shortens long cells of a column to that many characters and an ellipsis; columns in
    ``wide_only`` are left out of a table narrower than :data:`WIDE` (they are in the lines and the JSON).
    """
    if as_json:
        sys.stdout.write(json.dumps(list(records), ensure_ascii=False, indent=1) + "\n")
        return
    if not out.is_terminal:  # whole values, one item a line, for grep and cut
        sys.stdout.write("".join("\t".join(row) + "\n" for row in (columns, *rows)))
        return
    limits = clip or {}
    shown = [i for i, column in enumerate(columns) if out.width >= WIDE or column not in wide_only]
    columns = [columns[i] for i in shown]
    rows = [[row[i] for i in shown] for row in rows]
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False)
    for index, column in enumerate(columns):
        widest = max((len(row[index]) for row in rows), default=0)
        keep = column in whole
        table.add_column(
            column, no_wrap=keep, overflow="fold", min_width=max(widest, len(column)) if keep else len(column)
        )
    for row in rows:
        cells = [_clip(cell, limits.get(column)) for column, cell in zip(columns, row, strict=True)]
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)


def _clip(cell: str, limit: int | None) -> str:
    return cell if limit is None or len(cell) <= limit else cell[:limit] + " …"
