"""Admission by capacity: the estimate, when it refuses, and the Retry-After it announces."""

from __future__ import annotations

import math

import pytest

from polyvox.admission import MAX_RETRY_AFTER, Admission, Demand, first_audio_estimate
from polyvox.errors import BusyError


def test_the_first_audio_estimate_grows_with_the_share_of_the_workers_already_in_use() -> None:
    assert first_audio_estimate(0.2, 0.0, 0.1, 2) == pytest.approx(0.2)
    assert first_audio_estimate(0.2, 1.0, 0.1, 2) == pytest.approx(0.4)
    assert first_audio_estimate(0.2, 1.2, 0.1, 2) == pytest.approx(0.5)
    # With its own demand past 75 % of the workers (UTILIZATION), nobody could be kept playing.
    assert math.isinf(first_audio_estimate(0.2, 1.3, 0.2, 2))


def test_listeners_within_capacity_are_admitted() -> None:
    admission = Admission(bound=2.0, workers=2)
    playing = [Demand(rtf=0.07, seconds_left=30.0)] * 16  # 16 piper listeners: 1.1 of 2 workers
    admission.check(first_audio_seconds=3.0, rtf=0.07, playing=playing)


def test_beyond_capacity_a_new_listener_is_refused_with_the_time_until_it_fits() -> None:
    admission = Admission(bound=2.0, workers=1)
    playing = [Demand(rtf=0.4, seconds_left=12.3), Demand(rtf=0.4, seconds_left=40.0)]
    with pytest.raises(BusyError) as refused:
        admission.check(first_audio_seconds=4.5, rtf=0.4, playing=playing)  # 1.2 of 1 worker in all
    assert refused.value.status == 429 and refused.value.code == "busy"
    # Once the first stream is done, 0.4 + 0.4 is still past 75 % of the worker: both must be done.
    assert refused.value.retry_after == 40
    with pytest.raises(BusyError) as sooner:  # a lighter engine: once the first is done, 0.75 s / 0.6 fits
        admission.check(first_audio_seconds=2.5, rtf=0.3, playing=playing)
    assert sooner.value.retry_after == 13


def test_an_idle_server_a_slow_engine_and_an_unmeasured_engine_are_never_refused() -> None:
    admission = Admission(bound=1.0, workers=1)
    admission.check(first_audio_seconds=5.0, rtf=0.9, playing=[])  # idle
    finished = [Demand(rtf=0.9, seconds_left=0.0)]  # sending its last audio: asks nothing more
    admission.check(first_audio_seconds=0.5, rtf=0.9, playing=finished)
    busy = [Demand(rtf=0.9, seconds_left=10.0)]
    admission.check(first_audio_seconds=5.0, rtf=0.9, playing=busy)  # 4.5 s even alone: waiting won't help
    with pytest.raises(BusyError):  # the same listener with a short first sentence: refused
        admission.check(first_audio_seconds=0.5, rtf=0.9, playing=busy)
    admission.check(first_audio_seconds=0.5, rtf=None, playing=busy)  # not measured yet
    Admission(bound=0.0, workers=1).check(first_audio_seconds=0.5, rtf=0.9, playing=busy * 10)  # off


def test_an_engine_slower_than_real_time_is_judged_on_first_audio_alone() -> None:
    admission = Admission(bound=4.0, workers=4)  # the steady-state sum fits: 2.55 of 3
    slow = [Demand(rtf=2.5, seconds_left=5.0)] * 2  # e.g. a neural engine on the CPU: nobody keeps up
    admission.check(first_audio_seconds=0.5, rtf=2.5, playing=slow)  # 1.25 s x (1 + 2 / 2) = 2.5 s: admitted
    with pytest.raises(BusyError):
        admission.check(first_audio_seconds=1.5, rtf=2.5, playing=slow * 2)  # 3.75 s x 3 = 11 s: refused


def test_retry_after_is_capped() -> None:
    admission = Admission(bound=1.0, workers=1)
    with pytest.raises(BusyError) as refused:
        admission.check(first_audio_seconds=1.0, rtf=0.5, playing=[Demand(rtf=0.6, seconds_left=3600.0)])
    assert refused.value.retry_after == MAX_RETRY_AFTER


