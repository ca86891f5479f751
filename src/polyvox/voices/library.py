"""Stored voices: ``DATA_DIR/voices/library/<slug>/`` holding ``reference.wav`` and ``voice.json``.

A voice's id is a slug derived from its name (``"Ada Lovelace"`` -> ``ada-lovelace``), or one given by the
caller (OpenAI's ``voice_<hex>``); only ids that match ``SLUG`` are ever joined to a path, so a name can never
escape the library. A voice is written into a hidden
temporary folder and renamed into place in one step, so a failure (or a crash) never leaves a partial voice,
and deletion renames it away before removing it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
import unicodedata
import uuid
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import encode_whole
from polyvox.audio.formats import AudioFormat
from polyvox.audio.pcm import int16_to_float
from polyvox.errors import InvalidParameterError, PayloadTooLargeError, PolyvoxError, VoiceNotFoundError
from polyvox.language import language_tag
from polyvox.voices.analysis import VoiceAnalysis, analyze_voice
from polyvox.voices.decode import LIBRARY_RATE, normalize_reference

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
REFERENCE_FILE = "reference.wav"
META_FILE = "voice.json"


class VoiceExistsError(PolyvoxError):
    """A library voice with this name (slug) exists already."""

    status = 409
    code = "voice_exists"


def slugify(name: str) -> str:
    """A path-safe id for ``name``: ASCII letters, digits and dashes; a hash when nothing ASCII is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:48].strip("-")
    return slug or "voice-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class LibraryVoice:
    """One stored voice: who it is and what its reference sounds like."""

    id: str
    name: str
    language: str
    transcript: str
    created: float
    analysis: VoiceAnalysis
    blend: str | None = None
    """A Kokoro blend (``jf_alpha(0.667)+jm_kumo(0.333)``) this voice was saved from, if any."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gender(self) -> str | None:
        return self.analysis.gender

    def to_dict(self, *, with_envelope: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["analysis"] = self.analysis.to_dict()
        if not with_envelope:
            data["analysis"].pop("log_envelope", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LibraryVoice:
        return cls(
            id=data["id"],
            name=data["name"],
            language=data["language"],
            transcript=data.get("transcript", ""),
            created=float(data.get("created", 0.0)),
            analysis=VoiceAnalysis.from_dict(data["analysis"]),
            blend=data.get("blend"),
            extra=dict(data.get("extra") or {}),
        )


def _write_wav(path: Path, samples: FloatArray, rate: int) -> None:
    path.write_bytes(encode_whole(samples, AudioFormat.WAV, rate))


def read_wav(path: Path) -> FloatArray:
    """A stored reference as float32 (16-bit mono wav at ``LIBRARY_RATE``)."""
    with wave.open(str(path), "rb") as handle:
        pcm = handle.readframes(handle.getnframes())
    return int16_to_float(pcm)


class VoiceLibrary:
    """The stored voices of one data directory. Thread-safe; every read goes to disk (no restart needed)."""

    def __init__(self, root: Path, *, max_seconds: float = 60.0, min_seconds: float = 1.0) -> None:
        self.root = root
        self.max_seconds = max_seconds
        self.min_seconds = min_seconds
        self._lock = threading.Lock()

    def path(self, voice_id: str) -> Path:
        """The folder of ``voice_id``; unknown or malformed ids are ``voice_not_found``."""
        if not SLUG.match(voice_id):
            raise VoiceNotFoundError(f"no library voice {voice_id!r}", param="voice")
        return self.root / voice_id

    def exists(self, voice_id: str) -> bool:
        return bool(SLUG.match(voice_id)) and (self.root / voice_id / META_FILE).is_file()

    def get(self, voice_id: str) -> LibraryVoice:
        folder = self.path(voice_id)
        try:
            data = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise VoiceNotFoundError(f"no library voice {voice_id!r}", param="voice") from None
        return LibraryVoice.from_dict(data)

    def reference(self, voice_id: str) -> FloatArray:
        """The normalized reference audio (mono, ``LIBRARY_RATE``)."""
        try:
            return read_wav(self.path(voice_id) / REFERENCE_FILE)
        except (OSError, EOFError, wave.Error):  # unknown id, or removed meanwhile
            raise VoiceNotFoundError(f"no library voice {voice_id!r}", param="voice") from None

    def list(self) -> list[LibraryVoice]:
        if not self.root.is_dir():
            return []
        voices = []
        for folder in sorted(self.root.iterdir()):
            if SLUG.match(folder.name) and (folder / META_FILE).is_file():
                try:
                    voices.append(self.get(folder.name))
                except VoiceNotFoundError:  # removed meanwhile
                    continue
        return voices

    def add(
        self,
        name: str,
        samples: FloatArray,
        *,
        language: str,
        transcript: str = "",
        blend: str | None = None,
        extra: dict[str, Any] | None = None,
        voice_id: str | None = None,
    ) -> LibraryVoice:
        """Normalize, analyze and store a reference (mono at ``LIBRARY_RATE``); blocking, run in a thread.

        The id is ``voice_id`` when given (it must match ``SLUG``), else the slug of ``name``."""
        name = name.strip()
        if not name:
            raise InvalidParameterError("name is empty", param="name")
        if voice_id is not None and not SLUG.match(voice_id):
            raise InvalidParameterError(f"malformed voice id {voice_id!r}", param="voice")
        voice_id = voice_id or slugify(name)
        if self.exists(voice_id):
            raise VoiceExistsError(f"a voice named {name!r} exists already (id {voice_id!r})", param="name")
        audio = normalize_reference(samples, LIBRARY_RATE)
        seconds = len(audio) / LIBRARY_RATE
        if seconds > self.max_seconds:
            raise PayloadTooLargeError(
                f"the reference lasts {seconds:.1f} s; the limit is {self.max_seconds:g} s", param="file"
            )
        if seconds < self.min_seconds:
            raise InvalidParameterError(
                f"the reference holds {seconds:.1f} s of sound; at least {self.min_seconds:g} s is needed",
                param="file",
            )
        analysis = analyze_voice(audio, LIBRARY_RATE)
        voice = LibraryVoice(
            id=voice_id,
            name=name,
            language=language_tag(language, "en-us"),
            transcript=transcript.strip(),
            created=time.time(),
            analysis=analysis,
            blend=blend,
            extra=dict(extra or {}),
        )
        self._store(voice, audio)
        return voice

    def _store(self, voice: LibraryVoice, audio: FloatArray) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            _write_wav(staging / REFERENCE_FILE, audio, LIBRARY_RATE)
            (staging / META_FILE).write_text(json.dumps(voice.to_dict()), encoding="utf-8")
            with self._lock:
                if self.exists(voice.id):
                    raise VoiceExistsError(f"a voice named {voice.name!r} exists already", param="name")
                os.rename(staging, self.root / voice.id)  # atomic: the voice appears whole or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def delete(self, voice_id: str) -> None:
        folder = self.path(voice_id)
        trash = self.root / f".del-{uuid.uuid4().hex}"
        with self._lock:
            if not (folder / META_FILE).is_file():
                raise VoiceNotFoundError(f"no library voice {voice_id!r}", param="voice")
            os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)
