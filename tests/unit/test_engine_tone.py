"""The deterministic tone engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polyvox.config import Settings
from polyvox.engines.base import SynthesisParams, Voice
from polyvox.engines.tone import SAMPLE_RATE, WORD_SECONDS, ToneEngine, word_frequency
from polyvox.errors import EngineFailedError


def make_engine(tmp_path: Path, **tone: object) -> ToneEngine:
    return ToneEngine(Settings(data_dir=tmp_path, tone=tone))


def voice(engine: ToneEngine, voice_id: str = "beep") -> Voice:
    return next(v for v in engine.voices() if v.id == voice_id)


def dominant_frequency(samples: np.ndarray) -> float:
    tone = samples[: int(0.15 * SAMPLE_RATE)]
    spectrum = np.abs(np.fft.rfft(tone))
    return float(np.fft.rfftfreq(len(tone), 1 / SAMPLE_RATE)[spectrum.argmax()])


def test_info_and_voices(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    assert ToneEngine.info.name == "tone"
    assert ToneEngine.info.sample_rate == SAMPLE_RATE
    assert [v.id for v in engine.voices()] == ["beep", "boop"]
    assert engine.default_voice() == "beep"


def test_one_tone_per_word(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    [chunk] = engine.synthesize("one two three", voice(engine), SynthesisParams())
    assert chunk.sample_rate == SAMPLE_RATE
    assert chunk.text == "one two three"
    assert chunk.seconds == pytest.approx(3 * WORD_SECONDS)
    assert chunk.samples.dtype == np.float32
    assert np.all(chunk.samples[int(0.16 * SAMPLE_RATE) : int(0.2 * SAMPLE_RATE)] == 0)  # the gap


def test_deterministic_and_frequency(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    a = next(engine.synthesize("hello", voice(engine), SynthesisParams())).samples
    b = next(engine.synthesize("hello", voice(engine), SynthesisParams())).samples
    assert np.array_equal(a, b)
    assert word_frequency("hello") == 300 + (sum(b"hello") % 40) * 10
    assert dominant_frequency(a) == pytest.approx(word_frequency("hello"), abs=7)
    low = next(engine.synthesize("hello", voice(engine, "boop"), SynthesisParams())).samples
    assert dominant_frequency(low) == pytest.approx(word_frequency("hello") / 2, abs=7)


def test_empty_text_gives_empty_chunk(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    [chunk] = engine.synthesize("  ", voice(engine), SynthesisParams())
    assert chunk.num_samples == 0


def test_delay_and_calls(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    engine = make_engine(tmp_path, delay=0.05, trace_file=trace)
    list(engine.synthesize("a", voice(engine), SynthesisParams()))
    list(engine.synthesize("b", voice(engine), SynthesisParams(extra={"delay": 0})))
    assert engine.calls == 2
    # The trace brackets each call's wait: the configured delay, then a request's own (none).
    first, second = (json.loads(line) for line in trace.read_text().splitlines())
    assert (first["text"], second["text"]) == ("a", "b")
    assert first["end"] - first["start"] >= 0.05


def test_fail_at(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, fail_at=1)
    list(engine.synthesize("fine", voice(engine), SynthesisParams(segment_index=0)))
    with pytest.raises(EngineFailedError):
        list(engine.synthesize("boom", voice(engine), SynthesisParams(segment_index=1)))
    with pytest.raises(EngineFailedError):
        list(engine.synthesize("boom", voice(engine), SynthesisParams(segment_index=2, extra={"fail_at": 2})))


def test_trace_file(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    engine = make_engine(tmp_path, trace_file=trace, fail_at=1)
    list(engine.synthesize("first", voice(engine), SynthesisParams(request_id="r1", segment_index=0)))
    with pytest.raises(EngineFailedError):
        list(engine.synthesize("second", voice(engine), SynthesisParams(request_id="r1", segment_index=1)))
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [(r["request_id"], r["segment_index"], r["text"]) for r in records] == [
        ("r1", 0, "first"),
        ("r1", 1, "second"),
    ]
    assert all(r["start"] <= r["end"] for r in records)
    assert [r["failed"] for r in records] == [False, True]


def test_load_unload(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    engine.load()
    engine.unload()
    engine.load()
    assert (engine.loads, engine.loaded) == (2, True)
