"""The ``polyvox`` command: speak text to a file, list engines and voices, run the server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from polyvox import cli_dialogue, cli_services
from polyvox.audio.encode import (
    AudioFormat,
    encode_file,
    encode_stream,
    encoded_rate,
    format_from_filename,
    parse_format,
    supported_formats,
    validate_output,
)
from polyvox.audiobook import cli as audiobook_cli
from polyvox.cli_config import config_app
from polyvox.cli_models import models_app
from polyvox.cli_output import GuardedTyper, err, fail, listing, out, pipe_closed
from polyvox.config import Settings, WyomingSettings, get_settings
from polyvox.errors import (
    EngineUnavailableError,
    InputNotReadableError,
    InvalidParameterError,
    InvalidSettingError,
    OutputFolderMissingError,
    OutputIsTerminalError,
    OutputNotWritableError,
    PolyvoxError,
)
from polyvox.language import Match, speaks
from polyvox.logs import configure_logging
from polyvox.request import MIN_RATE, SynthesisRequest
from polyvox.service import Polyvox
from polyvox.stream_mode import StreamMode

if TYPE_CHECKING:
    from polyvox.engines.base import Voice
    from polyvox.longform import LongformResult

app = GuardedTyper(
    help="Polyvox: a self-hosted speech server with many engines.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: no <bool>/<str> type tags beside every option
)
_fail = fail


@app.callback()
def main(
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error (to standard error).")
    ] = "warning",
) -> None:
    """Polyvox: a self-hosted speech server with many engines."""
    configure_logging(log_level)


async def _long_job(
    settings: Settings, request: SynthesisRequest, fmt: AudioFormat, captions: bool
) -> LongformResult:
    """A long-form job (parallel chunks, loudness), with Whisper-timed words when ``captions``."""
    from polyvox.longform import synthesize_long

    async with Polyvox(settings) as polyvox:
        return await synthesize_long(
            polyvox.synthesizer, request, captions=captions, rate_for=lambda rate: encoded_rate(fmt, rate)
        )


def _say_long(
    request: SynthesisRequest, fmt: AudioFormat, bit_depth: int, output: str, path: Path | None
) -> None:
    """Speak into ``output`` as a long-form job; with ``path``, also write captions (SRT, VTT or JSON)."""
    from polyvox import captions

    validate_output(fmt, request.sample_rate or MIN_RATE, bit_depth, exact=request.sample_rate is not None)
    result = asyncio.run(_long_job(get_settings(), request, fmt, captions=path is not None))
    encode_file([result.audio.samples], Path(output), fmt, result.audio.sample_rate, bit_depth)
    err.print(
        f"{result.engine}/{result.voice}: {result.audio.seconds:.2f} s of audio, "
        f"{len(result.chunks)} chunks in {result.wall_seconds:.2f} s",
        highlight=False,
    )
    if path is None:
        return
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(captions.to_json(result.words), indent=1)
    else:
        text = captions.to_vtt(result.words) if suffix == ".vtt" else captions.to_srt(result.words)
    path.write_text(text, encoding="utf-8")
    err.print(f"wrote {path} ({len(result.words)} words)", highlight=False)


async def _say(
    settings: Settings,
    request: SynthesisRequest,
    fmt: AudioFormat,
    bit_depth: int,
    output: str,
    mode: StreamMode,
) -> None:
    validate_output(fmt, request.sample_rate or MIN_RATE, bit_depth, exact=request.sample_rate is not None)
    async with Polyvox(settings) as polyvox:
        stream = await polyvox.synthesizer.open(
            request, mode=mode, rate_for=lambda rate: encoded_rate(fmt, rate)
        )
        async with stream:
            if output == "-":
                # Standard output gets bytes as each sentence is ready (pipe it into a player).
                samples = (chunk.samples async for chunk in stream)
                async for piece in encode_stream(samples, fmt, stream.sample_rate, bit_depth):
                    sys.stdout.buffer.write(piece)
                    sys.stdout.buffer.flush()
            else:
                chunks = [chunk.samples async for chunk in stream]
                encode_file(chunks, Path(output), fmt, stream.sample_rate, bit_depth)
        stats = stream.stats
        err.print(
            f"{stream.engine_name}/{stream.voice.id}: {stats.audio_seconds:.2f} s of audio in "
            f"{stats.synthesis_seconds:.2f} s (RTF {stats.real_time_factor or 0:.3f})",
            highlight=False,
        )


def _check_output(output: str | None) -> str:
    """Where ``say`` writes (``-``: standard output), refused before any synthesis if it cannot be written."""
    if output is None or output == "-":
        if sys.stdout.isatty():
            raise OutputIsTerminalError(
                "refusing to write audio to a terminal; give a file with -o FILE, or pipe standard output "
                "into a player: polyvox say TEXT -o - | aplay",
                param="output",
            )
        return "-"
    target = Path(output)
    if target.is_dir():
        raise OutputNotWritableError(f"{output} is a directory; give a file name", param="output")
    folder = target.parent
    if not folder.is_dir():
        raise OutputFolderMissingError(
            f"cannot write {output}: folder {str(folder)!r} does not exist", param="output"
        )
    if not os.access(folder, os.W_OK):
        raise OutputNotWritableError(
            f"cannot write {output}: folder {str(folder)!r} is not writable", param="output"
        )
    return output


def _text_of(text: str | None, file: Path | None) -> str:
    """The words to speak: TEXT, standard input for ``-`` (as TEXT or ``--file -``), or a file's text."""
    if (text is None) == (file is None):
        raise InvalidParameterError("give TEXT or --file FILE (one of them)", param="text")
    if file is None:
        return sys.stdin.read() if text == "-" else str(text)
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise InputNotReadableError(f"cannot read {file}: {reason or error}", param="file") from None


