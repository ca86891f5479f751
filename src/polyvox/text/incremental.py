"""Sentences out of text that arrives in fragments (an LLM's tokens, a Wyoming chunk, a client's words).

A sentence is released as soon as it is known to be complete: when the segmenter sees the start of the
next one, or, without waiting for more text, when the buffer ends in a sentence mark that pysbd would split
before any following sentence (probed with a made-up next sentence, so "Dr." or "3." are not taken for
sentence ends). ``flush()`` releases the rest; text without punctuation is released once it grows past
``max_chars`` (at its last space) or has waited ``max_wait`` seconds for more.
"""

from __future__ import annotations

import re
import time

from polyvox.text.phrases import first_phrase
from polyvox.text.segment import MAX_SEGMENT_CHARS, clean_text, split_sentences

# A sentence mark after two lower-case letters or closing quote/bracket ("there.", "done!", 'said."'),
# so initials ("U.") and numbers ("3.") wait for the next fragment.
_EAGER_END = re.compile(r"(?:[a-z\u00e0-\u00ff]{2}[.!?…]+|[!?…]+|[.!?][\"')\]”’]+|[。！？])\s*$")
_PROBE = " Then it went on."


class IncrementalSegmenter:
    """Feed text fragments, get back the segments they complete, in order."""

    def __init__(
        self, language: str | None = None, *, max_chars: int = MAX_SEGMENT_CHARS, max_wait: float = 0.0
    ) -> None:
        self.language = language
        self.max_chars = max_chars
        self.max_wait = max_wait
        self._pending = ""
        self._last_fed = 0.0

    @property
    def pending(self) -> str:
        """Text received but not yet released."""
        return self._pending

    def feed(self, fragment: str) -> list[str]:
        """Add ``fragment``; return the segments that are now complete."""
        if not fragment:
            return []
        self._pending += fragment
        self._last_fed = time.monotonic()
        cleaned = clean_text(self._pending)
        if not cleaned:
            return []
        sentences = split_sentences(cleaned, self.language)
        trailing = " " if self._pending[-1:].isspace() else ""
        released: list[str] = []
        if len(sentences) >= 2 and cleaned.endswith(sentences[-1]):
            released, self._pending = sentences[:-1], sentences[-1] + trailing
            cleaned = sentences[-1]
        if cleaned and _EAGER_END.search(cleaned) and self._ends_sentence(cleaned):
            released.append(cleaned)
            self._pending = ""
        elif len(cleaned) > self.max_chars and " " in cleaned:
            head, _, tail = cleaned.rpartition(" ")
            released.append(head.strip())
            self._pending = tail + trailing
        return released

    def take_first_phrase(self) -> str | None:
        """The first phrase of the sentence still arriving, taken out of the buffer as soon as it is known:
        the sentence has the words of a long one and a boundary with a few words after it
        (:func:`polyvox.text.phrases.first_phrase`). The rest of the sentence stays pending."""
        if len(self._pending) > self.max_chars:  # a run without spaces: not a sentence to cut, and the
            return None  # scan would grow with it (this runs on the event loop)
        cut = first_phrase(self._pending, self.language)
        if cut is None:
            return None
        phrase, rest = cut
        kept = self._pending.rstrip()
        self._pending = self._pending[len(kept) - len(rest) :]
        return clean_text(phrase)

    def _ends_sentence(self, text: str) -> bool:
        # pysbd splits before the probe only if the text really ends a sentence.
        parts = split_sentences(text + _PROBE, self.language)
        return len(parts) >= 2 and parts[-1].strip() == _PROBE.strip()

    def due(self, now: float | None = None) -> bool:
        """True when pending text has waited ``max_wait`` seconds without new text (0 disables)."""
        if not self.max_wait or not self._pending.strip():
            return False
        return (now if now is not None else time.monotonic()) - self._last_fed >= self.max_wait

    def flush(self) -> str:
        """Everything still buffered, cleaned ("" when nothing is left)."""
        rest, self._pending = clean_text(self._pending), ""
        return rest

    def clear(self) -> None:
        """Drop buffered text (barge-in)."""
        self._pending = ""
