"""Phrase first: a long first sentence is spoken as its first phrase, then the rest.

A listener hears nothing until the engine has rendered the whole first segment. Cutting a long first
sentence at its first clause boundary makes that segment a few words long, so first audio comes in a
phrase's time; the rest of the sentence follows while the phrase plays. The cut is made only where a
speaker may pause — after a comma, semicolon or colon, at a dash, or (English) before a word that opens a
clause or phrase, whichever leaves the shorter first phrase of a few words — and never inside a number
("1,000" has no space after its comma), an abbreviation, or a ``[[ phoneme ]]`` block. Engines opt in
(``EngineInfo.phrase_first``). The seam is guarded by tests/integration/test_phrase_seam.py: no click, a
pause no longer than the engine's own comma pause, and Whisper hears the same words.
"""

from __future__ import annotations

import re

from polyvox.language import primary_language
from polyvox.text.ssml import Piece

MIN_SENTENCE_WORDS = 10
"""A shorter first sentence is rendered whole: it is quick anyway, and its prosody is kept."""
MIN_PHRASE_WORDS = 4
"""Words the first phrase has at least, cut at a punctuation mark (two words sound clipped)..."""
MIN_WORD_CUT_WORDS = 5
"""...and at least this many where it is cut before a conjunction or preposition (no mark to pause at)."""
MIN_REST_WORDS = 3
"""And the rest at least this many: a short tail is not worth a second engine call."""

_PUNCTUATION = re.compile(r"(?<=[,;:、，；：])\s+|(?<=\s[-–—])\s+|(?<=\w—)(?=\w)")
_CLAUSE_WORDS = {
    # Words that open a clause or a phrase, before which a reader may take a breath.
    "en": re.compile(
        r"\s+(?=(?:and|or|but|so|because|although|though|whereas|which|while|when|where|if|that|as|"
        r"after|before|until|since|in|on|at|with|for|from|into|during|without|about)\b)",
        re.IGNORECASE,
    ),
}
_PHONEMES = re.compile(r"\[\[.*?\]\]", re.DOTALL)


def _words(text: str) -> int:
    return len(text.split())


def _first_cut(sentence: str, pattern: re.Pattern[str], min_words: int) -> tuple[str, str] | None:
    protected = [match.span() for match in _PHONEMES.finditer(sentence)]
    for match in pattern.finditer(sentence):
        start, end = match.span()
        if any(low < start < high for low, high in protected):
            continue
        phrase, rest = sentence[:start].strip(), sentence[end:].strip()
        if _words(rest) < MIN_REST_WORDS:
            return None
        if _words(phrase) >= min_words:
            return phrase, rest
    return None


def first_phrase(sentence: str, language: str | None = None) -> tuple[str, str] | None:
    """``(phrase, rest)`` where a long sentence can be cut after its first phrase, else None: at the first
    punctuation mark that leaves a phrase of a few words or (English) before the first clause or phrase
    word that does, whichever comes first."""
    if _words(sentence) < MIN_SENTENCE_WORDS:
        return None
    cuts = [_first_cut(sentence, _PUNCTUATION, MIN_PHRASE_WORDS)]
    words = _CLAUSE_WORDS.get(primary_language(language, "en"))
    if words is not None:
        cuts.append(_first_cut(sentence, words, MIN_WORD_CUT_WORDS))
    found = [cut for cut in cuts if cut is not None]
    return min(found, key=lambda cut: len(cut[0])) if found else None  # the shorter first phrase


def phrase_first(segments: list[str], language: str | None = None) -> list[str]:
    """``segments`` with the first one cut after its first phrase, where it can be."""
    if not segments:
        return segments
    cut = first_phrase(segments[0], language)
    return segments if cut is None else [*cut, *segments[1:]]


def phrase_plan(segments: list[str]) -> list[Piece]:
    """The plan of segments whose first is a phrase cut from its sentence: it joins the next one."""
    return [Piece(text, joins_next=index == 0) for index, text in enumerate(segments)]