@app.command()
def say(
    text: Annotated[
        str | None,
        typer.Argument(
            help="Text to speak, or '-' to read it from standard input. A file's text: --file FILE.",
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Speak the text of this UTF-8 file ('-': standard input) instead of TEXT."
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output file ('-' for standard output).")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=f"{', '.join(supported_formats())} (default: from -o; wav to standard output).",
        ),
    ] = None,
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="Engine name.")] = None,
    voice: Annotated[str | None, typer.Option("--voice", "-v", help="Voice id of the engine.")] = None,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Language code, e.g. en-us, ja.")
    ] = None,
    speaker: Annotated[str | None, typer.Option(help="Speaker of a multi-speaker voice.")] = None,
    speed: Annotated[float, typer.Option(help="Speaking speed, 0.25 to 4.0.")] = 1.0,
    volume: Annotated[float, typer.Option(help="Linear volume, 0.0 to 4.0.")] = 1.0,
    sample_rate: Annotated[int | None, typer.Option("--sample-rate", "-r", help="Output rate in Hz.")] = None,
    bit_depth: Annotated[int, typer.Option(help="16 or 24 (24 for wav, pcm and flac).")] = 16,
    captions: Annotated[
        Path | None, typer.Option(help="Also write word captions (.srt, .vtt or .json) to this file.")
    ] = None,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="Read numbers, dates, units as words.")
    ] = True,
) -> None:
    """Speak TEXT (or the text of --file FILE) into an audio file or standard output."""
    try:
        text = _text_of(text, file)
        output = _check_output(output)
        if format is not None:
            fmt = parse_format(format, "format")
        elif output == "-":
            fmt = AudioFormat.WAV
        else:
            fmt = format_from_filename(output)
        request = SynthesisRequest(
            text=text,
            engine=engine,
            voice=voice,
            language=language,
            speaker=speaker,
            speed=speed,
            volume=volume,
            sample_rate=sample_rate,
            normalize=normalize,
        )
        settings = get_settings()
        if captions is not None and output == "-":
            raise InvalidParameterError("--captions needs an output file (-o FILE)", param="captions")
        threshold = settings.longform.threshold_chars
        mode = StreamMode.choose(text, threshold, streamed=output == "-", captions=captions is not None)
        if mode is StreamMode.LONGFORM:
            # Into a file, a long text runs as a long-form job: parallel chunks, up to longform.max_chars.
            _say_long(request, fmt, bit_depth, output, captions)
        else:
            asyncio.run(_say(settings, request, fmt, bit_depth, output, mode))
    except PolyvoxError as error:
        raise _fail(error) from None
    except BrokenPipeError:  # the player or `head` stopped reading: quiet, like any Unix tool
        raise pipe_closed() from None
    except OSError as error:  # the output vanished or filled up while writing
        raise _fail(
            OutputNotWritableError(f"cannot write {output}: {error.strerror or error}", param="output")
        ) from None
    if output != "-":
        err.print(f"wrote {output}", highlight=False)


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


@app.command()
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


@app.command()
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
        raise _fail(error) from None
    finally:
        polyvox.executor.shutdown()


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
        raise _fail(exc) from None
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
            raise _fail(InvalidSettingError(reason, param="--wyoming")) from None
        settings = settings.model_copy(update={"wyoming": group})
    if settings.wyoming.uri:
        try:
            cli_services.check_listen(settings.wyoming.uri, "--wyoming")
        except PolyvoxError as error:
            raise _fail(error) from None
    if ray:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": ray})})
    run_server(settings)


app.command()(cli_services.wyoming)
app.command()(cli_services.monitor)
app.command()(audiobook_cli.audiobook)
app.command()(cli_dialogue.dialogue)


app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")


if __name__ == "__main__":
    app()
