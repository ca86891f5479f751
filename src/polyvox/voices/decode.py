"""Decoding reference and input audio, and normalizing references.

"Not audio" (415) and "undecodable" (422) are told apart by the file's signature: bytes that do not start like
any audio container we accept are not audio; bytes that do but fail to decode (truncated, corrupt) are
undecodable. Decoding itself is FFmpeg through PyAV.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.errors import InvalidParameterError, PayloadTooLargeError, UnsupportedMediaError

LIBRARY_RATE = 24_000
"""Every stored reference is mono at this rate (Kokoro's; WORLD analysis runs at it too)."""
TARGET_LUFS = -20.0
_TRIM_DB = -40.0  # frames this far below the loudest frame count as silence at the edges
_FRAME = 0.02


class UndecodableAudioError(InvalidParameterError):
    """The bytes look like an audio file but do not decode."""

    code = "undecodable_audio"


def _looks_like_audio(head: bytes) -> bool:
    """wav, mp3 (ID3 or a frame sync), flac, ogg, m4a/mp4, webm/mka, aiff, caf."""
    return (
        (head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"RF64"))
        or head[:4] in (b"RF64", b"fLaC", b"OggS", b"FORM", b"caff", b"\x1a\x45\xdf\xa3")
        or head[:3] == b"ID3"
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
        or head[4:8] == b"ftyp"
    )


MAX_SOURCE_RATE = 192_000
"""Highest sample rate a source may declare (``voices.max_upload_rate`` overrides it)."""


def decode_audio(
    source: bytes | Path,
    *,
    rate: int = LIBRARY_RATE,
    max_seconds: float | None = None,
    max_source_rate: int = MAX_SOURCE_RATE,
) -> FloatArray:
    """Mono float32 at ``rate`` from an audio file's bytes or path; 415 if not audio, 422 if undecodable.

    The container's declared rate (over ``max_source_rate``: 422) and duration (over ``max_seconds``: 413)
    are checked before anything is decoded; decoding resamples frame by frame to ``rate`` (the source rate is
    never held in full) and stops once ``max_seconds`` are decoded, so memory is bounded by the output.
    """
    handle: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
    with handle:
        head = handle.read(16)
        handle.seek(0)
        if not _looks_like_audio(head):
            raise UnsupportedMediaError("the file is not audio (wav, mp3, flac, ogg or m4a)", param="file")
        try:
            samples = _decode(handle, rate, max_seconds, max_source_rate)
        except (av.error.FFmpegError, ValueError, IndexError, OSError) as exc:
            raise UndecodableAudioError(f"the audio does not decode: {exc}", param="file") from None
    if samples.size == 0:
        raise UndecodableAudioError("the audio decodes to nothing", param="file")
    return samples


def _declared_seconds(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else 0.0  # microseconds (AV_TIME_BASE)


def _decode(handle: BinaryIO, rate: int, max_seconds: float | None, max_source_rate: int) -> FloatArray:
    with av.open(handle, mode="r") as container:
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # FFmpeg knows no decoder for it (a WAV declaring 0 bits per sample)
            raise UndecodableAudioError("the audio's codec or sample format is not supported", param="file")
        source_rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        if source_rate <= 0:
            raise ValueError("no sample rate")
        if source_rate > max_source_rate:
            raise UndecodableAudioError(
                f"the audio declares {source_rate} Hz; the most accepted is {max_source_rate} Hz",
                param="file",
            )
        declared = _declared_seconds(container, stream)
        if max_seconds is not None and declared > max_seconds + 1:
            raise PayloadTooLargeError(
                f"the audio declares {declared:.0f} s; the limit is {max_seconds:g} s", param="file"
            )
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        pieces: list[FloatArray] = []
        total = 0
        limit = None if max_seconds is None else int((max_seconds + 1) * rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                piece = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                pieces.append(piece)
                total += len(piece)
            if limit is not None and total > limit:
                break  # the caller refuses it as too long: decoding the rest would only cost time
        else:
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def trim_silence(samples: FloatArray, rate: int) -> FloatArray:
    """Cut leading and trailing frames quieter than ``_TRIM_DB`` below the loudest frame."""
    frame = max(1, int(rate * _FRAME))
    count = len(samples) // frame
    if count == 0:
        return samples
    energy = np.sqrt(np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(energy / energy.max()) > _TRIM_DB)
    if loud.size == 0:
        return samples[:0]
    start, end = max(0, (loud[0] - 1) * frame), min(len(samples), (loud[-1] + 2) * frame)
    return samples[start:end]


def normalize_loudness(samples: FloatArray, rate: int, target_lufs: float = TARGET_LUFS) -> FloatArray:
    """Scale to ``target_lufs`` integrated loudness (BS.1770), never past -1 dBFS peak."""
    import pyloudnorm

    if len(samples) < int(0.4 * rate):  # pyloudnorm needs one 400 ms block
        return samples
    loudness = pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64))
    if not np.isfinite(loudness):
        return samples
    gain = 10 ** ((target_lufs - loudness) / 20)
    peak = float(np.max(np.abs(samples))) * gain
    if peak > 0.89:  # -1 dBFS
        gain *= 0.89 / peak
    out: FloatArray = (samples * gain).astype(np.float32)
    return out


def normalize_reference(samples: FloatArray, rate: int = LIBRARY_RATE) -> FloatArray:
    """Trimmed and loudness-normalized (input already mono at ``rate``)."""
    return normalize_loudness(trim_silence(samples, rate), rate)
