"""Admission by capacity: a stream that cannot get its first audio in time is refused at once.

Each listening stream needs ``rtf`` worker-seconds per second of audio (its engine's measured real-time
factor); their sum is the demand on ``engines.workers`` workers. A new stream's first segment is due now, so
under earliest-deadline-first it waits only for the share of the workers the others use: its first audio
comes after about ``first segment's engine seconds / (1 - others' demand / workers)``, and never if the
demand with its own reaches the workers (someone would run dry; engines slower than real time are judged
on first audio alone, see :func:`first_audio_estimate`). When that estimate passes
``server.first_audio_bound`` the request is answered 429 ``busy`` with ``Retry-After`` (when enough of the
playing streams will have finished synthesizing), instead of slowing every listener down.

An idle server never refuses: if the first segment alone takes longer than the bound, waiting would not
help. Long-form jobs and other background streams are due "eventually" and yield to listeners: they are
not counted as demand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from polyvox.errors import BusyError

MAX_RETRY_AFTER = 300
"""Seconds: the longest Retry-After we announce (streams of many minutes are rare, and clients cap it)."""


@dataclass(frozen=True, slots=True)
class Demand:
    """What one playing stream still asks of the workers."""

    rtf: float
    """Worker seconds per second of its audio (its engine's measured real-time factor)."""
    seconds_left: float
    """Roughly how long until it has synthesized everything (audio seconds still to come)."""


def first_audio_estimate(
    first_engine_seconds: float, others: float, own: float, workers: int, playing: int = 0
) -> float:
    """Seconds until a new stream's first segment is done while ``others`` workers' worth are busy.

    ``own`` is the new stream's own demand. An engine faster than real time that would push the demand past
    the workers can keep nobody playing: infinite. An engine slower than real time never keeps up anyway;
    its listeners are behind their deadlines, so the new stream waits for about one segment of each of the
    ``playing`` others per worker.
    """
    workers = max(workers, 1)
    if others + own >= workers and own < 1.0:
        return math.inf
    if others >= workers:
        return first_engine_seconds * (1.0 + playing / workers)
    return first_engine_seconds / (1.0 - others / workers)


class Admission:
    """Decides, from measured speed and the streams playing, whether a new stream may start now."""

    def __init__(self, bound: float, workers: int) -> None:
        self.bound = bound
        """``server.first_audio_bound`` in seconds (0: admit every stream)."""
        self.workers = workers

    def check(self, first_audio_seconds: float, rtf: float | None, playing: Iterable[Demand]) -> None:
        """Raise :class:`BusyError` (429 with Retry-After) when the new stream's first audio would be late.

        ``first_audio_seconds`` is the estimated audio length of its first segment and ``rtf`` its
        engine's real-time factor (None: not measured yet, admitted).
        """
        if self.bound <= 0 or rtf is None:
            return
        others = [d for d in playing if d.seconds_left > 0]
        first_engine_seconds = first_audio_seconds * rtf
        if not others or first_engine_seconds > self.bound:
            return  # idle, or too slow even alone: refusing would not make it faster
        estimate = self._estimate(first_engine_seconds, rtf, others)
        if estimate <= self.bound:
            return
        retry = self._retry_after(first_engine_seconds, rtf, others)
        shown = "more than the workers can give" if math.isinf(estimate) else f"about {estimate:.1f} s"
        raise BusyError(
            f"{len(others)} streams are playing; this one's first audio would take {shown} "
            f"(server.first_audio_bound is {self.bound:g} s); try again in {retry} s",
            retry_after=retry,
        )

    def _estimate(self, first_engine_seconds: float, rtf: float, others: list[Demand]) -> float:
        others_demand = sum(d.rtf for d in others)
        return first_audio_estimate(first_engine_seconds, others_demand, rtf, self.workers, len(others))

    def _retry_after(self, first_engine_seconds: float, rtf: float, others: list[Demand]) -> int:
        """Whole seconds until enough playing streams have finished synthesizing for this one to fit."""
        by_end = sorted(others, key=lambda d: d.seconds_left)
        for done, stream in enumerate(by_end, start=1):
            if self._estimate(first_engine_seconds, rtf, by_end[done:]) <= self.bound:
                return min(max(1, math.ceil(stream.seconds_left)), MAX_RETRY_AFTER)
        return MAX_RETRY_AFTER
