"""Captions over a real server: word timestamps match where Whisper hears the words; SRT/VTT parse."""

from __future__ import annotations

import base64
import difflib
import io
import wave

import httpx
import numpy as np
import pytest
import srt
import webvtt
from tests.e2e.conftest import Server

from polyvox.stt.transcriber import Transcriber

pytestmark = pytest.mark.slow

TEXT = (
    "The old lighthouse keeper climbed the stairs every evening.\n"
    "He lit the lamp, watched the ships, and wrote a short note in his diary before sleeping."
)


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    """A Whisper of this module's own: the timings compared here moved by up to 0.3 s when the process's
    shared one had first heard the long-form tests' audio (order-dependent; not understood yet)."""
    transcriber = Transcriber(threads=2)
    transcriber.load()
    return transcriber


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_captioned_words_match_whisper(server: Server, transcriber: Transcriber, kind: str) -> None:
    reply = httpx.post(
        f"{server.url}/v1/audio/speech/captioned",
        json={"input": TEXT, "caption_format": kind, "response_format": "wav"},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    with wave.open(io.BytesIO(base64.b64decode(body["audio"]))) as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
    duration = len(samples) / rate
    words = body["words"]
    assert [w["word"] for w in words] == TEXT.split()
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and starts[0] >= 0 and words[-1]["end"] <= duration + 1e-3

    heard = transcriber.transcribe(samples, rate, word_timestamps=True).words
    matcher = difflib.SequenceMatcher(None, [_key(w["word"]) for w in words], [_key(h[0]) for h in heard])
    pairs = [(a + k, b + k) for a, b, n in matcher.get_matching_blocks() for k in range(n)]
    # Words Whisper mishears cannot be compared (they are placed between their neighbours); most are heard.
    assert len(pairs) >= 0.8 * len(words), (words, heard)
    errors = [round(abs(words[i]["start"] - heard[j][1]), 3) for i, j in pairs]
    print(f"{len(pairs)}/{len(words)} words matched; largest start difference {max(errors) * 1000:.0f} ms")
    assert max(errors) <= 0.150, errors

    if kind == "srt":
        cues = list(srt.parse(body["captions"]))
        text = " ".join(c.content for c in cues)
        last = cues[-1].end.total_seconds()
    else:
        cues = list(webvtt.from_buffer(io.StringIO(body["captions"])))
        text = " ".join(c.text for c in cues)
        last = cues[-1].end_in_seconds
    assert text.split() == TEXT.split()
    assert last <= duration + 1e-3


def test_captioned_stream_sends_words_per_sentence(server: Server) -> None:
    with httpx.stream(
        "POST", f"{server.url}/v1/audio/speech/captioned", json={"input": TEXT, "stream": True}, timeout=120
    ) as reply:
        assert reply.status_code == 200
        events = [line for line in reply.iter_lines() if line.startswith("data: ")]
    assert len(events) == 3  # two sentences, then done
    assert '"speech.captioned.done"' in events[-1]
