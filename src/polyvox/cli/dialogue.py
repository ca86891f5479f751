"""``polyvox dialogue SCRIPT --cast CAST -o OUTPUT``: a script of several speakers into one audio file.

The same dialogue as ``POST /v1/audio/dialogue`` (polyvox.dialogue): every turn a long-form job, in order,
with ``dialogue.gap_ms`` of silence between; ``--captions`` writes speaker-labelled WebVTT, SRT or the
per-turn timings as JSON.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import encode_file
from polyvox.audio.formats import encoded_rate, format_from_filename, parse_format
from polyvox.cli.output import err, fail
from polyvox.config import Settings, get_settings
from polyvox.dialogue import captions as dialogue_captions
from polyvox.dialogue import open_dialogue
from polyvox.dialogue.captions import TurnTiming
from polyvox.dialogue.cast import Turn, read_cast
from polyvox.dialogue.script import parse_script
from polyvox.errors import InputNotReadableError, OutputFolderMissingError, PolyvoxError
from polyvox.service import Polyvox


def _read(path: Path, param: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise InputNotReadableError(f"cannot read {path}: {reason or error}", param=param) from None


async def _render(
    settings: Settings, script: str, cast: object, rate: int, validate: bool
) -> tuple[list[FloatArray], list[TurnTiming]]:
    turns = [Turn(t.text, speaker=t.speaker) for t in parse_script(script)]
    async with Polyvox(settings) as polyvox:
        render = await open_dialogue(
            polyvox.synthesizer, turns, read_cast(cast), rate=rate, request_id="cli", validate=validate
        )
        pieces: list[FloatArray] = []
        async for turn in render.turns():
            pieces.append(turn.samples)
            if turn.gap_after:
                pieces.append(np.zeros(turn.gap_after, dtype=np.float32))
        return pieces, render.timings


def dialogue(
    script: Annotated[
        Path, typer.Argument(help="The script: one turn a line, 'Alice: Hello.' or '[S1] Hello.'")
    ],
    cast: Annotated[
        Path,
        typer.Option(
            "--cast", "-c", help='JSON: {"Alice": "piper/joe", "Bob": {"voice": ..., "engine": ...}}'
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The audio file (format from its name).")],
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="Audio format (default: from -o).")
    ] = None,
    sample_rate: Annotated[int | None, typer.Option("--sample-rate", "-r", help="Output rate in Hz.")] = None,
    captions: Annotated[
        Path | None, typer.Option(help="Also write speaker captions (.vtt, .srt) or turn timings (.json).")
    ] = None,
    validate: Annotated[
        bool, typer.Option(help="Check every turn with Whisper and re-synthesize bad chunks.")
    ] = False,
) -> None:
    """Speak a SCRIPT of several speakers, each with the voice CAST gives it, into one audio file."""
    try:
        fmt = parse_format(format, "format") if format else format_from_filename(str(output))
        for path, param in ((output, "output"), *(((captions, "captions"),) if captions else ())):
            if not path.parent.is_dir():
                raise OutputFolderMissingError(f"folder {str(path.parent)!r} does not exist", param=param)
        text = _read(script, "script")
        try:
            cast_data = json.loads(_read(cast, "cast"))
        except json.JSONDecodeError as error:
            raise InputNotReadableError(f"{cast} is not JSON: {error}", param="cast") from None
        rate = sample_rate or encoded_rate(fmt, 24000)
        pieces, timings = asyncio.run(_render(get_settings(), text, cast_data, rate, validate))
        encode_file(pieces, output, fmt, rate)
    except PolyvoxError as error:
        raise fail(error) from None
    err.print(f"wrote {output}: {len(timings)} turns, {timings[-1].end:.2f} s", highlight=False)
    if captions is not None:
        suffix = captions.suffix.lower()
        if suffix == ".json":
            written = json.dumps(dialogue_captions.to_json(timings), indent=1)
        else:
            written = (
                dialogue_captions.to_srt(timings) if suffix == ".srt" else dialogue_captions.to_vtt(timings)
            )
        captions.write_text(written, encoding="utf-8")
        err.print(f"wrote {captions}", highlight=False)
