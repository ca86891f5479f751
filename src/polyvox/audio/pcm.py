"""Float samples to and from integer PCM: the one conversion every engine, door and container uses.

Full scale is 32767 both ways (8388607 for 24-bit), so 1.0 and -1.0 become ±32767 and int16 -> float ->
int16 gives every value back except -32768, which has no positive twin and reads as -1.0. Floats are
rounded to the nearest step: truncating (``astype``) pulls every sample up to one step towards zero.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

ByteOrder = Literal["little", "big"]

INT16_FULL_SCALE = 32767.0
INT24_FULL_SCALE = 8388607.0
_INT16 = {"little": "<i2", "big": ">i2"}


def quantize(samples: npt.ArrayLike, bit_depth: int = 16) -> npt.NDArray[np.int32]:
    """Float samples clipped to [-1, 1], scaled to ``bit_depth`` (16 or 24) and rounded to whole steps."""
    full_scale = INT16_FULL_SCALE if bit_depth == 16 else INT24_FULL_SCALE
    # float64, so no step is lost to the multiplication.
    return np.rint(np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0) * full_scale).astype(np.int32)


def float_to_int16(samples: npt.ArrayLike, byteorder: ByteOrder = "little") -> bytes:
    """Float samples in [-1, 1] (clipped) as signed 16-bit PCM bytes: s16le, or s16be for AU/AIFF."""
    return quantize(samples, 16).astype(_INT16[byteorder]).tobytes()


def int16_to_float(pcm: bytes, byteorder: ByteOrder = "little") -> npt.NDArray[np.float32]:
    """Signed 16-bit PCM bytes as float32 samples in [-1, 1], the inverse of :func:`float_to_int16`."""
    floats: npt.NDArray[np.float32] = np.frombuffer(pcm, dtype=_INT16[byteorder]).astype(np.float32)
    floats /= np.float32(INT16_FULL_SCALE)
    np.maximum(floats, np.float32(-1.0), out=floats)  # -32768 has no positive twin
    return floats


def float_to_int24(samples: npt.ArrayLike) -> bytes:
    """Float samples in [-1, 1] (clipped) as packed 3-byte signed little-endian PCM (s24le)."""
    ints = quantize(samples, 24).astype("<i4")
    # Keep the three low bytes of each little-endian int32: that is s24le.
    return ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
