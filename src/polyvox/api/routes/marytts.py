"""A MaryTTS-compatible HTTP API: ``/process``, ``/voices``, ``/locales``, ``/audioformats``, ``/version``.

Home Assistant's ``marytts`` integration (through the ``speak2mary`` library) POSTs a URL-encoded body
without a Content-Type: ``INPUT_TEXT``, ``INPUT_TYPE=TEXT``, ``OUTPUT_TYPE=AUDIO``, ``AUDIO=WAVE_FILE``,
``LOCALE=en_US``, ``VOICE=cmu-slt-hsmm`` and ``effect_<Name>_selected``/``_parameters`` pairs; older releases
sent the same as a GET query with ``AUDIO=WAVE``. Both work here. Effects are ignored.

``VOICE`` is ``engine/voice``, a voice id of the default engine, or a display name. A voice Polyvox does
not have (MaryTTS's own ``cmu-slt-hsmm``) falls back, as MaryTTS does, to a voice for ``LOCALE``. Errors are
plain text with the status of the :class:`PolyvoxError`, like MaryTTS's own.
"""

from __future__ import annotations

import asyncio
import html
import re
import struct
from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qsl

import numpy as np
import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response

from polyvox import __version__
from polyvox.api.deps import get_service, limit_body
from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import AudioFormat, encode_whole
from polyvox.audio.pcm import float_to_int16
from polyvox.engines.base import Voice
from polyvox.errors import (
    EmptyTextError,
    InvalidParameterError,
    LanguageNotSupportedError,
    PolyvoxError,
    UnsupportedFormatError,
    VoiceNotFoundError,
)
from polyvox.interop.voices import find_voice, language_tag, locale_of, speaks, voice_for_language
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox

log = structlog.get_logger(__name__)

router = APIRouter(tags=["MaryTTS"])

MARY_VERSION = "5.2"
_TEXT = "text/plain; charset=UTF-8"
_TAG = re.compile(r"<[^>]*>")


# -- audio containers --------------------------------------------------------------------------------
def _wave(samples: FloatArray, rate: int) -> bytes:
    return encode_whole(samples, AudioFormat.WAV, rate)


def _au(samples: FloatArray, rate: int) -> bytes:
    """Sun/NeXT .au: 24-byte header, 16-bit linear PCM (encoding 3), big-endian."""
    data = float_to_int16(samples, "big")
    return b".snd" + struct.pack(">IIIII", 24, len(data), 3, rate, 1) + data


def _extended(value: int) -> bytes:
    """A positive integer as an 80-bit IEEE 754 extended float (AIFF's sample rate field)."""
    exponent = value.bit_length() - 1
    return struct.pack(">HQ", 16383 + exponent, value << (63 - exponent))


def _aiff(samples: FloatArray, rate: int) -> bytes:
    """AIFF: COMM (mono, 16-bit) and SSND chunks, big-endian PCM."""
    comm = struct.pack(">hIh", 1, len(samples), 16) + _extended(rate)
    ssnd = struct.pack(">II", 0, 0) + float_to_int16(samples, "big")
    form = (
        b"AIFF"
        + b"COMM"
        + struct.pack(">I", len(comm))
        + comm
        + b"SSND"
        + struct.pack(">I", len(ssnd))
        + ssnd
    )
    return b"FORM" + struct.pack(">I", len(form)) + form


_Writer = Callable[[FloatArray, int], bytes]
AUDIO_FORMATS: dict[str, tuple[_Writer, str]] = {
    "WAVE_FILE": (_wave, "audio/x-wav"),
    "AU_FILE": (_au, "audio/basic"),
    "AIFF_FILE": (_aiff, "audio/x-aiff"),
}
_ALIASES = {"WAVE": "WAVE_FILE", "WAV": "WAVE_FILE", "AU": "AU_FILE", "AIFF": "AIFF_FILE"}


# -- parameters --------------------------------------------------------------------------------------
async def _params(request: Request) -> dict[str, str]:
    """Query parameters, then the body's form fields (URL-encoded whatever the Content-Type says)."""
    params = {key.upper(): value for key, value in request.query_params.items()}
    if request.method == "POST":
        limit_body(request)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            params |= {key.upper(): value for key, value in form.items() if isinstance(value, str)}
        else:
            body = (await request.body()).decode("utf-8", errors="replace")
            params |= {key.upper(): value for key, value in parse_qsl(body, keep_blank_values=True)}
    return params


def plain_text_of_ssml(ssml: str) -> str:
    """The text an SSML document speaks: tags become spaces, entities are decoded."""
    return " ".join(html.unescape(_TAG.sub(" ", ssml)).split())


def _input_text(params: dict[str, str]) -> str:
    text = params.get("INPUT_TEXT", "")
    kind = params.get("INPUT_TYPE", "TEXT").upper()
    if kind == "SSML":
        text = plain_text_of_ssml(text)
    elif kind != "TEXT":
        raise InvalidParameterError(
            f"INPUT_TYPE {kind!r} is not supported; use TEXT or SSML", param="INPUT_TYPE"
        )
    if not text.strip():
        raise EmptyTextError("INPUT_TEXT is empty", param="INPUT_TEXT")
    return text


