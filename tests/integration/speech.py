"""Texts and helpers shared by the engine tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Engine, Voice

SENTENCE = "The quick brown fox jumps over the lazy dog."
# Long enough that one misheard word stays under 10% WER; no numbers (Whisper writes digits).
SPOKEN = (
    "The weather today is sunny and warm, so we will walk to the park after lunch "
    "and read a book under the old tree."
)
# Piper samples its noise anew on every call: two sentences, so one rare stumble of Whisper on an opening
# phrase ("The weather today is" once heard as "But what are today a") stays under 10% WER.
PASSAGE = SPOKEN + " My sister brought a basket of apples, and we shared them with the children by the lake."

SpeechCheck = Callable[[Iterable[AudioChunk], str], AudioChunk]


def join(chunks: Iterable[AudioChunk]) -> AudioChunk:
    """All chunks of one synthesis as one chunk (fails when the engine yielded nothing)."""
    chunks = list(chunks)
    assert chunks, "the engine yielded no audio"
    return AudioChunk(samples=np.concatenate([c.samples for c in chunks]), sample_rate=chunks[0].sample_rate)


def voice(engine: Engine, voice_id: str) -> Voice:
    """The engine's voice with this id."""
    return next(v for v in engine.voices() if v.id == voice_id)
