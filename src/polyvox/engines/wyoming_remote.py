"""A Wyoming TTS server someone already runs, as an engine (``engines.wyoming``: name -> tcp://host:port).

Its voices come from the server's ``describe``/``info`` answer (read when the factory is built, and again
on every load); each segment is one connection: ``synthesize-start``/``-chunk``/``-stop`` when the server
advertises streaming synthesis (with the legacy ``synthesize`` too, as the protocol asks), else one
``synthesize``. Audio comes back chunk by chunk. Wyoming has no speed parameter, so the pipeline
time-stretches; the native rate is whatever the server sends (the stream resamples to the request's rate).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, ClassVar, cast
from urllib.parse import urlparse

import structlog
from wyoming.audio import AudioChunk as WyomingChunk
from wyoming.audio import AudioStop
from wyoming.error import Error
from wyoming.event import read_event, write_event
from wyoming.info import Describe, Info, TtsProgram
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from polyvox.audio.chunk import AudioChunk
from polyvox.audio.pcm import int16_to_float
from polyvox.engines.base import Capabilities, EngineFactory, EngineInfo, SynthesisParams, Voice
from polyvox.errors import EngineFailedError, InvalidParameterError
from polyvox.language import language_tag

if TYPE_CHECKING:
    from polyvox.config import Settings

log = structlog.get_logger(__name__)

DESCRIBE_TIMEOUT = 3.0
"""Seconds to wait for a server's ``info`` (at startup: an unreachable server must not hold it up)."""
CALL_TIMEOUT = 60.0
"""Seconds one segment may go without an event from the server."""
ASSUMED_RATE = 22050
"""Native rate listed before any audio came (piper's medium voices); the real rate is used when it does."""


def parse_uri(uri: str) -> tuple[str, int]:
    parsed = urlparse(uri)
    if parsed.scheme != "tcp" or not parsed.hostname or not parsed.port:
        raise ValueError(f"engines.wyoming: {uri!r} is not tcp://host:port")
    return parsed.hostname, parsed.port


def describe(host: str, port: int, timeout: float = DESCRIBE_TIMEOUT) -> TtsProgram | None:
    """The server's first TTS program (voices, streaming support), or None when it answers none."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        reader, writer = sock.makefile("rb"), sock.makefile("wb")
        write_event(Describe().event(), cast(BinaryIO, writer))
        while (event := read_event(cast(BinaryIO, reader))) is not None:
            if Info.is_type(event.type):
                programs = Info.from_event(event).tts
                return programs[0] if programs else None
    return None


class WyomingEngine:
    """One remote Wyoming TTS server (subclassed per configured name by :func:`wyoming_engines`)."""

    info: ClassVar[EngineInfo]
    address: ClassVar[tuple[str, int]]
    program: ClassVar[TtsProgram | None]

    def __init__(self, settings: Settings) -> None:
        self._program = self.program
        self._default = settings.engines.default_voices.get(self.info.name)

    def load(self) -> None:
        """Ask the server for its voices again (fails clearly when it is unreachable)."""
        try:
            program = describe(*self.address)
        except OSError as exc:
            raise EngineFailedError(f"Wyoming server {self._uri} is unreachable: {exc}") from exc
        if program is None:
            raise EngineFailedError(f"Wyoming server {self._uri} offers no text-to-speech")
        self._program = program

    def unload(self) -> None:
        """Nothing is held here."""

    @property
    def _uri(self) -> str:
        return f"tcp://{self.address[0]}:{self.address[1]}"

    def voices(self) -> list[Voice]:
        if self._program is None:
            return []
        return [
            Voice(
                id=voice.name,
                name=voice.description or voice.name,
                engine=self.info.name,
                language=language_tag(voice.languages[0] if voice.languages else ""),
                languages=tuple(language_tag(code) for code in voice.languages[1:]),
                speakers=tuple(s.name for s in voice.speakers or ()),
            )
            for voice in self._program.voices
        ]

    def default_voice(self) -> str:
        """``engines.default_voices`` for this engine, else its first US English voice, else its first."""
        voices = self.voices()
        if self._default or not voices:
            return self._default or ""
        return next((v.id for v in voices if v.language == "en-us"), voices[0].id)

    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        """One segment over one connection; yields each ``audio-chunk`` as it arrives."""
        selected = SynthesizeVoice(name=voice.id, speaker=params.speaker)
        streaming = bool(self._program and self._program.supports_synthesize_streaming)
        with socket.create_connection(self.address, timeout=CALL_TIMEOUT) as sock:
            reader, writer = cast(BinaryIO, sock.makefile("rb")), cast(BinaryIO, sock.makefile("wb"))
            if streaming:
                write_event(SynthesizeStart(voice=selected).event(), writer)
                write_event(SynthesizeChunk(text=text).event(), writer)
            write_event(Synthesize(text=text, voice=selected).event(), writer)
            if streaming:
                write_event(SynthesizeStop().event(), writer)
            while (event := read_event(reader)) is not None:
                if WyomingChunk.is_type(event.type):
                    yield _samples(WyomingChunk.from_event(event), text)
                elif Error.is_type(event.type):
                    error = Error.from_event(event)
                    raise InvalidParameterError(f"Wyoming server {self._uri}: {error.text}", param="text")
                elif (streaming and event.type == "synthesize-stopped") or (
                    not streaming and AudioStop.is_type(event.type)
                ):
                    return
        raise EngineFailedError(f"Wyoming server {self._uri} closed the connection mid-answer")


def _samples(chunk: WyomingChunk, text: str) -> AudioChunk:
    if chunk.width != 2:
        raise EngineFailedError(f"Wyoming audio of {chunk.width}-byte samples is not supported")
    samples = int16_to_float(chunk.audio)
    if chunk.channels > 1:
        samples = samples[:: chunk.channels]  # first channel
    return AudioChunk(samples, chunk.rate, text)


def remote_engine(name: str, uri: str) -> EngineFactory:
    """An engine class speaking through the Wyoming server at ``uri``."""
    host, port = parse_uri(uri)
    program: TtsProgram | None = None
    with contextlib.suppress(OSError):
        program = describe(host, port)
    if program is None:
        log.warning("wyoming_engine_unreachable", engine=name, uri=uri)
    languages = sorted(
        {language_tag(code) for v in (program.voices if program else []) for code in v.languages}
    )
    info = EngineInfo(
        name=name,
        label=f"{program.name if program else name} (Wyoming)",
        description=f"A Wyoming text-to-speech server at {uri}.",
        languages=tuple(languages),
        sample_rate=ASSUMED_RATE,
        capabilities=Capabilities(streaming=True),
        speed_range=(1.0, 1.0),
    )
    attributes = {"info": info, "address": (host, port), "program": program}
    return cast(EngineFactory, type(f"Wyoming{name.title()}Engine", (WyomingEngine,), attributes))


def wyoming_engines(settings: Settings) -> dict[str, EngineFactory]:
    """One engine per ``engines.wyoming`` entry."""
    return {name: remote_engine(name, uri) for name, uri in settings.engines.wyoming.items()}
