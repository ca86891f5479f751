"""The output formats Polyvox can produce: their names, media types, file extensions, and the sample rates
and bit depths each can carry, checked before any audio is synthesized (polyvox.audio.encode writes them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from polyvox.errors import InvalidParameterError, UnsupportedFormatError


class AudioFormat(StrEnum):
    """The container/codec pairs Polyvox can produce, named as OpenAI's ``response_format`` names them."""

    WAV = "wav"
    PCM = "pcm"
    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    FLAC = "flac"
    # G.711 for telephony (8 kHz): raw bytes as phone gateways stream them, or in a WAV file.
    ULAW = "ulaw"
    ALAW = "alaw"
    WAV_ULAW = "wav_ulaw"
    WAV_ALAW = "wav_alaw"


MEDIA_TYPES: Mapping[AudioFormat, str] = {
    AudioFormat.WAV: "audio/wav",
    # OpenAI labels its raw s16le output "audio/pcm"; clients written against it expect exactly that.
    AudioFormat.PCM: "audio/pcm",
    AudioFormat.MP3: "audio/mpeg",
    # The bytes are an Ogg file (RFC 7845). "audio/opus" (RFC 7587) names the bare RTP payload, and browsers
    # decide playability from the Ogg type, so we say what the body really is.
    AudioFormat.OPUS: "audio/ogg; codecs=opus",
    AudioFormat.AAC: "audio/aac",
    AudioFormat.FLAC: "audio/flac",
    AudioFormat.ULAW: "audio/basic",  # RFC 2046: 8 kHz mono mu-law
    AudioFormat.ALAW: "audio/x-alaw-basic",
    AudioFormat.WAV_ULAW: "audio/wav",
    AudioFormat.WAV_ALAW: "audio/wav",
}
"""The ``Content-Type`` to send with each format."""

FILE_EXTENSIONS: Mapping[AudioFormat, tuple[str, ...]] = {
    AudioFormat.WAV: (".wav",),
    AudioFormat.PCM: (".pcm", ".raw"),
    AudioFormat.MP3: (".mp3",),
    AudioFormat.OPUS: (".opus", ".ogg"),
    AudioFormat.AAC: (".aac",),
    AudioFormat.FLAC: (".flac",),
    AudioFormat.ULAW: (".ulaw", ".mulaw", ".ul"),
    AudioFormat.ALAW: (".alaw", ".al"),
    AudioFormat.WAV_ULAW: (),
    AudioFormat.WAV_ALAW: (),
}
"""File name extensions per format, lower case; the first one is what Polyvox writes (none: the format is
asked for by name only, as ``.wav`` means 16-bit PCM)."""

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000
BIT_DEPTHS = (16, 24)
LOSSLESS_24_BIT = frozenset({AudioFormat.WAV, AudioFormat.PCM, AudioFormat.FLAC})
"""Formats that can carry 24-bit samples; lossy codecs have no bit depth to choose."""

# Input rates each encoder accepts (libopus: the Opus spec's set; MP3: MPEG-1/2/2.5; AAC: MPEG-4 table).
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
G711_RATES = (8000,)  # ITU-T G.711 is defined at 8 kHz only
_CODEC_RATES: Mapping[AudioFormat, tuple[int, ...]] = {
    AudioFormat.OPUS: OPUS_RATES,
    AudioFormat.MP3: MP3_RATES,
    AudioFormat.AAC: AAC_RATES,
    AudioFormat.ULAW: G711_RATES,
    AudioFormat.ALAW: G711_RATES,
    AudioFormat.WAV_ULAW: G711_RATES,
    AudioFormat.WAV_ALAW: G711_RATES,
}


def supported_formats() -> list[str]:
    """The format names :func:`parse_format` accepts."""
    return [f.value for f in AudioFormat]


def parse_format(value: str, param_name: str = "response_format") -> AudioFormat:
    """Turn a client's format name (any case) into an :class:`AudioFormat`."""
    try:
        return AudioFormat(value.strip().lower())
    except ValueError:
        raise UnsupportedFormatError(
            f"Unsupported audio format {value!r}; supported: {', '.join(supported_formats())}",
            param=param_name,
        ) from None


def format_from_filename(path: str | os.PathLike[str]) -> AudioFormat:
    """The format a file name's extension asks for (``.ogg`` and ``.opus`` both mean Ogg Opus)."""
    suffix = Path(path).suffix.lower()
    for fmt, extensions in FILE_EXTENSIONS.items():
        if suffix in extensions:
            return fmt
    known = ", ".join(ext for exts in FILE_EXTENSIONS.values() for ext in exts)
    raise UnsupportedFormatError(
        f"Cannot tell the audio format from {str(path)!r}; use one of: {known}", param="format"
    )


def validate_output(fmt: AudioFormat, sample_rate: int, bit_depth: int, *, exact: bool = False) -> None:
    """Reject output settings no encoder can honour, before any audio is synthesized.

    ``exact``: ``sample_rate`` is what the client asked for, so a rate the format cannot carry is an error
    rather than silently changed (the encoder otherwise takes the next rate it supports).
    """
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise InvalidParameterError(
            f"sample_rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE}, got {sample_rate}",
            param="sample_rate",
        )
    rates = _CODEC_RATES.get(fmt, ())
    if exact and rates and sample_rate not in rates:
        carried = ", ".join(str(rate) for rate in rates if MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE)
        raise InvalidParameterError(
            f"{fmt.value} cannot carry {sample_rate} Hz; it carries {carried}", param="sample_rate"
        )
    if bit_depth not in BIT_DEPTHS:
        raise InvalidParameterError(f"bit_depth must be 16 or 24, got {bit_depth}", param="bit_depth")
    if bit_depth == 24 and fmt not in LOSSLESS_24_BIT:
        raise InvalidParameterError(
            f"bit_depth 24 is only available for wav, pcm and flac, not {fmt.value}", param="bit_depth"
        )


def encoded_rate(fmt: AudioFormat, requested_rate: int) -> int:
    """The sample rate the encoder is fed and the container declares for ``requested_rate``.

    Opus, MP3 and AAC accept only fixed rates: we take the smallest supported rate at or above the request, so
    no bandwidth the client asked for is lost. Other formats keep the requested rate.
    """
    rates = _CODEC_RATES.get(fmt)
    if rates is None:
        return requested_rate
    return next((rate for rate in rates if rate >= requested_rate), rates[-1])


def decoded_rate(fmt: AudioFormat, requested_rate: int) -> int:
    """The rate a decoder reports for the output: Ogg Opus always decodes at 48 kHz (RFC 7845 §5.1)."""
    return 48000 if fmt is AudioFormat.OPUS else encoded_rate(fmt, requested_rate)
