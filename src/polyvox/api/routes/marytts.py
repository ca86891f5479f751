"""A MaryTTS-compatible HTTP API: ``/process``, ``/voices``, ``/locales``, ``/audioformats``, ``/version``.

Home Assistant's ``marytts`` integration (through the ``speak2mary`` library) POSTs a URL-encoded body
without a Content-Type: ``INPUT_TEXT``, ``INPUT_TYPE=TEXT``, ``OUTPUT_TYPE=AUDIO``, ``AUDIO=WAVE_FILE``,
``LOCALE=en_US``, ``VOICE=cmu-slt-hsmm`` and ``effect_<Name>_selected``/``_parameters`` pairs; older releases
sent the same as a GET query with ``AUDIO=WAVE``. Both work here. Effects are ignored.

``VOICE`` is ``engine/voice``, a voice id, a library voice, an OpenAI name or a display name, resolved as
every other door resolves it. MaryTTS's own voice names (``cmu-slt-hsmm``, ``*-hsmm``) and ``male`` or
``female`` leave the choice to ``LOCALE``; any other unknown VOICE is a 400, as MaryTTS answers it. Errors
are plain text.
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
from polyvox.audio.encode import encode_whole
from polyvox.audio.formats import AudioFormat
from polyvox.audio.pcm import float_to_int16
from polyvox.errors import (
    EmptyTextError,
    EngineNotFoundError,
    InvalidParameterError,
    LanguageNotSupportedError,
    PolyvoxError,
    UnsupportedFormatError,
    VoiceNotFoundError,
)
from polyvox.openai_names import openai_voice
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox
from polyvox.voice_names import find_voice, language_tag, locale_of, speaks, voice_for_language

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


def stands_in(voice_name: str) -> bool:
    """MaryTTS's own voice names (``cmu-slt-hsmm``, the default of Home Assistant and speak2mary) and its
    gender words: they name no voice here, so LOCALE chooses one, as MaryTTS chooses its locale's default."""
    name = voice_name.strip().lower()
    return name.endswith("-hsmm") or name in ("male", "female")


def _named_voice(polyvox: Polyvox, name: str) -> tuple[str, str]:
    """``(engine, voice)`` for ``VOICE``, resolved as every door resolves a voice (``Synthesizer.resolve``:
    engine ids, blends, library voices, OpenAI names), then other engines' bare ids and display names."""
    synthesizer, registry = polyvox.synthesizer, polyvox.registry
    engine, slash, voice = name.strip().partition("/")
    if slash:
        synthesizer.resolve(engine.strip(), voice.strip(), None)
        return engine.strip(), voice.strip()
    mapped = openai_voice(name, polyvox.settings, registry)
    engine = mapped[0] if mapped is not None else registry.default
    try:
        synthesizer.resolve(engine, name, None)
        return engine, name.strip()
    except VoiceNotFoundError:
        found = find_voice(registry, name)  # another engine's id, or a display name (en_US-joe-medium)
        return found.engine, found.id


def choose_voice(polyvox: Polyvox, voice_name: str | None, locale: str | None) -> tuple[str, str, str | None]:
    """``(engine, voice, language)`` for ``VOICE``/``LOCALE`` (language None: the voice's own).

    An unknown ``VOICE`` is an error (``voice_not_found``, ``engine_not_found``), as in MaryTTS; only
    MaryTTS's own names (:func:`stands_in`) leave the choice to ``LOCALE``.
    """
    registry = polyvox.registry
    if voice_name and voice_name.strip() and not (locale and stands_in(voice_name)):
        engine, voice = _named_voice(polyvox, voice_name)
    elif locale:
        found = voice_for_language(registry, locale)
        if found is None:
            raise LanguageNotSupportedError(f"no voice for LOCALE {locale!r}", param="LOCALE")
        engine, voice = found.engine, found.id
    else:
        engine, voice = registry.default, registry.resolve_voice(registry.default, None).id
    spoken = polyvox.synthesizer.resolve(engine, voice, None)[1]
    # A multilingual voice speaks the requested locale; otherwise the voice's own language wins.
    language = language_tag(locale) if locale and speaks(spoken, locale) else None
    return engine, voice, language


# -- routes ------------------------------------------------------------------------------------------
def _error(exc: PolyvoxError, status: int | None = None) -> PlainTextResponse:
    body = f"{exc.code}: {exc.message}\n"
    return PlainTextResponse(body, status_code=status or exc.status, media_type=_TEXT)


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
        try:
            engine, voice, language = choose_voice(polyvox, params.get("VOICE"), params.get("LOCALE"))
        except (VoiceNotFoundError, EngineNotFoundError) as exc:
            # MaryTTS's answer to a VOICE it does not have: 400 and "The value ... is not valid".
            value = params.get("VOICE", "")
            message = f"The value {value!r} of parameter 'VOICE' is not valid: {exc.message}"
            return _error(type(exc)(message, param="VOICE"), status=400)
        synthesis = SynthesisRequest(text=text, engine=engine, voice=voice, language=language)
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
