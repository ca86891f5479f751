"""Long-form jobs: parallel chunks joined in order, nothing skipped, validation, cache, the native API."""

from __future__ import annotations

import base64
import difflib
import io
import random
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from polyvox.api.app import create_app
from polyvox.config import Settings
from polyvox.longform import synthesize_long
from polyvox.postprocess import loudness
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox
from polyvox.stream_mode import StreamMode
from polyvox.stt.metrics import normalize_for_wer, word_error_rate
from polyvox.stt.transcriber import Transcriber
from polyvox.text.chunks import chunk_text

_ADJECTIVES = [
    "quiet",
    "bright",
    "green",
    "heavy",
    "gentle",
    "little",
    "broken",
    "golden",
    "silver",
    "ancient",
]
_NOUNS = [
    "river",
    "garden",
    "window",
    "teacher",
    "village",
    "mountain",
    "kitten",
    "forest",
    "bridge",
    "market",
]
_VERBS = ["waited near", "walked past", "looked at", "stood by", "rested under", "sang to"]


def generated_text(words: int, seed: int = 7) -> tuple[str, list[str]]:
    """Distinct plain-word sentences (no numbers) in paragraphs of five; returns text and sentences."""
    rng = random.Random(seed)
    sentences: list[str] = []
    count = 0
    while count < words:
        a, b = rng.sample(_ADJECTIVES, 2)
        n1, n2 = rng.sample(_NOUNS, 2)
        sentence = f"The {a} {n1} {rng.choice(_VERBS)} the {b} {n2} today."
        sentences.append(sentence)
        count += len(sentence.split())
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs), sentences


