"""What a listener has been sent of each utterance, segment by segment: how a barge-in knows which words
were heard.

A speech session (polyvox.session) notes every audio part it hands to its door; after a cancel it asks how
many seconds of the utterance went out and which words they held (whole segments, then the played share of
the one cut off, by its words). Only the last few utterances are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

KEPT_UTTERANCES = 4
"""Utterances whose delivered segments are remembered."""


@dataclass(frozen=True, slots=True)
class _Span:
    text: str
    start: float
    seconds: float


class DeliveredAudio:
    """Per utterance, the segments sent so far: their text, where each starts and how long it lasts."""

    def __init__(self) -> None:
        self._spans: dict[int, list[_Span]] = {}

    def note(self, utterance: int, text: str, seconds: float, *, first: bool) -> None:
        """``seconds`` more of a segment went out (``first``: its first part)."""
        spans = self._spans.setdefault(utterance, [])
        if first or not spans:
            start = spans[-1].start + spans[-1].seconds if spans else 0.0
            spans.append(_Span(text, start, 0.0))
        last = spans[-1]
        spans[-1] = _Span(last.text, last.start, last.seconds + seconds)
        for old in [u for u in self._spans if u <= utterance - KEPT_UTTERANCES]:
            del self._spans[old]

    def last_audible(self) -> int:
        """The latest utterance that had audio (-1: none yet)."""
        return max(self._spans) if self._spans else -1

    def seconds(self, utterance: int) -> float:
        """Audio seconds of ``utterance`` sent so far."""
        spans = self._spans.get(utterance, [])
        return spans[-1].start + spans[-1].seconds if spans else 0.0

    def text(self, seconds: float, utterance: int) -> str:
        """The words heard in the first ``seconds`` of ``utterance``'s delivered audio."""
        words: list[str] = []
        for span in self._spans.get(utterance, []):
            if span.start + span.seconds <= seconds + 1e-6:
                words += span.text.split()
            elif span.start < seconds and span.seconds > 0:
                said = span.text.split()
                words += said[: int(len(said) * (seconds - span.start) / span.seconds)]  # heard whole
        return " ".join(words)
