"""G.711 μ-law and A-law (ITU-T G.711, 8 kHz telephony audio) to and from 16-bit PCM, vectorised with numpy.

The OpenAI Realtime API's ``audio/pcmu`` and ``audio/pcma`` formats. ``audioop`` did this until Python 3.13
removed it; these are the same segment tables as the reference ``g711.c`` (and audioop), so the bytes match.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

G711_RATE = 8000

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])

Int16Array = npt.NDArray[np.int16]


def _pcm(data: bytes) -> npt.NDArray[np.int32]:
    usable = len(data) - len(data) % 2
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.int32)


def ulaw_encode(pcm: bytes) -> bytes:
    """s16le samples to μ-law bytes (one per sample)."""
    value = _pcm(pcm) >> 2
    mask = np.where(value < 0, 0x7F, 0xFF)
    value = np.minimum(np.abs(value), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, value)  # first end >= value
    code = (np.minimum(segment, 7) << 4) | ((value >> (segment + 1)) & 0xF)
    code = np.where(segment >= 8, 0x7F, code)  # beyond the last segment: clipped
    return (code ^ mask).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """μ-law bytes to s16le samples."""
    code = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    value = np.where(code & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS)
    return value.astype("<i2").tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    """s16le samples to A-law bytes (one per sample)."""
    value = _pcm(pcm) >> 3
    mask = np.where(value >= 0, 0xD5, 0x55)
    value = np.where(value >= 0, value, -value - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, value)
    shift = np.where(segment < 2, 1, segment)
    code = (np.minimum(segment, 7) << 4) | ((value >> shift) & 0xF)
    code = np.where(segment >= 8, 0x7F, code)  # beyond the last segment: clipped
    return (code ^ mask).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes to s16le samples."""
    code = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    value = (code & 0x0F) << 4
    value = np.where(segment == 0, value + 8, (value + 0x108) << np.maximum(segment - 1, 0))
    return np.where(code & 0x80, value, -value).astype("<i2").tobytes()
