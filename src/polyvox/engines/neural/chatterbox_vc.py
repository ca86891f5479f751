"""Voice conversion with Chatterbox's own model: S3Gen re-speaks the input's speech tokens as the target.

The input is tokenized by S3Gen's speech tokenizer (16 kHz, 25 tokens a second: what is said and how it is
timed) and S3Gen decodes those tokens conditioned on the target's reference (its mel prompt and speaker
embedding), as chatterbox's ``ChatterboxVC`` does. It needs only ``s3gen.safetensors`` of the chatterbox
folder; when that file is there the ``auto`` converter setting picks this converter, else WORLD.

Long inputs are converted in pieces of ``CHUNK_SECONDS`` that overlap by ``OVERLAP`` seconds and are
crossfaded, so memory stays bounded and the first audio comes after one piece. S3Gen is loaded on the
first conversion (in a worker thread, never on the event loop) and kept; each target's reference embedding
is computed once per reference content.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from polyvox.audio.chunk import FloatArray
from polyvox.engines.neural.chatterbox import (
    DECODER_SECONDS,
    SAMPLE_RATE,
    TOKENIZER_RATE,
    audio_samples,
    load_s3gen,
)
from polyvox.engines.neural.runtime import choose_device
from polyvox.engines.neural.weights import missing_files, model_dir
from polyvox.errors import EngineUnavailableError
from polyvox.voices.convert import ConverterCapabilities

if TYPE_CHECKING:
    from polyvox.config import Settings
    from polyvox.voices.library import LibraryVoice

S3GEN_FILE = "s3gen.safetensors"
CHUNK_SECONDS = 20.0
OVERLAP = 0.2
_REFERENCES_KEPT = 16


class ChatterboxSession:
    """Converts one request's audio toward one target (see the module docstring)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, converter: ChatterboxConverter, reference: FloatArray) -> None:
        self._converter = converter
        self._reference = reference

    def convert(self, samples: FloatArray, rate: int) -> Iterator[FloatArray]:
        import soxr

        s3gen, lock = self._converter.model()
        ref_dict = self._converter.reference_embedding(self._reference)
        x = soxr.resample(samples, rate, TOKENIZER_RATE) if rate != TOKENIZER_RATE else samples
        x = np.ascontiguousarray(x, dtype=np.float32)
        size, overlap = int(CHUNK_SECONDS * TOKENIZER_RATE), int(OVERLAP * TOKENIZER_RATE)
        out_size = int(CHUNK_SECONDS * SAMPLE_RATE)
        fade = np.linspace(0.0, 1.0, int(OVERLAP * SAMPLE_RATE), dtype=np.float32)
        tail: FloatArray | None = None
        start = 0
        while start < len(x):
            last = start + size >= len(x)
            with lock:
                y = _respeak(s3gen, x[start : len(x) if last else start + size + overlap], ref_dict)
            if tail is not None:  # crossfade the previous piece's tail into this piece's head
                head = min(len(tail), len(y))
                y[:head] = tail[:head] * fade[::-1][:head] + y[:head] * fade[:head]
            if last:
                yield y
                return
            yield y[:out_size]
            tail = y[out_size:]
            start += size


def _respeak(s3gen: Any, audio_16k: FloatArray, ref_dict: dict[str, Any]) -> FloatArray:
    import torch

    with torch.inference_mode():
        tokens, _ = s3gen.tokenizer(torch.from_numpy(audio_16k).unsqueeze(0).to(s3gen.device))
        wav, _ = s3gen.inference(speech_tokens=tokens, ref_dict=dict(ref_dict))
    return audio_samples(wav)


class ChatterboxConverter:
    """Chatterbox S3Gen voice conversion (speaker identity from the reference; needs its weights)."""

    name: ClassVar[str] = "chatterbox"
    capabilities: ClassVar[ConverterCapabilities] = ConverterCapabilities(
        streaming=True, neural=True, sample_rate=SAMPLE_RATE, min_reference_seconds=1.0
    )

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.folder = model_dir(settings, "chatterbox")
        self._s3gen: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._references: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.embedded = 0
        """Reference embeddings computed (each target's once per reference content)."""

    @classmethod
    def available(cls, settings: Settings) -> bool:
        """Whether the chatterbox folder holds S3Gen's weights (the ``auto`` setting then picks it)."""
        return not missing_files(model_dir(settings, "chatterbox"), (S3GEN_FILE,))

    def open(self, target: LibraryVoice, reference: FloatArray) -> ChatterboxSession:
        """A session toward ``target`` (cheap: the model loads on the first conversion, in a thread)."""
        if not self.available(self._settings):
            raise EngineUnavailableError(
                f"the chatterbox converter needs {S3GEN_FILE} in {self.folder} "
                "(from Resemble AI's chatterbox model)"
            )
        return ChatterboxSession(self, reference)

    def model(self) -> tuple[Any, threading.Lock]:
        """S3Gen (loaded once) and the lock its forward passes run under."""
        with self._load_lock:
            if self._s3gen is None:
                self._s3gen = self._load()
            return self._s3gen, self._run_lock

    def _load(self) -> Any:
        placement = choose_device(self._settings, "chatterbox", supports_half=False)
        try:
            s3gen = load_s3gen(self.folder / S3GEN_FILE)
        except Exception as exc:  # unreadable weights are the installation's problem: 503, never a 500
            raise EngineUnavailableError(
                f"the chatterbox converter could not load {self.folder / S3GEN_FILE}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return s3gen.to(placement.device).eval()

    def reference_embedding(self, reference: FloatArray) -> dict[str, Any]:
        """S3Gen's conditioning on ``reference`` (24 kHz), computed once per reference content."""
        import torch

        key = hashlib.sha256(np.ascontiguousarray(reference, dtype=np.float32).tobytes()).hexdigest()
        with self._load_lock:
            if key in self._references:
                self._references.move_to_end(key)
                return self._references[key]
        s3gen, lock = self.model()
        clip = np.ascontiguousarray(reference[: DECODER_SECONDS * SAMPLE_RATE], dtype=np.float32)
        with lock, torch.inference_mode():
            embedding: dict[str, Any] = s3gen.embed_ref(clip, SAMPLE_RATE, device=s3gen.device)
        with self._load_lock:
            self.embedded += 1
            self._references[key] = embedding
            while len(self._references) > _REFERENCES_KEPT:
                self._references.popitem(last=False)
        return embedding
