"""The phrase-first seam is not heard, on piper and Kokoro: the seam guard of polyvox.text.phrases.

Each sentence of a small corpus is rendered twice through the real pipeline: for a listener (LIVE: its first
phrase alone, then the rest) and as a file (whole sentences). At the join there is no click (the step
between the phrase's last sample and the rest's first is within the steps of the engine's own audio), the
pause is no longer than the engine's own pause at that place in the whole sentence (measured the same way),
and Whisper hears the corpus as well as it hears the whole renderings (WER within 0.01).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import make_settings

from polyvox.audio.chunk import FloatArray
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox
from polyvox.stream_mode import StreamMode
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.transcriber import Transcriber

CORPUS = [
    "When the morning came, the travellers gathered their things and walked down to the harbour.",
    "After a long and tiring day at work, she sat down by the window with a cup of tea.",
    "The old bridge across the river, which had stood for two hundred years, was finally repaired.",
    "If you want to catch the early train, you should leave the house before six o'clock.",
    "Speech synthesis has come a long way in the last few years of steady research.",
    "Our neighbours planted a small garden behind the house, and every summer it fills with flowers.",
]
SILENCE = 0.01
"""Amplitude under which a sample counts as silence (about -40 dBFS)."""
PAUSE_SLACK = 0.03
"""Seconds: the pause may exceed the engine's own by this (one analysis step of the gap measure)."""


def edges(samples: FloatArray, rate: int) -> tuple[float, float]:
    """Seconds of silence before the first and after the last sound."""
    loud = np.flatnonzero(np.abs(samples) > SILENCE)
    if not len(loud):
        return len(samples) / rate, 0.0
    return loud[0] / rate, (len(samples) - 1 - loud[-1]) / rate


def longest_pause(samples: FloatArray, rate: int) -> float:
    """The longest run of silence between sounds (the engine's own pauses inside a sentence)."""
    loud = np.flatnonzero(np.abs(samples) > SILENCE)
    return float(np.diff(loud).max() / rate) if len(loud) > 1 else 0.0


@pytest.fixture
async def polyvox(tmp_path: Path) -> AsyncIterator[Polyvox]:
    async with Polyvox(make_settings(tmp_path, engines={"default": "piper"})) as service:
        yield service


async def render(service: Polyvox, text: str, engine: str, mode: StreamMode) -> list[FloatArray]:
    extra = {"noise_scale": 0.0, "noise_w": 0.0} if engine == "piper" else {}  # the same audio each time
    request = SynthesisRequest(text, engine=engine, language="en-us", extra=extra)  # Kokoro's voice: English
    stream = await service.synthesizer.open(request, mode=mode)
    async with stream:
        return [chunk.samples async for chunk in stream.by_segment()]


@pytest.mark.parametrize("engine", ["piper", "kokoro"])
async def test_the_seam_is_not_heard(polyvox: Polyvox, transcriber: Transcriber, engine: str) -> None:
    rate = polyvox.registry.info(engine).sample_rate
    heard_live, heard_whole = [], []
    for sentence in CORPUS:
        live = await render(polyvox, sentence, engine, StreamMode.LIVE)
        whole = await render(polyvox, sentence, engine, StreamMode.FILE)
        assert len(live) == 2 and len(whole) == 1, sentence  # cut once for the listener, whole in the file
        phrase, rest = live
        # No click: the join's step is within the engine's own sample-to-sample steps.
        step = abs(float(rest[0]) - float(phrase[-1]))
        assert step <= float(np.abs(np.diff(whole[0])).max()), sentence
        # The pause at the seam is no longer than the engine's own longest pause in the whole sentence
        # (at its comma, or between its words where it has none).
        seam = edges(phrase, rate)[1] + edges(rest, rate)[0]
        assert seam <= longest_pause(whole[0], rate) + PAUSE_SLACK, (sentence, seam)
        heard_live.append(transcriber.transcribe(np.concatenate(live), rate).text)
        heard_whole.append(transcriber.transcribe(whole[0], rate).text)
    reference = " ".join(CORPUS)
    live_wer = word_error_rate(reference, " ".join(heard_live))
    whole_wer = word_error_rate(reference, " ".join(heard_whole))
    assert live_wer <= whole_wer + 0.01, (live_wer, whole_wer, heard_live)


def test_the_corpus_is_cut_where_expected() -> None:
    """Guard the guard: every corpus sentence is one the listener path cuts (else the test proves nothing)."""
    from polyvox.text.phrases import first_phrase

    assert all(first_phrase(sentence, "en-us") is not None for sentence in CORPUS)