def wav_samples(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as wav:
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate


def test_chunks_keep_paragraphs_and_every_sentence() -> None:
    text, sentences = generated_text(400)
    chunks = chunk_text(text, "en", 200)
    assert " ".join(c.text for c in chunks) == " ".join(sentences)
    assert all(len(c.text) <= 200 for c in chunks)
    assert sum(c.paragraph_end for c in chunks) == text.count("\n\n") + 1


async def test_tone_chunks_are_joined_in_order_with_pauses(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, engines={"enable_test_engines": True, "workers": 2})
    text = "\n".join(f"Paragraph {p} sentence one. And sentence two here." for p in range(4))
    async with Polyvox(settings) as polyvox:
        result = await synthesize_long(polyvox.synthesizer, SynthesisRequest(text=text, engine="tone"))
        again = await synthesize_long(polyvox.synthesizer, SynthesisRequest(text=text, engine="tone"))
    assert [c.index for c in result.chunks] == list(range(4))
    assert result.chunks[0].text == "Paragraph zero sentence one. And sentence two here."
    pauses = settings.postprocess.paragraph_pause * 3
    words = sum(len(c.text.split()) for c in result.chunks)
    # Each word is 0.2 s; trimming removes at most the last gap of each chunk.
    assert abs(result.audio.seconds - (words * 0.2 + pauses)) < 0.05 * 4 + 0.01
    assert all(c.cached for c in again.chunks) and not any(c.cached for c in result.chunks)
    np.testing.assert_array_equal(result.audio.samples, again.audio.samples)


@pytest.mark.slow
async def test_broken_chunk_is_detected_and_resynthesized(tmp_path: Path) -> None:
    # The tone engine speaks "gibberish" (tones): validation must hear it and fall back to piper.
    settings = Settings(
        data_dir=tmp_path, engines={"enable_test_engines": True, "workers": 2}, cache={"enabled": False}
    )
    text = "The garden was quiet this morning.\nWe walked along the river after lunch."
    async with Polyvox(settings) as polyvox:
        result = await synthesize_long(
            polyvox.synthesizer, SynthesisRequest(text=text, engine="tone"), validate=True
        )
    for chunk in result.chunks:
        assert chunk.wers[0] > 0.8, chunk  # the tone attempt was heard as wrong
        assert chunk.attempts == 2 and chunk.engine == "piper"
        assert chunk.wer is not None and chunk.wer <= 0.2
    assert result.wer is not None and result.wer <= 0.2


async def _file_audio(polyvox: Polyvox, request: SynthesisRequest, mode: StreamMode) -> np.ndarray:
    stream = await polyvox.synthesizer.open(request, mode=mode)
    async with stream:
        return np.concatenate([chunk.samples async for chunk in stream])


@pytest.mark.slow
async def test_a_file_sounds_the_same_either_side_of_the_threshold(
    tmp_path: Path, transcriber: Transcriber
) -> None:
    # One text rendered as a short file (FILE: one chunk after another) and as a long-form job (LONGFORM:
    # parallel chunks): the same chunks, mastering and pauses, so the same level and rhythm.
    settings = Settings(
        data_dir=tmp_path,
        engines={"workers": 2},
        cache={"enabled": False},
        postprocess={"master_files": True},
    )
    text, _ = generated_text(60)
    # piper without its sampled noise: the same chunks sound the same in both renderings, run after run.
    request = SynthesisRequest(text=text, engine="piper", extra={"noise_scale": 0.0, "noise_w": 0.0})
    async with Polyvox(settings) as polyvox:
        short = await _file_audio(polyvox, request, StreamMode.FILE)
        job = await synthesize_long(polyvox.synthesizer, request)
        live = await _file_audio(polyvox, request, StreamMode.LIVE)
    long, rate, target = job.audio.samples, job.audio.sample_rate, settings.postprocess.target_lufs
    levels = [loudness(audio, rate) for audio in (short, long, live)]
    print(f"loudness short/long/live {levels} (target {target})")
    for audio in (short, long):
        assert word_error_rate(text, transcriber.transcribe(audio, rate).text) <= 0.1
        # The paragraph pause between the chunks (piper's own pauses inside a sentence are shorter).
        assert _longest_silence(audio, rate) == pytest.approx(settings.postprocess.paragraph_pause, abs=0.08)
    assert len(short) / len(long) == pytest.approx(1.0, abs=0.05)  # piper samples its durations
    # Each chunk is levelled to the target or as near as the true-peak ceiling lets it: the same either way.
    assert abs(levels[0] - levels[1]) < 0.5
    assert levels[0] > levels[2] + 1.0  # a listener's stream is not mastered: it keeps piper's own level


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = Settings(
        data_dir=tmp_path, engines={"workers": 2}, max_text_length=200_000, server={"preload_default": False}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.mark.slow
async def test_long_text_through_the_native_api(app: FastAPI, transcriber: Transcriber) -> None:
    # 500 words: about 3 minutes of audio in a dozen chunks.
    text, sentences = generated_text(500)
    started = time.perf_counter()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://polyvox", timeout=600
    ) as client:
        reply = await client.post("/v1/synthesize", json={"text": text, "format": "wav"})
    synth_wall = time.perf_counter() - started
    assert reply.status_code == 200, reply.text
    assert int(reply.headers["X-Chunks"]) > 10
    samples, rate = wav_samples(reply.content)
    heard = transcriber.transcribe(samples, rate).text
    wer = word_error_rate(text, heard)
    print(f"synthesis {synth_wall:.1f} s for {len(samples) / rate:.0f} s of audio; WER {wer:.3f}")
    assert wer <= 0.08, wer
    # Every sentence in order: align the transcript to the input; each sentence must be mostly matched.
    ref = normalize_for_wer(text).split()
    hyp = normalize_for_wer(heard).split()
    matched = np.zeros(len(ref), dtype=bool)
    for block in difflib.SequenceMatcher(None, ref, hyp, autojunk=False).get_matching_blocks():
        matched[block.a : block.a + block.size] = True
    position = 0
    for sentence in sentences:
        n = len(sentence.split())
        share = matched[position : position + n].mean()
        assert share >= 0.6, f"sentence missing or garbled: {sentence!r} ({share:.0%})"
        position += n


@pytest.mark.slow
async def test_lexicon_and_inline_phonemes_change_what_whisper_hears(
    tmp_path: Path, transcriber: Transcriber
) -> None:
    settings = Settings(data_dir=tmp_path, engines={"workers": 2})
    async with Polyvox(settings) as polyvox:
        from polyvox.text.lexicon import Entry

        polyvox.synthesizer.lexicon.set("zorblat", Entry(say="banana"))
        said = await polyvox.synthesizer.synthesize(SynthesisRequest(text="I ate a zorblat."))
        inline = await polyvox.synthesizer.synthesize(
            SynthesisRequest(text="I saw a [zorblat](/ˈɛlɪfənt/) at the zoo.")
        )
    heard = [
        transcriber.transcribe(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate).text
        for _, chunks in (said, inline)
    ]
    assert "banana" in heard[0].lower(), heard
    assert "elephant" in heard[1].lower(), heard


def _longest_silence(samples: np.ndarray, rate: int) -> float:
    silent = np.concatenate([[0], (np.abs(samples) < 1e-6).astype(np.int8), [0]])
    edges = np.diff(silent)
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return float(runs.max()) / rate if len(runs) else 0.0


async def test_ssml_breaks_and_rates_survive_long_form(tmp_path: Path) -> None:
    # Tone engine: 150 ms tone + 50 ms gap per word, so pauses and rates are exact up to the trimmed gap.
    settings = Settings(
        data_dir=tmp_path, engines={"enable_test_engines": True, "workers": 2}, cache={"enabled": False}
    )
    documents = {
        "plain": "one two three four",
        "break": '<speak>one two <break time="1s"/> three four</speak>',
        "slow": '<speak>one two <prosody rate="50%">three four</prosody></speak>',
        "lead": '<speak><break time="700ms"/>one two three four</speak>',
    }
    async with Polyvox(settings) as polyvox:
        results = {
            name: await synthesize_long(polyvox.synthesizer, SynthesisRequest(text=text, engine="tone"))
            for name, text in documents.items()
        }
    rate = results["plain"].audio.sample_rate
    silence = {name: _longest_silence(r.audio.samples, rate) for name, r in results.items()}
    assert silence["plain"] < 0.1
    assert silence["break"] == pytest.approx(1.0, abs=0.05)  # the break, in place of the sentence pause
    assert silence["lead"] == pytest.approx(0.7, abs=0.01)
    assert [c.text for c in results["slow"].chunks] == ["one two", "three four"]
    normal, slow = (c.seconds for c in results["slow"].chunks)
    assert slow / normal == pytest.approx(2.0, abs=0.15)  # "three four" at half speed


@pytest.mark.slow
async def test_ssml_long_form_with_piper_keeps_pause_and_rate(app: FastAPI, transcriber: Transcriber) -> None:
    first, second = "The garden was quiet this morning.", "We walked along the river after lunch."
    documents = {
        "plain": f"<speak>{first} {second}</speak>",
        "marked": f'<speak>{first}<break time="2s"/><prosody rate="60%">{second}</prosody></speak>',
    }
    replies = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://polyvox", timeout=300
    ) as client:
        for name, document in documents.items():
            reply = await client.post("/v1/audio/speech/captioned", json={"input": document})
            assert reply.status_code == 200, reply.text
            replies[name] = reply.json()
    spans = {}
    for name, body in replies.items():
        samples, rate = wav_samples(base64.b64decode(body["audio"]))
        assert word_error_rate(f"{first} {second}", transcriber.transcribe(samples, rate).text) <= 0.1
        words = body["words"]
        assert [w["word"] for w in words] == f"{first} {second}".split()
        split = len(first.split())
        gap = words[split]["start"] - words[split - 1]["end"]
        spans[name] = (gap, words[-1]["end"] - words[split]["start"], _longest_silence(samples, rate))
    gap, slow, silent = spans["marked"]
    assert silent >= 1.95 and gap >= 1.9, spans  # the 2 s break is in the audio, between the sentences
    assert slow / spans["plain"][1] >= 1.4, spans  # the second sentence at 60% lasts ~1.67x as long
