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


def _steps(samples: npt.ArrayLike, full_scale: float) -> npt.NDArray[np.float64]:
    """Samples scaled to ``full_scale``, clipped and rounded to whole steps, in one array worked in place.

    float64, so a float32 sample times the scale is exact and the rounding goes to the truly nearest step.
    """
    steps: npt.NDArray[np.float64] = np.multiply(samples, full_scale, dtype=np.float64)
    np.clip(steps, -full_scale, full_scale, out=steps)
    np.rint(steps, out=steps)
    return steps


def quantize(samples: npt.ArrayLike, bit_depth: int = 16) -> npt.NDArray[np.int32]:
    """Float samples clipped to [-1, 1], scaled to ``bit_depth`` (16 or 24) and rounded to whole steps."""
    return _steps(samples, INT16_FULL_SCALE if bit_depth == 16 else INT24_FULL_SCALE).astype(np.int32)


def float_to_int16(samples: npt.ArrayLike, byteorder: ByteOrder = "little") -> bytes:
    """Float samples in [-1, 1] (clipped) as signed 16-bit PCM bytes: s16le, or s16be for AU/AIFF."""
    return _steps(samples, INT16_FULL_SCALE).astype(_INT16[byteorder]).tobytes()


def int16_to_float(pcm: bytes, byteorder: ByteOrder = "little") -> npt.NDArray[np.float32]:
    """Signed 16-bit PCM bytes as float32 samples in [-1, 1], the inverse of :func:`float_to_int16`."""
    floats: npt.NDArray[np.float32] = np.frombuffer(pcm, dtype=_INT16[byteorder]).astype(np.float32)
    floats /= np.float32(INT16_FULL_SCALE)
    np.maximum(floats, np.float32(-1.0), out=floats)  # -32768 has no positive twin
    return floats


def float_to_int24(samples: npt.ArrayLike) -> bytes:
    """Float samples in [-1, 1] (clipped) as packed 3-byte signed little-endian PCM (s24le)."""
    ints = _steps(samples, INT24_FULL_SCALE).astype("<i4")
    # Keep the three low bytes of each little-endian int32: that is s24le.
    return ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
