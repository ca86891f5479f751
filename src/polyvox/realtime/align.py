"""Word timings for a spoken chunk, by the speech recognizer over the audio as delivered (no engine reports
its own)."""

from __future__ import annotations

from typing import Any

from polyvox.audio.chunk import AudioChunk
from polyvox.stt.recognizer import SpeechRecognizer


async def word_timings(chunk: AudioChunk, transcriber: SpeechRecognizer) -> tuple[str, list[dict[str, Any]]]:
    """``(source, [{"word", "start", "end"}])`` with times in seconds from the start of ``chunk``."""
    # The recognizer's own thread and slots: alignment never holds an engine worker.
    transcript = await transcriber.listen(chunk.samples, chunk.sample_rate, word_timestamps=True)
    words = [
        {"word": word, "start": round(start, 3), "end": round(end, 3)}
        for word, start, end in transcript.words
    ]
    return "asr", words
