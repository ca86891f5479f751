"""Incremental encoding of float32 audio into bytes a client can play, in the formats of
polyvox.audio.formats.

A :class:`StreamEncoder` turns one request's audio into container bytes piece by piece, so the first sentence
can be on the wire while the next one is still being synthesized. Raw formats (pcm, wav) are written here;
compressed ones go through PyAV (FFmpeg) with the muxer flushing after every packet.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.audio.dsp import Resampler
from polyvox.audio.formats import MEDIA_TYPES, AudioFormat, encoded_rate, validate_output
from polyvox.audio.pcm import float_to_int16, float_to_int24, quantize

# (muxer, encoder) per compressed format.
_PYAV_FORMATS: Mapping[AudioFormat, tuple[str, str]] = {
    AudioFormat.MP3: ("mp3", "libmp3lame"),
    AudioFormat.OPUS: ("ogg", "libopus"),
    AudioFormat.AAC: ("adts", "aac"),
    AudioFormat.FLAC: ("flac", "flac"),
    AudioFormat.ULAW: ("mulaw", "pcm_mulaw"),
    AudioFormat.ALAW: ("alaw", "pcm_alaw"),
    AudioFormat.WAV_ULAW: ("wav", "pcm_mulaw"),
    AudioFormat.WAV_ALAW: ("wav", "pcm_alaw"),
}
# Codecs whose input is integer PCM (the rest take floats and have no bit depth).
_INTEGER_CODECS = frozenset(
    {AudioFormat.FLAC, AudioFormat.ULAW, AudioFormat.ALAW, AudioFormat.WAV_ULAW, AudioFormat.WAV_ALAW}
)
# Ogg pages are closed every second by default, which would hold back a whole sentence; 60 ms keeps the tail
# that waits for the next sentence short while the per-page overhead stays around 0.5 kB/s.
_OGG_PAGE_DURATION_US = 60_000
_UNKNOWN_SIZE = 0xFFFFFFFF  # RIFF "size unknown": the streaming convention OpenAI and FFmpeg use
_ENCODE_BLOCK = 1 << 20  # samples per encoder call when a whole file is encoded at once


def wav_header(sample_rate: int, bit_depth: int = 16, num_samples: int | None = None) -> bytes:
    """A 44-byte mono PCM RIFF/WAVE header.

    Without ``num_samples`` the RIFF and data sizes are 0xFFFFFFFF, the "unknown length" convention for
    streamed WAV that FFmpeg and browsers accept. Sizes that do not fit 32 bits are clamped to it as well.
    """
    block_align = bit_depth // 8
    if num_samples is None:
        data_size = riff_size = _UNKNOWN_SIZE
    else:
        data_size = min(num_samples * block_align, _UNKNOWN_SIZE - 36)
        riff_size = data_size + 36
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * block_align, block_align, bit_depth)
        + b"data"
        + struct.pack("<I", data_size)
    )


def to_pcm(samples: FloatArray, bit_depth: int = 16) -> bytes:
    """Float samples to little-endian signed PCM: s16le, or packed 3-byte s24le."""
    return float_to_int16(samples) if bit_depth == 16 else float_to_int24(samples)


class _Sink:
    """A write-only, unseekable byte sink; being unseekable keeps muxers from seeking back into sent bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class StreamEncoder:
    """Incremental encoder for one request's audio.

    Feed mono float32 samples at ``sample_rate`` to :meth:`encode` and send what it returns right away, then
    send :meth:`finish`'s bytes. If the format only supports other rates (see :func:`encoded_rate`) the
    samples are resampled on the way in, so :attr:`output_rate` may differ from ``sample_rate``.

    With ``output`` (a seekable binary file) the bytes go there instead and the methods return ``b""``;
    :meth:`finish` then fills in what needs the total length: WAV sizes, FLAC STREAMINFO, the MP3 Xing frame.
    """

    def __init__(
        self,
        fmt: AudioFormat,
        sample_rate: int,
        bit_depth: int = 16,
        *,
        output: BinaryIO | None = None,
    ) -> None:
        validate_output(fmt, sample_rate, bit_depth)
        self.format = fmt
        self.sample_rate = sample_rate
        self.bit_depth = bit_depth
        self.output_rate = encoded_rate(fmt, sample_rate)
        self._output = output
        self._resampler = Resampler(sample_rate, self.output_rate)
        self._samples_written = 0
        self._finished = False
        self._header_pending = fmt is AudioFormat.WAV
        self._sink = _Sink()
        self._container: Any = None  # av OutputContainer; PyAV's stubs type it too loosely to help here
        self._stream: Any = None
        if fmt in _PYAV_FORMATS:
            self._open_container()

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` for this encoder's bytes."""
        return MEDIA_TYPES[self.format]

    def _open_container(self) -> None:
        muxer, codec = _PYAV_FORMATS[self.format]
        # flush_packets: write each packet to our sink as soon as it is muxed, not when a 32 kB buffer fills.
        container_options = {"flush_packets": "1"}
        if self.format is AudioFormat.OPUS:
            container_options["page_duration"] = str(_OGG_PAGE_DURATION_US)
        stream_options: dict[str, str] = {}
        if self.format is AudioFormat.FLAC and self.bit_depth == 24:
            # FLAC has no s24 sample format: 24-bit goes in s32 with the real width declared to the encoder.
            stream_options["bits_per_raw_sample"] = "24"
        target: Any = self._output if self._output is not None else self._sink
        self._container = av.open(target, mode="w", format=muxer, container_options=container_options)
        stream = self._container.add_stream(codec, rate=self.output_rate, options=stream_options)
        stream.layout = "mono"
        if self.format is AudioFormat.FLAC:
            stream.format = "s32" if self.bit_depth == 24 else "s16"
        self._stream = stream

    def _emit(self, data: bytes) -> bytes:
        """Route raw-format bytes to the file when there is one, else hand them back."""
        if self._output is not None:
            self._output.write(data)
            return b""
        return data

    def _frame(self, samples: FloatArray) -> Any:
        """An av AudioFrame of ``samples``; codecs that take integers get ours, as WAV has them (FFmpeg's own
        float conversion scales by 32768, ours by 32767: FLAC and WAV of one audio would differ by a bit)."""
        if self.format not in _INTEGER_CODECS:
            return av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        ints = quantize(samples, self.bit_depth).reshape(1, -1)
        if self.bit_depth == 16:
            return av.AudioFrame.from_ndarray(ints.astype(np.int16), format="s16", layout="mono")
        # 24-bit FLAC is fed s32 (see _open_container): the 24 significant bits left-aligned.
        return av.AudioFrame.from_ndarray(ints << 8, format="s32", layout="mono")

    def _encode_samples(self, samples: FloatArray) -> bytes:
        if len(samples) == 0:
            return b""
        self._samples_written += len(samples)
        if self._container is None:
            return self._emit(to_pcm(samples, self.bit_depth))
        frame = self._frame(samples)
        frame.sample_rate = self.output_rate
        # PyAV re-chunks to the codec's frame size itself (its codec context holds an AudioResampler).
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.drain()

    def encode(self, samples: FloatArray) -> bytes:
        """Encode the next piece of audio; returns the bytes ready now (possibly ``b""``)."""
        if self._finished:
            raise RuntimeError("encode() called after finish()")
        head = b""
        if self._header_pending:
            self._header_pending = False
            head = self._emit(wav_header(self.output_rate, self.bit_depth))
        return head + self._encode_samples(self._resampler.process(samples))

    def finish(self) -> bytes:
        """Flush the resampler, codec and container; returns the last bytes. Call exactly once."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        out = self.encode(np.zeros(0, dtype=np.float32))  # writes the WAV header even for empty audio
        out += self._encode_samples(self._resampler.flush())
        self._finished = True
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            # With no audio at all nothing was muxed yet; write the header anyway so the output is a valid,
            # empty file rather than zero bytes.
            self._container.start_encoding()
            self._container.close()
            self._container = None
            out += self._sink.drain()
        elif self.format is AudioFormat.WAV and self._output is not None:
            # A file can be patched: replace the "unknown size" header with the real sizes.
            end = self._output.tell()
            self._output.seek(0)
            self._output.write(wav_header(self.output_rate, self.bit_depth, self._samples_written))
            self._output.seek(end)
        return out

    def close(self) -> None:
        """Release the codec without flushing (for abandoned requests); safe to call more than once."""
        self._finished = True
        if self._container is not None:
            with contextlib.suppress(Exception):  # the output is being thrown away anyway
                self._container.close()
            self._container = None


def encode_whole(samples: FloatArray, fmt: AudioFormat, sample_rate: int, bit_depth: int = 16) -> bytes:
    """A complete file in ``fmt``, with the headers that need its length: WAV sizes, FLAC STREAMINFO, the MP3
    Xing frame.

    Encoded block by block into one buffer, so a book-length job's file is not copied several times over.
    """
    buffer = io.BytesIO()
    encoder = StreamEncoder(fmt, sample_rate, bit_depth, output=buffer)
    try:
        for start in range(0, len(samples), _ENCODE_BLOCK):
            encoder.encode(samples[start : start + _ENCODE_BLOCK])
        encoder.finish()
    finally:
        encoder.close()
    return buffer.getvalue()


def _umask() -> int:
    """The process umask, read without changing it where the OS says it (Linux), else set and restored."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def encode_file(
    chunks: Iterable[FloatArray],
    path: str | os.PathLike[str],
    fmt: AudioFormat,
    sample_rate: int,
    bit_depth: int = 16,
) -> None:
    """Encode ``chunks`` into ``path`` atomically.

    Writes a temporary file next to ``path`` and renames it into place only once everything is encoded, so a
    failure midway (engine error, Ctrl-C) never leaves a partial or truncated file behind.
    """
    validate_output(fmt, sample_rate, bit_depth)
    target = Path(path)
    # Same directory, so the final rename is atomic and never crosses file systems.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            encoder = StreamEncoder(fmt, sample_rate, bit_depth, output=file)
            try:
                for samples in chunks:
                    encoder.encode(samples)
                encoder.finish()
            finally:
                encoder.close()
        # mkstemp makes the file 0600; the finished file gets the permissions any new file would.
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


async def encode_stream(
    chunks: AsyncIterator[FloatArray],
    fmt: AudioFormat,
    sample_rate: int,
    bit_depth: int = 16,
) -> AsyncIterator[bytes]:
    """Encode an async stream of sample arrays, yielding each non-empty piece of bytes as soon as it exists.

    Encoding a sentence takes milliseconds, so it runs inline on the event loop.
    """
    encoder = StreamEncoder(fmt, sample_rate, bit_depth)
    try:
        async for samples in chunks:
            data = encoder.encode(samples)
            if data:
                yield data
        data = encoder.finish()
        if data:
            yield data
    finally:
        encoder.close()
