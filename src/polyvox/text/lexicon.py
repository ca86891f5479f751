"""User pronunciations: a lexicon file of word → phonemes or respelling per language, and inline overrides.

The lexicon is a JSON file (``DATA_DIR/lexicon.json`` unless configured)::

    {"en": {"Polyvox": {"phonemes": "pˈɑːlivɑːks"}, "GIF": {"say": "jiff"}}}

Before synthesis every whole-word occurrence (case-insensitive) is replaced: by ``[[ phonemes ]]`` for
engines that take inline phonemes (piper), otherwise by the respelling (or left alone when an entry has
phonemes only). Inline ``[word](/phonemes/)`` in the text does the same for one occurrence.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from polyvox.errors import InvalidParameterError
from polyvox.language import primary_language

INLINE = re.compile(r"\[(?P<word>[^\[\]]+)\]\(/(?P<phonemes>[^)/]*)/\)")
"""An inline override: ``[tomato](/təmˈɑːtoʊ/)``."""


@dataclass(frozen=True, slots=True)
class Entry:
    """How to say one word: IPA phonemes (espeak-ng style, as piper reads them) and/or a respelling."""

    phonemes: str | None = None
    say: str | None = None

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in (("phonemes", self.phonemes), ("say", self.say)) if v}


def phoneme_block(phonemes: str) -> str:
    """Piper's inline phoneme syntax."""
    return f"[[ {phonemes.strip()} ]]"


def _language_key(language: str | None) -> str:
    return primary_language(language, "en")


def apply_inline(text: str, phonemes_ok: bool) -> str:
    """Turn ``[word](/phonemes/)`` into a phoneme block, or into the plain word for engines without one."""
    return INLINE.sub(lambda m: phoneme_block(m["phonemes"]) if phonemes_ok else m["word"], text)


class Lexicon:
    """A lexicon file, loaded lazily and reloaded when it changes on disk; safe to use from threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Entry]] = {}
        self._mtime: float | None = None
        self._patterns: dict[str, re.Pattern[str] | None] = {}

    def _refresh(self) -> None:
        mtime = self.path.stat().st_mtime if self.path.is_file() else None
        if mtime == self._mtime:
            return
        entries: dict[str, dict[str, Entry]] = {}
        if mtime is not None:
            raw = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            for language, words in raw.items():
                entries[_language_key(language)] = {
                    word.lower(): Entry(phonemes=spec.get("phonemes"), say=spec.get("say"))
                    for word, spec in words.items()
                }
        self._entries, self._mtime, self._patterns = entries, mtime, {}

    def entries(self, language: str | None = None) -> dict[str, Entry]:
        """Every entry of ``language`` (lower-case words)."""
        with self._lock:
            self._refresh()
            return dict(self._entries.get(_language_key(language), {}))

    def all(self) -> dict[str, dict[str, Entry]]:
        """Every entry of every language (language → lower-case word → entry)."""
        with self._lock:
            self._refresh()
            return {language: dict(words) for language, words in self._entries.items()}

    def set(self, word: str, entry: Entry, language: str | None = None) -> None:
        """Add or replace ``word`` and write the file."""
        if not word.strip() or " " in word.strip():
            raise InvalidParameterError("a lexicon word is one word", param="word")
        if not entry.phonemes and not entry.say:
            raise InvalidParameterError("give phonemes or a respelling", param="phonemes")
        with self._lock:
            self._refresh()
            self._entries.setdefault(_language_key(language), {})[word.strip().lower()] = entry
            self._write()

    def remove(self, word: str, language: str | None = None) -> bool:
        """Drop ``word``; returns whether it was there."""
        with self._lock:
            self._refresh()
            found = self._entries.get(_language_key(language), {}).pop(word.lower(), None) is not None
            if found:
                self._write()
            return found

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {lang: {w: e.to_json() for w, e in words.items()} for lang, words in self._entries.items()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.path)  # atomic: a reader never sees half a file
        self._mtime = self.path.stat().st_mtime
        self._patterns = {}

    def _pattern(self, key: str) -> re.Pattern[str] | None:
        if key not in self._patterns:
            words = sorted(self._entries.get(key, {}), key=len, reverse=True)
            alternatives = "|".join(re.escape(w) for w in words)
            # Whole words only, and never inside an existing [[ ]] block or inline override.
            self._patterns[key] = (
                re.compile(rf"(?<![\w\[/])(?:{alternatives})(?![\w\]/])", re.IGNORECASE) if words else None
            )
        return self._patterns[key]

    def apply(self, text: str, language: str | None, phonemes_ok: bool) -> str:
        """Replace lexicon words in ``text`` by their phonemes (when the engine takes them) or respelling."""
        key = _language_key(language)
        with self._lock:
            self._refresh()
            pattern = self._pattern(key)
            entries = self._entries.get(key, {})
        if pattern is None:
            return text

        # IGNORECASE matches by Unicode case folding ("ſun" matches "sun", "İs" matches "is"), which lower()
        # does not undo: look the word up folded too, and leave it alone if it still names no entry.
        folded = {word.casefold(): entry for word, entry in entries.items()}

        def replace(match: re.Match[str]) -> str:
            word = match.group(0)
            entry = entries.get(word.lower()) or folded.get(word.casefold())
            if entry is None:
                return word
            if phonemes_ok and entry.phonemes:
                return phoneme_block(entry.phonemes)
            return entry.say or match.group(0)

        return pattern.sub(replace, text)
