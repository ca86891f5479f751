"""The ``polyvox`` command: the application, ``doctor`` and ``serve``; the other commands come from their
modules (say, catalog, services, config, models, polyvox.audiobook.cli)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from polyvox.audiobook import cli as audiobook_cli
from polyvox.cli import services as cli_services
from polyvox.cli.catalog import engines, voices
from polyvox.cli.config import config_app
from polyvox.cli.dialogue import dialogue
from polyvox.cli.models import models_app
from polyvox.cli.output import GuardedTyper, fail, out
from polyvox.cli.say import say
from polyvox.config import WyomingSettings, get_settings
from polyvox.errors import InvalidSettingError, PolyvoxError
from polyvox.logs import configure_logging

app = GuardedTyper(
    help="Polyvox: a self-hosted speech server with many engines.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: no <bool>/<str> type tags beside every option
)


@app.callback()
def main(
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error (to standard error).")
    ] = "warning",
) -> None:
    """Polyvox: a self-hosted speech server with many engines."""
    configure_logging(log_level)


app.command()(say)
app.command()(engines)
app.command()(voices)
app.command()(dialogue)


@app.command()
def doctor(
    engine: Annotated[str, typer.Argument(help="Engine to check (xtts, pocket, chatterbox...).")],
    voice: Annotated[
        str | None, typer.Option("--voice", "-v", help="Library voice to clone (default: piper's reference).")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(help="Reference recording to clone instead of a library voice.")
    ] = None,
    transcript: Annotated[str, typer.Option(help="What the --reference recording says.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load ENGINE from its weights folder and measure it: load time, first audio, RTF, Whisper WER and
    speaker similarity to the reference."""
    from polyvox.doctor import diagnose

    try:
        report = diagnose(get_settings(), engine, voice_id=voice, reference=reference, transcript=transcript)
    except PolyvoxError as exc:
        raise fail(exc) from None
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        _print_doctor(report.as_dict())
    if report.error:
        raise typer.Exit(code=1)


def _print_doctor(report: dict[str, object]) -> None:
    table = Table(title=f"polyvox doctor {report['engine']}", show_header=False)
    for key in ("state", "folder", "missing", "device", "load_seconds", "voice", "first_audio_seconds", "rtf",
                "wer", "similarity", "error"):  # fmt: skip
        value = report.get(key)
        if value not in (None, [], ""):
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            table.add_row(key, escape(shown))
    out.print(table)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from settings: 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default from settings: 8000).")] = None,
    wyoming: Annotated[
        str | None, typer.Option(help="Also serve Wyoming (Home Assistant) here, e.g. tcp://0.0.0.0:10200.")
    ] = None,
    zeroconf: Annotated[bool, typer.Option(help="Announce the Wyoming server over mDNS.")] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run engines on Ray Serve: 'auto', a cluster address, or 'local' (needs polyvox[ray])."
        ),
    ] = None,
) -> None:
    """Run the HTTP server (and, with --wyoming, a Wyoming server beside it)."""
    from polyvox.api.server import serve as run_server

    configure_logging("info")
    settings = get_settings()
    updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if updates:
        settings = settings.model_copy(update={"server": settings.server.model_copy(update=updates)})
    if wyoming or zeroconf:
        fields = {"uri": wyoming or settings.wyoming.uri, "zeroconf": zeroconf}
        try:  # validated here, not when the server's startup tries to listen (a traceback there)
            group = WyomingSettings.model_validate(settings.wyoming.model_dump() | fields)
        except ValidationError as error:
            reason = error.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            raise fail(InvalidSettingError(reason, param="--wyoming")) from None
        settings = settings.model_copy(update={"wyoming": group})
    if settings.wyoming.uri:
        try:
            cli_services.check_listen(settings.wyoming.uri, "--wyoming")
        except PolyvoxError as error:
            raise fail(error) from None
    if ray:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": ray})})
    try:  # here, not in the server's startup (a traceback there)
        cli_services.check_engine_parameters(settings)
    except PolyvoxError as error:
        raise fail(error) from None
    run_server(settings)


app.command()(cli_services.wyoming)
app.command()(cli_services.monitor)
app.command()(audiobook_cli.audiobook)


app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")
