"""Long-running ``polyvox`` commands besides ``serve``: a Wyoming server alone, and the file monitor."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

import typer

from polyvox.cli.output import fail as _exit_for
from polyvox.config import get_settings
from polyvox.config.wyoming import check_uri
from polyvox.errors import CannotListenError, EngineNotFoundError, InvalidSettingError, PolyvoxError
from polyvox.logs import configure_logging

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.engines.base import EngineInfo


def check_listen(uri: str, param: str) -> None:
    """``CannotListenError`` now when a ``tcp://`` address is taken, not once the server starts (where the
    failure surfaces as a traceback from the app's startup)."""
    parts = urlsplit(uri)
    if parts.scheme != "tcp" or parts.port is None:
        return
    try:  # SO_REUSEADDR as asyncio's servers set it: a port in TIME_WAIT is still free
        with socket.create_server((parts.hostname or "", parts.port)):
            pass
    except OSError as error:
        raise CannotListenError(f"cannot listen on {uri}: {error.strerror or error}", param=param) from None


def check_engine_parameters(settings: Settings) -> None:
    """``engines.parameters`` checked as the server will check it at start-up, but as one line now. A remote
    Wyoming engine's parameters are known only once the server reaches it: the server checks those."""
    from polyvox.bounds import check_parameter_defaults
    from polyvox.engines.registry import discover_factories

    infos = {name: factory.info for name, factory in discover_factories().items()}
    local = {k: v for k, v in settings.engines.parameters.items() if k not in settings.engines.wyoming}

    def info_of(engine: str) -> EngineInfo:
        if engine not in infos:
            known = ", ".join(sorted(infos))
            raise EngineNotFoundError(f"unknown engine {engine!r}; available: {known}", param="engine")
        return infos[engine]

    check_parameter_defaults(local, info_of)


def wyoming(
    uri: Annotated[str, typer.Option(help="Where to listen: tcp://HOST:PORT or unix://PATH.")] = (
        "tcp://127.0.0.1:10200"
    ),
    zeroconf: Annotated[bool, typer.Option(help="Announce the server over mDNS for Home Assistant.")] = False,
) -> None:
    """Run only the Wyoming server (Home Assistant), with the default engine loaded."""
    from polyvox.service import Polyvox
    from polyvox.wyoming.server import run_wyoming

    try:
        check_uri(uri)
        check_listen(uri, "--uri")
    except ValueError as error:
        raise _exit_for(InvalidSettingError(str(error), param="--uri")) from None
    except PolyvoxError as error:
        raise _exit_for(error) from None
    configure_logging("info")
    settings = get_settings()

    async def main() -> None:
        async with Polyvox(settings) as polyvox:
            await polyvox.registry.load(polyvox.registry.default)
            await run_wyoming(polyvox, uri, zeroconf=zeroconf, zeroconf_name=settings.wyoming.zeroconf_name)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except PolyvoxError as error:
        raise _exit_for(error) from None
    except OSError as error:  # the address is taken, not ours, or the socket path not writable
        reason = error.strerror or str(error)
        raise _exit_for(CannotListenError(f"cannot listen on {uri}: {reason}", param="--uri")) from None


def monitor(
    path: Annotated[Path, typer.Argument(help="Text file to watch; each new line is spoken.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for 000001.wav, 000002.wav...")],
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="Engine name.")] = None,
    voice: Annotated[str | None, typer.Option("--voice", "-v", help="Voice id.")] = None,
    language: Annotated[str | None, typer.Option("--language", "-l", help="Language code.")] = None,
    mode: Annotated[str, typer.Option(help="'lines' or 'paragraphs' (blank-line separated).")] = "lines",
    from_start: Annotated[bool, typer.Option(help="Speak what the file already holds too.")] = False,
    speed: Annotated[float, typer.Option(help="Speaking speed, 0.25 to 4.0.")] = 1.0,
) -> None:
    """Speak every line appended to PATH into numbered WAV files, until interrupted."""
    from polyvox.monitor.cli import run_monitor_cli

    if mode not in ("lines", "paragraphs"):
        raise _exit_for(PolyvoxError("mode must be 'lines' or 'paragraphs'", param="mode"))
    chosen: Literal["lines", "paragraphs"] = "lines" if mode == "lines" else "paragraphs"
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_monitor_cli(
                    path,
                    output,
                    settings=get_settings(),
                    engine=engine,
                    voice=voice,
                    language=language,
                    mode=chosen,
                    from_start=from_start,
                    speed=speed,
                )
            )
    except PolyvoxError as error:
        raise _exit_for(error) from None
