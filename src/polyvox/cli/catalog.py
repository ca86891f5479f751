"""``polyvox engines`` and ``polyvox voices``: what this installation has, as a table, tab-separated lines or
JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, cast

import typer

from polyvox.cli.output import fail, listing
from polyvox.config import get_settings
from polyvox.errors import EngineUnavailableError, PolyvoxError
from polyvox.language import Match, speaks
from polyvox.service import Polyvox

if TYPE_CHECKING:
    from polyvox.engines.base import Voice

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON array, every field of every item.")]


def _engine_json(polyvox: Polyvox, name: str) -> dict[str, object]:
    info = polyvox.registry.info(name)
    ready = polyvox.registry.readiness(name)
    return {
        "name": name,
        "label": info.label,
        "state": ready.state,
        "next_step": ready.next_step or None,
        "languages": list(info.languages),
        "sample_rate": info.sample_rate,
        "capabilities": [k for k, v in asdict(info.capabilities).items() if v],
        "default": name == polyvox.registry.default,
    }


def engines(as_json: JsonOption = False) -> None:
    """List the engines this installation has and their state (ready, needs_package, needs_weights, failed)
    as /v1/engines reports it, with the next step in --json (a table on a terminal; tab-separated lines when
    piped)."""
    polyvox = Polyvox(get_settings())
    try:
        records = [_engine_json(polyvox, name) for name in polyvox.registry.names()]
        columns = ("engine", "state", "default", "rate", "capabilities", "languages", "label")
        rows = [
            (
                str(r["name"]),
                str(r["state"]),
                "yes" if r["default"] else "",
                str(r["sample_rate"]),
                ", ".join(cast("list[str]", r["capabilities"])),
                ", ".join(cast("list[str]", r["languages"])),
                str(r["label"]),
            )
            for r in records
        ]
        listing(
            columns, rows, records, as_json=as_json, whole=("engine", "state", "rate"), clip={"languages": 20}
        )
    finally:
        polyvox.executor.shutdown()


def _voice_json(voice: Voice) -> dict[str, object]:
    return {
        "engine": voice.engine,
        "id": voice.id,
        "name": voice.name,
        "language": voice.language,
        "gender": voice.gender,
        "speakers": list(voice.speakers),
        "languages": list(voice.languages),
    }


def voices(
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="Only this engine's voices.")] = None,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Only voices of this language.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List voices, of every engine or of one (a table on a terminal; tab-separated lines when piped)."""
    settings = get_settings()
    polyvox = Polyvox(settings)
    try:
        if engine:
            # An engine without its weights has no voices: say why instead of an empty listing.
            weights = polyvox.registry.status(engine).weights
            if weights is not None and not weights.ready:
                raise EngineUnavailableError(weights.message, param="engine")
        names = [engine] if engine else polyvox.registry.names()
        found = [
            voice
            for name in names
            for voice in polyvox.registry.voices(name)
            if not language or speaks(language, [voice.language], least=Match.BARE)
        ]
        columns = ("engine", "voice", "name", "language", "gender", "speakers")
        rows = [(v.engine, v.id, v.name, v.language, v.gender or "", ", ".join(v.speakers)) for v in found]
        records = [_voice_json(voice) for voice in found]
        listing(columns, rows, records, as_json=as_json, whole=("engine", "voice"), clip={"speakers": 40})
    except PolyvoxError as error:
        raise fail(error) from None
    finally:
        polyvox.executor.shutdown()
