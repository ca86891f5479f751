"""Admission by capacity: a stream that cannot get its first audio in time is refused at once.

Each listening stream needs ``rtf`` worker-seconds per second of audio (its engine's measured real-time
factor); their sum is the demand on ``engines.workers`` workers. A new stream's first segment is due now, so
under earliest-deadline-first it waits only for the share of the workers the others use: its first audio
comes after about ``first segment's engine seconds / (1 - others' demand / workers)``, and never if the
demand with its own reaches the workers (someone would run dry; engines slower than real time are judged
on first audio alone, see :func:`first_audio_estimate`). When that estimate passes
``server.first_audio_bound`` the request is answered 429 ``busy`` with ``Retry-After`` (when enough of the
playing streams will have finished synthesizing), instead of slowing every listener down.

That is the steady state. A burst is judged by deadlines too (:meth:`Admission._burst_fits`): each playing
stream's next segment must be rendered before the audio it holds runs out, and a newcomer's first segment
within the bound; if, taken earliest deadline first, the work due by some deadline passes what the workers
can do by then, someone would run dry, and the newcomer is refused (``Retry-After`` 1 s: a burst clears in
seconds). Twelve listeners arriving within two seconds each hold only their first phrase when their next
segments all fall due together, which the steady-state sum does not see (bench/bench_paced.py); so a
listener not yet playing (the newcomer too) brings its later segments, due as if its first audio came at
once.

An idle server never refuses: if the first segment alone takes longer than the bound, waiting would not
help. Long-form jobs and other background streams are due "eventually" and yield to listeners: they are
not counted as demand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from polyvox.errors import BusyError

UTILIZATION = 0.75
"""The share of the workers' time listeners may fill: the event loop, encoding and the OS need the rest, and
queueing delay grows steeply beyond it (bench/bench_paced.py: at 90 % of the measured demand, listeners ran
dry)."""
HORIZON = 10.0
"""Seconds ahead the burst check looks: a listener's segments needed sooner are counted."""
MAX_RETRY_AFTER = 300
"""Seconds: the longest Retry-After we announce (streams of many minutes are rare, and clients cap it)."""


@dataclass(frozen=True, slots=True)
class Demand:
    """What one playing stream still asks of the workers."""

    rtf: float
    """Worker seconds per second of its audio (its engine's measured real-time factor)."""
    seconds_left: float
    """Roughly how long until it has synthesized everything (audio seconds still to come)."""
    upcoming: tuple[tuple[float | None, float], ...] = ()
    """Its segments still to render that its listener needs within :data:`HORIZON`: seconds until each is
    needed (None: it has not started playing, its first audio is due within the bound) and its audio
    seconds."""


def first_audio_estimate(
    first_engine_seconds: float, others: float, own: float, workers: int, playing: int = 0
) -> float:
    """Seconds until a new stream's first segment is done while ``others`` workers' worth are busy.

    ``own`` is the new stream's own demand. An engine faster than real time that would push the demand past
    :data:`UTILIZATION` of the workers can keep nobody playing: infinite. An engine slower than real time
    never keeps up anyway; its listeners are behind their deadlines, so the new stream waits for about one
    segment of each of the ``playing`` others per worker.
    """
    workers = max(workers, 1)
    if others + own >= workers * UTILIZATION and own < 1.0:
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

    def check(
        self,
        first_audio_seconds: float,
        rtf: float | None,
        playing: Iterable[Demand],
        later: Sequence[tuple[float, float]] = (),
    ) -> None:
        """Raise :class:`BusyError` (429 with Retry-After) when the new stream's first audio would be late.

        ``first_audio_seconds`` is the estimated audio length of its first segment and ``rtf`` its
        engine's real-time factor (None: not measured yet, admitted). ``later``: its next segments, as
        seconds until each falls due (its first audio may come at once) and audio seconds: a burst of
        newcomers needs its second segments soon after the first (the burst check counts them).
        """
        if self.bound <= 0 or rtf is None:
            return
        others = [d for d in playing if d.seconds_left > 0]
        first_engine_seconds = first_audio_seconds * rtf
        if not others or first_engine_seconds > self.bound:
            return  # idle, or too slow even alone: refusing would not make it faster
        estimate = self._estimate(first_engine_seconds, rtf, others)
        if estimate <= self.bound:
            if self._burst_fits(first_engine_seconds, others, [(due, rtf * sec) for due, sec in later]):
                return
            raise BusyError(
                f"{len(others)} streams are playing and their next segments are due within seconds; this "
                "one's first audio would make one of them run dry; try again in 1 s",
                retry_after=1,
            )
        retry = self._retry_after(first_engine_seconds, rtf, others)
        shown = "more than the workers can give" if math.isinf(estimate) else f"about {estimate:.1f} s"
        raise BusyError(
            f"{len(others)} streams are playing; this one's first audio would take {shown} "
            f"(server.first_audio_bound is {self.bound:g} s); try again in {retry} s",
            retry_after=retry,
        )

    def _burst_fits(
        self, first_engine_seconds: float, others: list[Demand], own_later: list[tuple[float, float]]
    ) -> bool:
        """Whether every next segment, the newcomer's first among them, can be rendered by its deadline.

        Earliest deadline first is optimal on one worker: the schedule fits if, for every deadline, the
        work due by it is at most what the workers can do by then (at :data:`UTILIZATION`). An engine call
        is never interrupted, so each worker may first be busy with one segment due later (one that
        started just before): the longest of those is counted on every worker.
        """
        due = [(self.bound, first_engine_seconds), *own_later]
        due += [
            (self.bound if due_in is None else due_in, d.rtf * seconds)
            for d in others
            if d.rtf < 1.0  # slower than real time: never kept fed, judged on first audio alone (above)
            for due_in, seconds in d.upcoming
        ]
        due.sort()
        later = [0.0] * (len(due) + 1)  # later[i]: the longest segment due after the i-th
        for i in range(len(due) - 1, -1, -1):
            later[i] = max(later[i + 1], due[i][1])
        work = 0.0
        for i, (deadline, seconds) in enumerate(due):
            work += seconds
            if work + self.workers * later[i + 1] > self.workers * UTILIZATION * max(deadline, 0.0):
                return False
        return True

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