def test_a_burst_whose_next_segments_fall_due_together_refuses_the_newcomer() -> None:
    """Eleven listeners that each hold 1.5 s of audio and need a 6 s sentence next (0.3 s of work each):
    the steady-state sum fits (0.55 of 0.75), but 3.3 s of work due within 1.5 s cannot be done."""
    admission = Admission(bound=2.0, workers=1)
    burst = [Demand(rtf=0.05, seconds_left=25.0, upcoming=((1.5, 6.0),))] * 11
    with pytest.raises(BusyError) as refused:
        admission.check(first_audio_seconds=2.0, rtf=0.05, playing=burst)
    assert refused.value.retry_after == 1 and "run dry" in refused.value.message
    # The same listeners a little later, 8 s of audio in hand each: the work is spread, the newcomer fits.
    spread = [Demand(rtf=0.05, seconds_left=20.0, upcoming=((8.0 + n, 6.0),)) for n in range(11)]
    admission.check(first_audio_seconds=2.0, rtf=0.05, playing=spread)


def test_a_long_segment_due_later_may_hold_the_worker_when_a_listener_needs_one_soon() -> None:
    """An engine call is never interrupted: a listener that needs 0.2 s of work within 0.5 s fits alone,
    but not behind the 1 s segment another stream may have just started (bench_paced: admitted listeners
    ran dry in bursts when the check counted no such wait)."""
    admission = Admission(bound=2.0, workers=1)
    soon = Demand(rtf=0.05, seconds_left=10.0, upcoming=((0.5, 4.0),))
    admission.check(first_audio_seconds=2.0, rtf=0.05, playing=[soon])
    long_later = Demand(rtf=0.05, seconds_left=40.0, upcoming=((8.0, 20.0),))
    admission.check(first_audio_seconds=2.0, rtf=0.05, playing=[long_later])
    with pytest.raises(BusyError) as refused:
        admission.check(first_audio_seconds=2.0, rtf=0.05, playing=[soon, long_later])
    assert refused.value.retry_after == 1 and "run dry" in refused.value.message


def test_while_a_listener_is_running_dry_nobody_new_is_admitted() -> None:
    admission = Admission(bound=2.0, workers=2)
    late = [Demand(rtf=0.05, seconds_left=20.0, upcoming=((-0.2, 3.0),))]
    with pytest.raises(BusyError):
        admission.check(first_audio_seconds=2.0, rtf=0.05, playing=late)
    waiting = [
        Demand(rtf=0.05, seconds_left=20.0, upcoming=((None, 3.0),))
    ]  # its first audio, due in the bound
    admission.check(first_audio_seconds=2.0, rtf=0.05, playing=waiting)


def test_a_stream_slower_than_real_time_does_not_block_the_burst_check() -> None:
    """A neural engine on the CPU (rtf 2.5) is always behind its listener; it is judged on first audio alone,
    so a piper listener beside it is still admitted."""
    admission = Admission(bound=4.0, workers=4)  # the steady-state sum fits: 2.55 of 3
    slow = [Demand(rtf=2.5, seconds_left=30.0, upcoming=((0.5, 4.0),))]
    admission.check(first_audio_seconds=2.0, rtf=0.05, playing=slow)


def test_newcomers_need_their_second_segments_soon_after_their_first() -> None:
    """A burst of newcomers, measured (bench_paced, 16 listeners): ten first phrases were rendered within
    1.2 s, and 1.9 s of audio later every one needed its next 94 characters (0.32 s of work each) at once;
    admission had counted only their first phrases and they ran dry. A newcomer not yet playing now brings
    its later segments, due from an early first audio on."""
    admission = Admission(bound=4.0, workers=1)
    phrase = 36 / 15  # audio seconds of the bench's first phrase at the typical rate
    later = ((1.8, 22 / 15), (2.9, 94 / 15))  # due from its first audio on, at the brisk rate
    first_only = [Demand(rtf=0.05, seconds_left=30.0, upcoming=((None, phrase),))] * 6
    admission.check(first_audio_seconds=phrase, rtf=0.05, playing=first_only)  # phrases alone: it fits
    waiting = [Demand(rtf=0.05, seconds_left=30.0, upcoming=((None, phrase), *later))] * 6
    with pytest.raises(BusyError) as refused:  # 2.3 s of work due within 2.9 s, at 75 %: no
        admission.check(first_audio_seconds=phrase, rtf=0.05, playing=waiting)
    assert refused.value.retry_after == 1
    # The newcomer's own later segments count too: beside five waiting listeners it fits only without them.
    admission.check(first_audio_seconds=phrase, rtf=0.05, playing=waiting[:5])
    with pytest.raises(BusyError):
        admission.check(first_audio_seconds=phrase, rtf=0.05, playing=waiting[:5], later=later)
