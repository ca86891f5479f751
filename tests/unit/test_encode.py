"""Output formats: validation, incremental encoding, and decoding the result back with FFmpeg."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import StreamEncoder, encode_file, encode_stream, encode_whole, wav_header
from polyvox.audio.formats import (
    AAC_RATES,
    FILE_EXTENSIONS,
    LOSSLESS_24_BIT,
    MEDIA_TYPES,
    MP3_RATES,
    OPUS_RATES,
    AudioFormat,
    decoded_rate,
    encoded_rate,
    format_from_filename,
    parse_format,
    validate_output,
)
from polyvox.audio.pcm import float_to_int16
from polyvox.errors import InvalidParameterError, UnsupportedFormatError

RATES = (8000, 16000, 22050, 24000, 44100, 48000)
CASES = [
    (fmt, rate, depth)
    for fmt in AudioFormat
    for rate in RATES
    for depth in ((16, 24) if fmt in LOSSLESS_24_BIT else (16,))
]
# Samples per codec frame: ADTS and a streamed MP3 cannot tell the decoder to drop the encoder's priming and
# padding, so decoded audio is longer by up to about two frames (a lot at 8 kHz).
PRIMING_FRAMES = {AudioFormat.MP3: 2 * 1152, AudioFormat.AAC: 2 * 1024}


def signal(rate: int, seconds: float = 1.0, seed: int = 0) -> FloatArray:
    t = np.arange(round(rate * seconds)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t)) * 0.02
    return (0.4 * np.sin(2 * np.pi * 330 * t) + noise).astype(np.float32)


RAW_G711 = {AudioFormat.ULAW: "mulaw", AudioFormat.ALAW: "alaw"}
"""Headerless formats FFmpeg must be told the demuxer of."""


def decode(data: bytes, fmt: AudioFormat | None = None) -> tuple[np.ndarray, int, str]:
    """All samples (first channel, as float64), the stream's rate and the decoder's sample format."""
    muxer = RAW_G711.get(fmt) if fmt is not None else None
    options = {"sample_rate": "8000"} if muxer else {}
    with av.open(io.BytesIO(data), mode="r", format=muxer, options=options) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
        fmt = stream.codec_context.format.name
        rate = stream.sample_rate
    samples = np.concatenate([f.reshape(f.shape[0], -1)[0] for f in frames]) if frames else np.zeros(0)
    return samples.astype(np.float64), rate, fmt


def flac_bits_per_sample(data: bytes) -> int:
    """Bits per sample from the STREAMINFO block that follows the ``fLaC`` marker."""
    assert data[:4] == b"fLaC"
    info = data[8:42]
    return (((info[12] & 0x01) << 4) | (info[13] >> 4)) + 1


@pytest.mark.parametrize(("fmt", "rate", "depth"), CASES, ids=lambda v: str(v))
def test_incremental_encoding_decodes_back(fmt: AudioFormat, rate: int, depth: int) -> None:
    encoder = StreamEncoder(fmt, rate, depth)
    chunks = [signal(rate, 1.0, seed) for seed in range(3)]
    parts = [encoder.encode(chunk) for chunk in chunks]
    parts.append(encoder.finish())
    data = b"".join(parts)
    out_rate = encoded_rate(fmt, rate)
    assert encoder.output_rate == out_rate

    # The first sentence is playable before the second one exists.
    assert parts[0]
    if fmt is AudioFormat.PCM:
        assert len(parts[0]) == rate * depth // 8
        assert len(data) == 3 * rate * depth // 8
        return
    first, _, _ = decode(parts[0], fmt)
    assert len(first) >= 0.5 * decoded_rate(fmt, rate)

    decoded, got_rate, sample_format = decode(data, fmt)
    assert got_rate == decoded_rate(fmt, rate)
    seconds = len(decoded) / got_rate
    slack = 0.05 * 3.0 + PRIMING_FRAMES.get(fmt, 0) / out_rate
    assert abs(seconds - 3.0) <= slack

    if fmt is AudioFormat.WAV:
        assert data[:4] == b"RIFF" and data[4:8] == b"\xff\xff\xff\xff"
        assert sample_format == ("s16" if depth == 16 else "s32")
    if fmt is AudioFormat.FLAC:
        assert flac_bits_per_sample(data) == depth
    if fmt in (AudioFormat.WAV, AudioFormat.FLAC):
        # Lossless: what comes back is what went in, to the quantization step.
        scale = 32768.0 if depth == 16 else 2.0**31  # 24-bit decodes left-aligned in s32
        expected = np.concatenate(chunks).astype(np.float64)
        got = decoded / scale
        assert np.corrcoef(expected, got)[0, 1] > 0.9999
        assert np.abs(expected - got).max() < (1e-4 if depth == 16 else 1e-6)
    if depth == 24 and fmt is AudioFormat.FLAC:
        raw = decoded.astype(np.int64)
        assert not (raw & 0xFF).any() and (raw & 0xFF00).any()  # really 24 significant bits


def test_pcm_24_bit_is_packed_little_endian() -> None:
    encoder = StreamEncoder(AudioFormat.PCM, 8000, 24)
    data = encoder.encode(np.array([0.0, 1.0, -1.0, 0.5], dtype=np.float32)) + encoder.finish()
    assert len(data) == 4 * 3
    values = [int.from_bytes(data[i : i + 3], "little", signed=True) for i in range(0, 12, 3)]
    assert values == [0, 8388607, -8388607, 4194304]


def test_lossy_codecs_pass_the_signal() -> None:
    rate = 24000
    for fmt in (AudioFormat.MP3, AudioFormat.OPUS, AudioFormat.AAC):
        encoder = StreamEncoder(fmt, rate)
        data = encoder.encode(signal(rate, 1.0)) + encoder.finish()
        decoded, _, _ = decode(data)
        rms = float(np.sqrt(np.mean(decoded**2)))
        assert 0.2 < rms < 0.35, fmt  # the input's RMS is about 0.28


def test_encoder_resamples_to_the_codec_rate() -> None:
    encoder = StreamEncoder(AudioFormat.OPUS, 22050)
    assert encoder.output_rate == 24000
    data = encoder.encode(signal(22050, 1.0)) + encoder.finish()
    decoded, rate, _ = decode(data)
    assert rate == 48000 and abs(len(decoded) / rate - 1.0) < 0.02


def test_empty_audio_finishes_cleanly() -> None:
    for fmt in AudioFormat:
        data = StreamEncoder(fmt, 24000).finish()
        if fmt in (AudioFormat.WAV, AudioFormat.FLAC):  # the formats that can say "no samples" validly
            decoded, _, _ = decode(data)
            assert len(decoded) == 0


def test_finish_twice_and_encode_after_finish_raise() -> None:
    encoder = StreamEncoder(AudioFormat.MP3, 24000)
    encoder.finish()
    with pytest.raises(RuntimeError):
        encoder.finish()
    with pytest.raises(RuntimeError):
        encoder.encode(signal(24000, 0.1))
    encoder.close()


def test_parse_format_and_errors() -> None:
    assert parse_format("MP3") is AudioFormat.MP3
    assert parse_format(" opus ") is AudioFormat.OPUS
    with pytest.raises(UnsupportedFormatError) as info:
        parse_format("ogg-vorbis")
    assert info.value.param == "response_format"
    assert "wav" in info.value.message and "flac" in info.value.message
    with pytest.raises(UnsupportedFormatError) as info:
        parse_format("m4a", param_name="format")
    assert info.value.param == "format"


@pytest.mark.parametrize(
    ("fmt", "rate", "depth", "param"),
    [
        (AudioFormat.WAV, 7999, 16, "sample_rate"),
        (AudioFormat.OPUS, 48001, 16, "sample_rate"),
        (AudioFormat.MP3, 24000, 24, "bit_depth"),
        (AudioFormat.OPUS, 24000, 24, "bit_depth"),
        (AudioFormat.AAC, 24000, 24, "bit_depth"),
        (AudioFormat.WAV, 24000, 8, "bit_depth"),
        (AudioFormat.FLAC, 24000, 32, "bit_depth"),
    ],
)
def test_validate_output_rejects(fmt: AudioFormat, rate: int, depth: int, param: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        validate_output(fmt, rate, depth)
    assert info.value.param == param
    assert not isinstance(info.value, UnsupportedFormatError)
    with pytest.raises(InvalidParameterError):
        StreamEncoder(fmt, rate, depth)


def test_validate_output_accepts_edges() -> None:
    for fmt in AudioFormat:
        validate_output(fmt, 8000, 16)
        validate_output(fmt, 48000, 16)
    for fmt in LOSSLESS_24_BIT:
        validate_output(fmt, 44100, 24)


def test_encoded_rate_rules() -> None:
    assert encoded_rate(AudioFormat.OPUS, 22050) == 24000
    assert encoded_rate(AudioFormat.OPUS, 44100) == 48000
    assert encoded_rate(AudioFormat.OPUS, 11025) == 12000
    assert encoded_rate(AudioFormat.OPUS, 16000) == 16000
    assert encoded_rate(AudioFormat.MP3, 10000) == 11025
    assert encoded_rate(AudioFormat.AAC, 30000) == 32000
    for fmt in (AudioFormat.WAV, AudioFormat.PCM, AudioFormat.FLAC):
        assert encoded_rate(fmt, 12345) == 12345
    for rate in RATES:
        assert encoded_rate(AudioFormat.MP3, rate) == rate
        assert encoded_rate(AudioFormat.AAC, rate) == rate
    assert decoded_rate(AudioFormat.OPUS, 8000) == 48000


def test_rate_tables_match_the_encoders() -> None:
    # The tables are what FFmpeg's encoders accept; a new FFmpeg dropping a rate must fail here, not in prod.
    for codec, rates in (("libopus", OPUS_RATES), ("libmp3lame", MP3_RATES), ("aac", AAC_RATES)):
        supported = av.Codec(codec, "w").audio_rates
        assert supported is not None and set(rates) <= set(supported), codec


def test_media_types_and_extensions() -> None:
    assert set(MEDIA_TYPES) == set(AudioFormat) == set(FILE_EXTENSIONS)
    assert MEDIA_TYPES[AudioFormat.PCM] == "audio/pcm"
    assert MEDIA_TYPES[AudioFormat.MP3] == "audio/mpeg"
    assert MEDIA_TYPES[AudioFormat.OPUS].startswith("audio/ogg")
    assert format_from_filename("a/b/speech.OGG") is AudioFormat.OPUS
    assert format_from_filename(Path("x.opus")) is AudioFormat.OPUS
    assert format_from_filename("x.raw") is AudioFormat.PCM
    for fmt, extensions in FILE_EXTENSIONS.items():
        if extensions:  # G.711 in WAV is asked for by name only (.wav means 16-bit PCM)
            assert format_from_filename(f"out{extensions[0]}") is fmt
    for bad in ("speech.m4a", "speech"):
        with pytest.raises(UnsupportedFormatError) as info:
            format_from_filename(bad)
        assert info.value.param == "format"


def test_wav_header_sizes() -> None:
    streaming = wav_header(24000, 16)
    assert len(streaming) == 44 and streaming[40:44] == b"\xff\xff\xff\xff"
    sized = wav_header(24000, 24, num_samples=10)
    assert int.from_bytes(sized[40:44], "little") == 30
    assert int.from_bytes(sized[4:8], "little") == 66


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_encode_file_writes_complete_file(tmp_path: Path, fmt: AudioFormat) -> None:
    path = tmp_path / f"speech{(*FILE_EXTENSIONS[fmt], '.wav')[0]}"
    encode_file((signal(24000, 0.5, seed) for seed in range(2)), path, fmt, 24000)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    data = path.read_bytes()
    if fmt is AudioFormat.PCM:
        assert len(data) == 24000 * 2
        return
    if fmt is AudioFormat.WAV:
        assert int.from_bytes(data[40:44], "little") == 24000 * 2  # real sizes, not the streaming marker
        assert int.from_bytes(data[4:8], "little") == len(data) - 8
    decoded, rate, _ = decode(data, fmt)
    assert abs(len(decoded) / rate - 1.0) <= 0.05 + PRIMING_FRAMES.get(fmt, 0) / 24000


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_encode_whole_is_the_file_encode_file_writes(tmp_path: Path, fmt: AudioFormat) -> None:
    samples = np.concatenate([signal(24000, 0.5, seed) for seed in range(2)])
    data = encode_whole(samples, fmt, 24000)
    if fmt is not AudioFormat.OPUS:  # Ogg picks a random stream serial number per file
        encode_file([samples], tmp_path / "speech.out", fmt, 24000)
        assert data == (tmp_path / "speech.out").read_bytes()
    if fmt is AudioFormat.WAV:  # real sizes, and the samples through the one int16 conversion
        assert data[:44] == wav_header(24000, 16, len(samples))
        assert data[44:] == float_to_int16(samples)
    if fmt is AudioFormat.FLAC:  # STREAMINFO's 36-bit total sample count is filled in
        info = data[8:42]
        assert ((info[13] & 0x0F) << 32) | int.from_bytes(info[14:18], "big") == len(samples)
    if fmt is AudioFormat.MP3:  # the Xing/Info frame that gives players the exact length
        assert b"Xing" in data[:1024] or b"Info" in data[:1024]


@pytest.mark.parametrize("depth", [16, 24])
def test_flac_carries_the_same_integers_as_wav(depth: int) -> None:
    # FFmpeg's own float conversion scales by 32768 where ours (WAV, PCM, Wyoming, MaryTTS) scales by 32767:
    # fed its floats, FLAC differed from WAV by one step in about half the samples.
    samples = np.random.default_rng(1).uniform(-1.0, 1.0, 24000).astype(np.float32)
    wav, _, wav_format = decode(encode_whole(samples, AudioFormat.WAV, 24000, depth))
    flac, _, flac_format = decode(encode_whole(samples, AudioFormat.FLAC, 24000, depth))
    assert wav_format == flac_format == ("s16" if depth == 16 else "s32")
    assert np.array_equal(wav, flac)
    if depth == 16:
        assert np.array_equal(wav, np.frombuffer(float_to_int16(samples), "<i2"))


@pytest.mark.parametrize("fmt", [AudioFormat.WAV, AudioFormat.MP3, AudioFormat.FLAC])
def test_encode_file_leaves_nothing_when_the_source_fails(tmp_path: Path, fmt: AudioFormat) -> None:
    path = tmp_path / "speech.out"

    def failing() -> Iterator[FloatArray]:
        yield signal(24000, 0.5)
        raise RuntimeError("engine died")

    with pytest.raises(RuntimeError, match="engine died"):
        encode_file(failing(), path, fmt, 24000)
    assert list(tmp_path.iterdir()) == []


def test_encode_file_keeps_an_existing_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    path.write_bytes(b"old")

    def failing() -> Iterator[FloatArray]:
        raise RuntimeError("boom")
        yield signal(8000)  # pragma: no cover

    with pytest.raises(RuntimeError):
        encode_file(failing(), path, AudioFormat.WAV, 8000)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["speech.wav"]


async def test_encode_stream_yields_per_chunk() -> None:
    async def source() -> AsyncIterator[FloatArray]:
        for seed in range(3):
            yield signal(16000, 1.0, seed)

    pieces = [piece async for piece in encode_stream(source(), AudioFormat.MP3, 16000)]
    assert len(pieces) >= 3 and all(pieces)
    decoded, rate, _ = decode(b"".join(pieces))
    assert rate == 16000 and abs(len(decoded) / rate - 3.0) < 0.15
