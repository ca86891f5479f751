"""Voice blending: ``voice="jf_alpha(2)+jm_kumo(1)"`` mixes style vectors by normalized weights.

Engines that declare ``Capabilities.blending`` (Kokoro) take blends; the voice router resolves a blend's
parts and gives the engine the canonical id, and the engine mixes its style vectors (:func:`blend_styles`).

A blend is written as voice ids joined by ``+``, each with an optional positive weight in parentheses
(default 1). Weights are normalized to sum to 1, and the canonical form (``jf_alpha(0.6667)+jm_kumo(0.3333)``)
is the voice id the pipeline and the engine see.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.errors import InvalidParameterError

MAX_PARTS = 8
_PART = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\(\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\))?\s*$")


def is_blend(voice_id: str | None) -> bool:
    """True when ``voice_id`` is written as a blend (has ``+`` or a weight)."""
    return bool(voice_id) and ("+" in voice_id or "(" in voice_id)  # type: ignore[operator]


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """``[(voice_id, weight)]`` with weights summing to 1; repeated voices are merged."""
    parts = spec.split("+")
    if len(parts) > MAX_PARTS:
        raise InvalidParameterError(f"a blend mixes at most {MAX_PARTS} voices", param="voice")
    weights: dict[str, float] = {}
    for part in parts:
        match = _PART.match(part)
        if match is None:
            raise InvalidParameterError(
                f"cannot read blend part {part.strip()!r}; write e.g. 'jf_alpha(2)+jm_kumo(1)'", param="voice"
            )
        weight = float(match.group(2)) if match.group(2) else 1.0
        if not np.isfinite(weight) or weight <= 0:
            raise InvalidParameterError(f"blend weights must be positive, got {weight}", param="voice")
        weights[match.group(1)] = weights.get(match.group(1), 0.0) + weight
    total = sum(weights.values())
    return [(voice_id, weight / total) for voice_id, weight in weights.items()]


def canonical(parts: list[tuple[str, float]]) -> str:
    """The blend's id: ``a(0.6667)+b(0.3333)`` (a single voice at weight 1 is just its id)."""
    if len(parts) == 1:
        return parts[0][0]
    return "+".join(f"{voice_id}({weight:.4g})" for voice_id, weight in parts)


def blend_styles(parts: list[tuple[str, float]], style: Callable[[str], FloatArray]) -> FloatArray:
    """Weighted sum of the parts' style arrays (``(N, 1, 256)``); unequal packs are cut to the shortest."""
    arrays = [style(voice_id) for voice_id, _ in parts]
    rows = min(a.shape[0] for a in arrays)
    mixed = sum(a[:rows].astype(np.float64) * weight for a, (_, weight) in zip(arrays, parts, strict=True))
    return np.asarray(mixed, dtype=np.float32)
