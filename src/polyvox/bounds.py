"""Checks that bound what one request can make the pipeline do, whatever the engine would make of it.

* :func:`check_text`: text that cannot be encoded (lone surrogates) is refused before any engine sees it;
* :func:`check_extra`: each engine parameter against the range its engine declares
  (``EngineInfo.parameters``);
* :func:`estimated_seconds`: the audio a request will produce, known before synthesis, so one that would
  pass ``limits.max_audio_seconds`` is refused with 413 up front.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from polyvox.engines.base import EngineInfo, Param
from polyvox.errors import (
    AudioTooLongError,
    InvalidParameterError,
    InvalidSettingError,
    InvalidTextError,
    PolyvoxError,
)
from polyvox.text.ssml import Piece

SECONDS_PER_CHAR = 1 / 15
"""Typical English reading rate at speed 1 (about 15 characters a second), for the up-front estimate."""
BRISK_SECONDS_PER_CHAR = 1 / 20
"""A brisk reading rate at speed 1 (20 characters a second): when a listener's later segments fall due is
judged at it, so a voice that reads faster than its engine's measured average does not run dry before the
segment it needs was judged due."""
DURATION_PARAMETERS = ("length_scale",)
"""Engine parameters that scale durations (``length_scale`` 2 reads twice as slowly)."""


def check_text(text: str) -> None:
    """``invalid_text`` for text that is not valid Unicode (lone surrogates such as ``"\\udc80"``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidTextError(
            f"text holds an unpaired surrogate (U+{ord(text[exc.start]):04X}) at position {exc.start}",
            param="text",
        ) from None


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidParameterError(f"{name} must be a number, got {type(value).__name__}", param=name)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise InvalidParameterError(f"{name} must be a number, got {str(value)[:40]!r}", param=name) from None
    if not math.isfinite(number):
        raise InvalidParameterError(f"{name} must be a finite number", param=name)
    return number


def check_param(param: Param, name: str, value: Any) -> None:
    """``invalid_parameter`` naming ``name`` unless ``value`` is a number in the parameter's range."""
    number = _number(name, value)
    if param.integer and not number.is_integer():
        raise InvalidParameterError(f"{name} must be a whole number, got {number:g}", param=name)
    if not param.low <= number <= param.high:
        raise InvalidParameterError(
            f"{name} must be between {param.low:g} and {param.high:g}, got {number:g}", param=name
        )


def check_extra(info: EngineInfo, extra: Mapping[str, Any]) -> None:
    """Every declared parameter of the engine in ``extra`` checked; those it does not take are ignored."""
    for name, value in extra.items():
        param = info.parameter(name)
        if param is not None and value is not None:
            check_param(param, name, value)


def check_parameter_defaults(
    parameters: Mapping[str, Mapping[str, Any]], info_of: Callable[[str], EngineInfo]
) -> None:
    """``engines.parameters``: every engine known (``info_of`` raises for one that is not) and every default
    in its engine's range, else :class:`InvalidSettingError` naming the engine's entry: a mistake stops the
    start, it is not answered to every request as the client's fault."""
    for engine, defaults in parameters.items():
        try:
            check_extra(info_of(engine), defaults)
        except PolyvoxError as exc:
            raise InvalidSettingError(str(exc), param=f"engines.parameters.{engine}") from None


def estimated_seconds(
    segments: Sequence[str],
    plan: Sequence[Piece] | None,
    speed: float,
    extra: Mapping[str, Any],
    seconds_per_char: float = SECONDS_PER_CHAR,
) -> float:
    """Roughly how long the audio of these segments will be (pauses exact, speech at the typical rate, or
    at the engine's measured ``seconds_per_char``)."""
    scale = 1.0
    for name in DURATION_PARAMETERS:
        if isinstance(extra.get(name), int | float):
            scale = max(scale, float(extra[name]))
    pauses = sum(p.pause for p in plan if not p.text) if plan is not None else 0.0
    speech = 0.0
    for index, segment in enumerate(segments):
        rate = plan[index].rate if plan is not None and index < len(plan) else 1.0
        speech += len(segment) * seconds_per_char * scale / max(speed * rate, 0.25)
    return pauses + speech


def segment_dues(
    segments: Iterable[str],
    speed: float,
    clock: float,
    horizon: float,
    seconds_per_char: float = SECONDS_PER_CHAR,
) -> list[tuple[float, float]]:
    """When each of ``segments`` falls due for a listener whose audio runs out ``clock`` seconds from now,
    and its audio seconds: the audio (what its work is priced on) at ``seconds_per_char`` (the engine's
    measured reading rate, else the typical one), the deadlines at the brisk rate unless the engine reads
    faster still (another voice of it may read faster than its average). Stops past ``horizon``: never
    the whole text."""
    speed = max(speed, 0.25)
    brisk = min(BRISK_SECONDS_PER_CHAR, seconds_per_char)
    found = []
    for segment in segments:
        if clock > horizon:
            break
        found.append((clock, len(segment) * seconds_per_char / speed))
        clock += len(segment) * brisk / speed
    return found


def check_audio_seconds(estimate: float, limit: float) -> None:
    """413 ``audio_too_long`` when the estimate is over ``limits.max_audio_seconds`` (0: no limit)."""
    if limit > 0 and estimate > limit:
        raise AudioTooLongError(
            f"the request would produce about {estimate:.0f} s of audio; the limit is {limit:g} s "
            "(limits.max_audio_seconds; long-form jobs are exempt)",
            param="text",
        )
