"""Transcription formats, the ``openai`` back end's reply parsing and failures, back-end selection."""

from __future__ import annotations

import asyncio
import io
import wave

import numpy as np
import pytest
import srt
import webvtt
from tests.e2e.conftest import free_port

from polyvox.config import Settings
from polyvox.errors import BusyError, InvalidParameterError
from polyvox.stt import formats
from polyvox.stt.base import (
    AsrFailedError,
    AsrUnavailableError,
    ModelNotFoundError,
    Segment,
    TranscribeOptions,
    Transcription,
    Word,
)
from polyvox.stt.recognizer import SpeechRecognizer, backend_factories
from polyvox.stt.remote import OpenAIBackend, _segments, wav_bytes

RESULT = Transcription(
    "Hello there. General Kenobi.",
    "en",
    3.2,
    (
        Segment(0, 0.0, 1.4, "Hello there.", (Word("Hello", 0.1, 0.5), Word("there.", 0.6, 1.2))),
        Segment(1, 1.6, 3.0, "General Kenobi.", (Word("General", 1.7, 2.2), Word("Kenobi.", 2.3, 2.9))),
    ),
)


def test_subtitles_have_one_cue_per_segment() -> None:
    cues = list(srt.parse(str(formats.render(RESULT, formats.ResponseFormat.SRT, frozenset()))))
    assert [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in cues] == [
        (0.0, 1.4, "Hello there."),
        (1.6, 3.0, "General Kenobi."),
    ]
    vtt = webvtt.from_buffer(
        io.StringIO(str(formats.render(RESULT, formats.ResponseFormat.VTT, frozenset())))
    )
    assert [(c.start_in_seconds, c.text) for c in vtt] == [(0, "Hello there."), (1, "General Kenobi.")]


def test_verbose_json_follows_the_granularities() -> None:
    both = formats.render(RESULT, formats.ResponseFormat.VERBOSE_JSON, frozenset({"word", "segment"}))
    assert isinstance(both, dict)
    assert [w["word"] for w in both["words"]] == ["Hello", "there.", "General", "Kenobi."]
    assert [s["text"] for s in both["segments"]] == ["Hello there.", "General Kenobi."]
    assert both["usage"] == {"type": "duration", "seconds": 4}
    words_only = formats.render(RESULT, formats.ResponseFormat.VERBOSE_JSON, frozenset({"word"}))
    assert isinstance(words_only, dict) and "segments" not in words_only
    assert formats.render(RESULT, formats.ResponseFormat.TEXT, frozenset()) == RESULT.text + "\n"
    with pytest.raises(InvalidParameterError):
        formats.parse_granularities(["word", "phoneme"])
    with pytest.raises(InvalidParameterError):
        formats.parse_response_format("docx")


def test_upstream_replies_become_segments_with_their_words() -> None:
    body = {
        "text": "Hello there. General Kenobi.",
        "segments": [
            {"start": 0.0, "end": 1.4, "text": " Hello there."},
            {"start": 1.5, "end": 3.0, "text": " General Kenobi."},
        ],
        "words": [
            {"word": "Hello", "start": 0.1, "end": 0.5},
            {"word": "there.", "start": 0.6, "end": 1.2},
            {"word": "General", "start": 1.7, "end": 2.2},
            {"word": "Kenobi.", "start": 2.3, "end": 3.1},
        ],
    }
    segments = _segments(body, 3.2)
    assert [[w.word for w in s.words] for s in segments] == [["Hello", "there."], ["General", "Kenobi."]]
    plain = _segments({"text": " Only text. "}, 2.0)
    assert [(s.start, s.end, s.text, s.words) for s in plain] == [(0.0, 2.0, "Only text.", ())]
    with pytest.raises(AsrFailedError):
        _segments({"text": "x", "segments": [{"start": "soon"}]}, 1.0)


def test_wav_bytes_is_16_bit_mono() -> None:
    with wave.open(io.BytesIO(wav_bytes(np.full(1600, 0.5, dtype=np.float32)))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (
            1,
            2,
            16000,
            1600,
        )


def test_unreachable_upstream_is_asr_unavailable(tmp_path: object) -> None:
    settings = Settings(
        asr={"backend": "openai", "openai": {"base_url": f"http://127.0.0.1:{free_port()}/v1"}}
    )
    backend = OpenAIBackend(settings)
    try:
        with pytest.raises(ModelNotFoundError):
            backend.prepare(TranscribeOptions(model="large-v3"))
        with pytest.raises(AsrUnavailableError):
            backend.segments(np.zeros(16000, dtype=np.float32), TranscribeOptions())
    finally:
        backend.close()


def test_backends_come_from_entry_points() -> None:
    assert {"whisper", "openai"} <= set(backend_factories())
    assert SpeechRecognizer(Settings(asr={"backend": "openai"})).name == "openai"
    with pytest.raises(InvalidParameterError) as unknown:
        SpeechRecognizer(Settings(asr={"backend": "carrier-pigeon"}))
    assert unknown.value.param == "asr.backend"


async def test_slots_bound_concurrent_transcriptions() -> None:
    recognizer = SpeechRecognizer(Settings(asr={"max_concurrent": 1, "max_queue": 1}))
    release = asyncio.Event()

    async def hold() -> None:
        async with recognizer.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(recognizer.run(sum, [1, 2]))  # queued: the one place in the queue
    await asyncio.sleep(0)
    with pytest.raises(BusyError):
        await recognizer.run(sum, [3])
    release.set()
    await holder
    assert await waiter == 3
