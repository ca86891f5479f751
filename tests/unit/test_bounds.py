"""The bounds of issue 14, one unit at a time: parameters, text, SSML, numbers, lexicon, uploads, buckets."""

from __future__ import annotations

import asyncio
import io
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile
from tests.conftest import make_settings

from polyvox.api.ops.ratelimit import MAX_BUCKETS, TokenBuckets
from polyvox.bounds import check_extra, check_text, estimated_seconds
from polyvox.engines.base import EngineInfo, Param
from polyvox.errors import (
    AudioTooLongError,
    InvalidParameterError,
    InvalidTextError,
    PayloadTooLargeError,
)
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox
from polyvox.text import normalize, segment
from polyvox.text.lexicon import Entry, Lexicon
from polyvox.text.normalize import normalize_text
from polyvox.text.segment import segment_text, split_long_words
from polyvox.text.ssml import parse_ssml
from polyvox.voices.decode import UndecodableAudioError, decode_audio
from polyvox.wyoming.read import read_event

INFO = EngineInfo(
    name="x",
    label="X",
    description="",
    languages=("en",),
    sample_rate=16000,
    parameters=(
        Param("length_scale", 0.1, 4.0, 1.0),
        Param("top_k", 1, 100, 50, integer=True),
        Param("noise_w", 0.0, 2.0, aliases=("noise_w_scale",)),
    ),
)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"length_scale": 250}, "length_scale"),
        ({"length_scale": 0.0}, "length_scale"),
        ({"length_scale": math.nan}, "length_scale"),
        ({"length_scale": math.inf}, "length_scale"),
        ({"noise_w_scale": 1e306}, "noise_w_scale"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_k": "ten"}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"top_k": [3]}, "top_k"),
    ],
)
def test_parameters_outside_their_range_are_refused(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        check_extra(INFO, extra)
    assert caught.value.code == "invalid_parameter" and caught.value.param == param


def test_parameters_within_range_and_unknown_ones_pass() -> None:
    check_extra(INFO, {"length_scale": 4.0, "top_k": 3.0, "noise_w": 0, "temperature": 99, "top_p": None})


def test_lone_surrogates_are_invalid_text() -> None:
    with pytest.raises(InvalidTextError, match="U\\+DC80"):
        check_text("fine \udc80")
    check_text("naïve café 日本 🎉")


def test_long_words_are_split_and_segments_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert split_long_words("a" * 250 + " b", 100) == " ".join(["a" * 100, "a" * 100, "a" * 50]) + " b"
    # pysbd is quadratic in what it is given: no piece handed to it may be longer than PIECE_CHARS, whatever
    # the text's length (counted, not timed).
    given: list[int] = []
    real = segment._segmenter

    def recording(language: str) -> Any:
        inner = real(language)
        return SimpleNamespace(segment=lambda text: given.append(len(text)) or inner.segment(text))

    monkeypatch.setattr(segment, "_segmenter", recording)
    segments = segment_text("ab" * 40000)
    assert given and max(given) <= segment.PIECE_CHARS
    assert max(len(s) for s in segments) <= 400
    assert max(len(w) for s in segments for w in s.split()) <= 100


@pytest.mark.parametrize(
    "text",
    ["9" * 1999, "1" + "0" * 4400 + "th", "1," * 5000, "$" + "9" * 500, "3/" + "9" * 500, "-" + "9" * 5000],
)
def test_numbers_of_thousands_of_digits_are_read_digit_by_digit(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # int() of thousands of digits is slow and num2words has no names past MAX_NUMBER_DIGITS: no number that
    # long may reach it (recorded, not timed).
    numbers: list[int] = []
    real = normalize.num2words

    def recording(number: Any, **kwargs: Any) -> Any:
        numbers.append(number)
        return real(number, **kwargs)

    monkeypatch.setattr(normalize, "num2words", recording)
    spoken = normalize_text(text)
    assert all(len(str(abs(int(n)))) <= normalize.MAX_NUMBER_DIGITS for n in numbers), numbers
    assert not any(c.isdigit() for c in spoken)
    assert len(spoken.split()) <= sum(c.isdigit() for c in text) + 3


def test_numbers_num2words_knows_are_still_words() -> None:
    assert normalize_text("1,234 and 23rd") == "one thousand two hundred and thirty-four and twenty-third"


def test_ssml_bounds() -> None:
    with pytest.raises(InvalidTextError, match="pauses"):
        parse_ssml("<speak>a" + '<break time="30s"/>' * 200 + "b</speak>")
    with pytest.raises(InvalidTextError, match="deeper"):
        parse_ssml("<speak>" + "<emphasis>" * 1000 + "x" + "</emphasis>" * 1000 + "</speak>")
    pieces = parse_ssml('<speak>a<break time="100s"/>b</speak>', max_break=10.0)
    assert [p.pause for p in pieces if not p.text] == [10.0]
    assert parse_ssml("<speak>" + "<emphasis>" * 20 + "x" + "</emphasis>" * 20 + "</speak>")[0].text == "x"
    for kind in ("cardinal", "ordinal", "date"):
        text = parse_ssml(f'<speak><say-as interpret-as="{kind}">{"9" * 5000}</say-as></speak>')[0].text
        assert text.startswith("nine nine")


def test_lexicon_survives_unicode_case_folding(tmp_path: Path) -> None:
    lexicon = Lexicon(tmp_path / "lexicon.json")
    lexicon.set("sun", Entry(say="sunn"), "en")
    lexicon.set("is", Entry(say="iz"), "en")
    # "ſun" folds to "sun" (respelled); "İs" folds to "i̇s", which names no entry (left alone).
    assert lexicon.apply("The ſun İs up; Sun is.", "en", False) == "The sunn İs up; sunn iz."


def test_estimate_counts_pauses_speed_and_duration_scale() -> None:
    assert estimated_seconds(["a" * 150], None, 1.0, {}) == pytest.approx(10.0)
    assert estimated_seconds(["a" * 150], None, 0.5, {"length_scale": 2.0}) == pytest.approx(40.0)


async def test_audio_ceiling_before_synthesis_and_in_band(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engines={"default": "tone"}, limits={"max_audio_seconds": 10})
    async with Polyvox(settings) as polyvox:
        with pytest.raises(AudioTooLongError):
            await polyvox.synthesizer.open(SynthesisRequest(text="word " * 200))
        # One-letter words: the tone engine gives each 0.2 s, the estimate ~0.13 s: it passes up front.
        stream = await polyvox.synthesizer.open(SynthesisRequest(text="a. " * 60))
        with pytest.raises(AudioTooLongError):
            async with stream:
                async for _ in stream:
                    pass
        assert stream.error is not None and stream.error.code == "audio_too_long"
        assert 9.0 < stream.stats.audio_seconds <= 10.0


def _flac(seconds: float, rate: int) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, np.zeros(int(seconds * rate), dtype=np.int16), rate, format="FLAC")
    return out.getvalue()


def test_uploads_are_checked_before_decoding() -> None:
    with pytest.raises(UndecodableAudioError, match="655350 Hz"):
        decode_audio(_flac(5, 655_350))
    with pytest.raises(PayloadTooLargeError, match="declares"):
        decode_audio(_flac(120, 8000), max_seconds=60)
    samples = decode_audio(_flac(2, 44100), rate=24000)
    assert abs(len(samples) - 48000) < 100


def test_rate_limit_buckets_are_evicted() -> None:
    buckets = TokenBuckets(rate=1000.0, burst=5)
    for i in range(MAX_BUCKETS + 500):
        buckets.take(f"client-{i}", now=0.0)  # all at once: none refilled, yet the count is bounded
    assert len(buckets) <= MAX_BUCKETS
    buckets.take("late", now=1.0)  # a while later every idle bucket is full again and forgotten
    assert len(buckets) == 1


async def _read(data: bytes, cap: int) -> object:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return await read_event(reader, cap)


async def test_wyoming_declared_lengths_are_capped() -> None:
    with pytest.raises(PayloadTooLargeError, match="data_length"):
        await _read(b'{"type": "synthesize", "data_length": 2000000000}\n', 1024)
    with pytest.raises(PayloadTooLargeError, match="payload_length"):
        await _read(b'{"type": "audio-chunk", "payload_length": 99999}\n', 1024)
    with pytest.raises(InvalidParameterError):
        await _read(b"[1, 2]\n", 1024)
    event = await _read(b'{"type": "synthesize", "data_length": 15}\n{"text": "hi."}', 1024)
    assert getattr(event, "data", None) == {"text": "hi."}
