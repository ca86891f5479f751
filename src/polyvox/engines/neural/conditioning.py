"""Native cloning from the voice library: a library voice's reference becomes engine conditioning once.

A library voice reaches an engine that clones natively as a voice carrying ``reference`` (the normalized
``reference.wav``) and ``transcript`` (``polyvox.engines.base.ClonedVoice``). Computing the conditioning
(XTTS speaker latents, Chatterbox conds, a Pocket voice state...) costs a forward pass, so each engine keeps a
:class:`ConditioningCache` keyed by the reference's content (audio bytes + transcript + the engine's own
variant, e.g. ``gpt_cond_len``): a re-recorded voice with the same name gets new conditioning, and entries of
deleted voices are dropped on the next lookup.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar, runtime_checkable

import structlog

from polyvox.audio.chunk import FloatArray
from polyvox.errors import VoiceNotFoundError
from polyvox.voices.decode import LIBRARY_RATE
from polyvox.voices.library import read_wav

log = structlog.get_logger(__name__)

T = TypeVar("T")


@runtime_checkable
class ReferenceVoice(Protocol):
    """A voice that carries a reference recording (``ClonedVoice`` of a library voice)."""

    id: str
    reference: Path | None
    transcript: str
    native: bool
    target: str


@dataclass(frozen=True, slots=True)
class Reference:
    """A library voice's reference, read from disk once per lookup."""

    voice: str
    """The library voice id."""
    path: Path
    samples: FloatArray
    sample_rate: int
    transcript: str
    digest: str
    """SHA-256 of the audio bytes and the transcript: the cache key."""


def reference_of(voice: object) -> Reference | None:
    """The reference of a natively cloned library voice, or None for an engine's own voices."""
    if not isinstance(voice, ReferenceVoice) or not voice.native or voice.reference is None:
        return None
    path = voice.reference
    try:
        raw = path.read_bytes()
        samples = read_wav(path)
    except (OSError, EOFError, ValueError) as exc:
        raise VoiceNotFoundError(
            f"library voice {voice.target!r} has no readable reference", param="voice"
        ) from exc
    digest = hashlib.sha256(raw + b"\0" + voice.transcript.encode("utf-8")).hexdigest()
    return Reference(voice.target, path, samples, LIBRARY_RATE, voice.transcript, digest)


class ConditioningCache(Generic[T]):
    """Engine conditioning per reference content, computed once (thread-safe, least recently used out)."""

    def __init__(self, engine: str, *, capacity: int = 64) -> None:
        self.engine = engine
        self.capacity = capacity
        self.computed = 0
        """How many times conditioning was computed (tests count it to prove reuse)."""
        self.hits = 0
        self._entries: OrderedDict[tuple[str, str], tuple[Path, T]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, reference: Reference, compute: Callable[[Reference], T], variant: str = "") -> T:
        """The conditioning of ``reference`` (``variant``: engine settings the result depends on)."""
        key = (reference.digest, variant)
        with self._lock:
            self._prune()
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[1]
        value = compute(reference)  # outside the lock: a forward pass must not block other voices' hits
        with self._lock:
            self.computed += 1
            self._entries[key] = (reference.path, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        log.info(
            "conditioning_computed",
            engine=self.engine,
            voice=reference.voice,
            digest=reference.digest[:12],
            computed=self.computed,
        )
        return value

    def _prune(self) -> None:
        """Drop the entries of voices deleted from the library (their reference file is gone)."""
        gone = [key for key, (path, _) in self._entries.items() if not path.is_file()]
        for key in gone:
            del self._entries[key]
            log.info("conditioning_dropped", engine=self.engine, digest=key[0][:12])

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