def _audio_format(params: dict[str, str]) -> str:
    if params.get("OUTPUT_TYPE", "AUDIO").upper() != "AUDIO":
        raise InvalidParameterError("only OUTPUT_TYPE=AUDIO is supported", param="OUTPUT_TYPE")
    name = params.get("AUDIO", "WAVE_FILE").upper()
    name = _ALIASES.get(name, name)
    if name not in AUDIO_FORMATS:
        raise UnsupportedFormatError(
            f"AUDIO {name!r} is not supported; use one of {', '.join(AUDIO_FORMATS)}", param="AUDIO"
        )
    return name


def choose_voice(polyvox: Polyvox, voice_name: str | None, locale: str | None) -> tuple[Voice, str | None]:
    """The voice for ``VOICE``/``LOCALE`` and the language to request (None: the voice's own)."""
    registry = polyvox.registry
    voice: Voice | None = None
    if voice_name:
        try:
            voice = find_voice(registry, voice_name)
        except VoiceNotFoundError:
            if not locale:
                raise
            log.info("marytts_voice_fallback", voice=voice_name, locale=locale)
    if voice is None and locale:
        voice = voice_for_language(registry, locale)
        if voice is None:
            raise LanguageNotSupportedError(f"no voice for LOCALE {locale!r}", param="LOCALE")
    if voice is None:
        voice = registry.resolve_voice(registry.default, None)
    # A multilingual voice speaks the requested locale; otherwise the voice's own language wins.
    language = language_tag(locale) if locale and speaks(voice, locale) else None
    return voice, language


# -- routes ------------------------------------------------------------------------------------------
def _error(exc: PolyvoxError) -> PlainTextResponse:
    return PlainTextResponse(f"{exc.code}: {exc.message}\n", status_code=exc.status, media_type=_TEXT)


ServiceDep = Annotated[Polyvox, Depends(get_service)]


@router.get("/process", summary="MaryTTS: synthesize (query parameters)", response_model=None)
async def process_get(request: Request, polyvox: ServiceDep) -> Response:
    """Speak ``INPUT_TEXT`` and answer with the whole audio file (WAVE_FILE, AU_FILE or AIFF_FILE)."""
    return await process(request, polyvox)


@router.post("/process", summary="MaryTTS: synthesize (form body)", response_model=None)
async def process_post(request: Request, polyvox: ServiceDep) -> Response:
    """The same as GET, with the parameters URL-encoded in the body (what Home Assistant sends)."""
    return await process(request, polyvox)


async def process(request: Request, polyvox: Polyvox) -> Response:
    """Speak ``INPUT_TEXT`` and answer with the whole audio file (WAVE_FILE, AU_FILE or AIFF_FILE)."""
    try:
        params = await _params(request)
        text = _input_text(params)
        audio = _audio_format(params)
        voice, language = choose_voice(polyvox, params.get("VOICE"), params.get("LOCALE"))
        synthesis = SynthesisRequest(text=text, engine=voice.engine, voice=voice.id, language=language)
        stream, chunks = await polyvox.synthesizer.synthesize(synthesis)
    except PolyvoxError as exc:
        return _error(exc)
    writer, media_type = AUDIO_FORMATS[audio]

    def whole_file() -> bytes:  # grows with the text: off the event loop
        samples = np.concatenate([c.samples for c in chunks]) if chunks else np.zeros(0, np.float32)
        return writer(samples.astype(np.float32), stream.sample_rate)

    return Response(await asyncio.to_thread(whole_file), media_type=media_type)


def _lines(lines: list[str]) -> PlainTextResponse:
    return PlainTextResponse("".join(f"{line}\n" for line in lines), media_type=_TEXT)


@router.get("/voices", summary="MaryTTS: voices", response_class=PlainTextResponse)
async def voices(polyvox: ServiceDep) -> PlainTextResponse:
    """One voice per line: ``name locale gender type`` (type: the engine)."""
    registry = polyvox.registry
    lines = [
        f"{voice.engine}/{voice.id} {locale_of(voice.language)} {voice.gender or 'unknown'} {voice.engine}"
        for name in registry.names()
        for voice in registry.voices(name)
    ]
    return _lines(lines)


@router.get("/locales", summary="MaryTTS: locales", response_class=PlainTextResponse)
async def locales(polyvox: ServiceDep) -> PlainTextResponse:
    """Every locale some voice speaks, one per line."""
    registry = polyvox.registry
    found = {locale_of(v.language) for name in registry.names() for v in registry.voices(name)}
    return _lines(sorted(found))


@router.get("/audioformats", summary="MaryTTS: audio formats", response_class=PlainTextResponse)
async def audioformats() -> PlainTextResponse:
    """The AUDIO values ``/process`` accepts, one per line."""
    return _lines(list(AUDIO_FORMATS))


@router.get("/version", summary="MaryTTS: version", response_class=PlainTextResponse)
async def version() -> PlainTextResponse:
    """MaryTTS's version line, naming the implementation."""
    return PlainTextResponse(
        f"Mary TTS server {MARY_VERSION} (impl. Polyvox {__version__})\n", media_type=_TEXT
    )
