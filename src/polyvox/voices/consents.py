"""Consent recordings for OpenAI's custom voices: ``DATA_DIR/voices/consents/<cons_id>/``.

Each consent is a folder holding ``recording.wav`` (the decoded recording, mono at ``LIBRARY_RATE``) and
``consent.json``. As in the voice library, a consent is written into a hidden staging folder and renamed into
place in one step, a new name is written to a temporary file and renamed over the old one, and deletion
renames the folder away before removing it, so a crash never leaves a half-written consent. Voices made from
a consent (``POST /v1/audio/voices``) name it in their ``extra``; :meth:`ConsentStore.using` holds the store's
lock while such a voice is stored, and :meth:`ConsentStore.delete` refuses (409 ``consent_in_use``) while any
voice names the consent, so no voice ever outlives the consent it was made with.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyvox.audio.chunk import FloatArray
from polyvox.audio.encode import encode_whole
from polyvox.audio.formats import AudioFormat
from polyvox.errors import InvalidParameterError, NotFoundError, PolyvoxError
from polyvox.voices.decode import LIBRARY_RATE

CONSENT_ID = re.compile(r"^cons_[0-9a-f]{8,32}$")
RECORDING_FILE = "recording.wav"
META_FILE = "consent.json"
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
MAX_NAME = 256


class ConsentNotFoundError(NotFoundError):
    code = "consent_not_found"


class ConsentInUseError(PolyvoxError):
    """A voice made from this consent still exists."""

    status = 409
    code = "consent_in_use"


@dataclass(frozen=True, slots=True)
class Consent:
    """One stored consent recording's metadata."""

    id: str
    name: str
    language: str
    created: float

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's ``audio.voice_consent`` object."""
        return {
            "object": "audio.voice_consent",
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "created_at": int(self.created),
        }


def check_name(name: str, param: str = "name") -> str:
    name = name.strip()
    if not name:
        raise InvalidParameterError(f"{param} is required", param=param)
    if len(name) > MAX_NAME:
        raise InvalidParameterError(f"{param} is longer than {MAX_NAME} characters", param=param)
    return name


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` written to a temporary file renamed over ``path``: readers see the old or the new whole."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class ConsentStore:
    """The consent recordings of one data directory. Thread-safe; blocking calls, run them in a thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()

    def _folder(self, consent_id: str) -> Path:
        if not CONSENT_ID.match(consent_id):
            raise ConsentNotFoundError(f"no voice consent {consent_id!r}", param="consent_id")
        return self.root / consent_id

    @staticmethod
    def _fields(consent: Consent) -> dict[str, Any]:
        return {
            "id": consent.id,
            "name": consent.name,
            "language": consent.language,
            "created": consent.created,
        }

    def get(self, consent_id: str) -> Consent:
        try:
            data = json.loads((self._folder(consent_id) / META_FILE).read_text(encoding="utf-8"))
            return Consent(data["id"], data["name"], data["language"], float(data["created"]))
        except (OSError, ValueError, KeyError, TypeError):
            raise ConsentNotFoundError(f"no voice consent {consent_id!r}", param="consent_id") from None

    def list(self) -> list[Consent]:
        """Every consent, newest first (ties by id, so pages are stable)."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if CONSENT_ID.match(folder.name):
                with contextlib.suppress(ConsentNotFoundError):  # removed meanwhile
                    found.append(self.get(folder.name))
        return sorted(found, key=lambda c: (-c.created, c.id))

    def add(self, name: str, language: str, recording: FloatArray) -> Consent:
        name = check_name(name)
        language = language.strip()
        if not _LANGUAGE.match(language):
            raise InvalidParameterError(
                f"language must be a BCP 47 tag such as 'en-US', not {language!r}", param="language"
            )
        consent = Consent("cons_" + uuid.uuid4().hex[:24], name, language, time.time())
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            wav = encode_whole(recording, AudioFormat.WAV, LIBRARY_RATE)
            (staging / RECORDING_FILE).write_bytes(wav)
            (staging / META_FILE).write_text(json.dumps(self._fields(consent)), encoding="utf-8")
            os.rename(staging, self.root / consent.id)  # atomic: the consent appears whole or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return consent

    def rename(self, consent_id: str, name: str) -> Consent:
        name = check_name(name)
        with self._lock:
            consent = self.get(consent_id)
            renamed = Consent(consent.id, name, consent.language, consent.created)
            fields = {
                "id": consent.id,
                "name": name,
                "language": consent.language,
                "created": consent.created,
            }
            _write_json(self._folder(consent_id) / META_FILE, fields)
        return renamed

    @contextlib.contextmanager
    def using(self, consent_id: str) -> Iterator[Consent]:
        """The consent, held (not deletable) while the block stores a voice made from it."""
        with self._lock:
            yield self.get(consent_id)

    def delete(self, consent_id: str, voices_of: Callable[[str], Sequence[str]]) -> None:
        """Remove the consent; ``consent_in_use`` while ``voices_of(consent_id)`` names any voice."""
        trash = self.root / f".del-{uuid.uuid4().hex}"
        with self._lock:
            self.get(consent_id)
            if voices := voices_of(consent_id):
                raise ConsentInUseError(
                    f"voice consent {consent_id!r} is used by {', '.join(sorted(voices))}; delete those "
                    "voices first (DELETE /v1/audio/voices/{voice_id})",
                    param="consent_id",
                )
            os.rename(self._folder(consent_id), trash)
        shutil.rmtree(trash, ignore_errors=True)
