"""Sentence segmentation with pysbd, plus splitting of over-long sentences.

Synthesis is sentence by sentence: the first sentence's audio can be sent while the next is synthesized,
and requests interleave at sentence boundaries. A run-on "sentence" is split further at clause marks, then
at word boundaries, so one segment never holds the worker pool for long.
"""

from __future__ import annotations

import re
import threading
import unicodedata

import pysbd

from polyvox.language import primary_language
from polyvox.text.phrases import phrase_first

MAX_SEGMENT_CHARS = 400
MAX_WORD_CHARS = 100
"""A "word" (run without spaces) longer than this is split into pieces of this length: phonemizers and
engines are quadratic (or worse) in one token's length, and an 80 KB token must never reach them."""
PIECE_CHARS = 1000
"""pysbd's cost grows with the square of the text it is given (a 124k-character paragraph took 40 s): a
paragraph is cut into pieces of at most this many characters, at a sentence end where one is, before it
segments them. At this size it costs ~3 µs a character, whatever the text's length."""
_PYSBD_LANGUAGES = frozenset(
    [
        "en",
        "hi",
        "mr",
        "zh",
        "es",
        "am",
        "ar",
        "hy",
        "bg",
        "ur",
        "ru",
        "pl",
        "fa",
        "nl",
        "da",
        "fr",
        "my",
        "el",
        "it",
        "ja",
        "de",
        "kk",
        "sk",
    ]
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CLAUSE = re.compile(r"(?<=[,;:、，；：])\s+")
_SENTENCE_END = re.compile(r"\w{3}[.!?…][\"'”’)\]]*\s+|[。！？][”’」』)]*\s*")
"""Where a piece is best cut: after a sentence end (a period after a word of three or more letters, so not
after "Dr." or "No."; CJK full stops need no space)."""
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Normalize Unicode (NFC), drop control characters and collapse runs of spaces."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", text))
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    return re.sub(r"\s*\n\s*", "\n", text).strip()


_local = threading.local()


def _segmenter(language: str) -> pysbd.Segmenter:
    """One segmenter per thread and language: pysbd keeps per-call state, and one shared segmenter behind
    a lock made every thread (and the event loop's executor) wait while one long text was split."""
    cache: dict[str, pysbd.Segmenter] = _local.__dict__.setdefault("segmenters", {})
    if language not in cache:
        cache[language] = pysbd.Segmenter(language=language, clean=False, char_span=False)
    return cache[language]


def _pysbd_language(language: str | None) -> str:
    code = primary_language(language, "en")
    if code == "cmn":
        code = "zh"
    return code if code in _PYSBD_LANGUAGES else "en"


def bounded_pieces(paragraph: str, limit: int = PIECE_CHARS) -> list[str]:
    """``paragraph`` cut into pieces of at most ``limit`` characters: after the last sentence end in the
    second half of each window, else at its last space, else at the limit. Linear in the length."""
    pieces: list[str] = []
    start = 0
    while len(paragraph) - start > limit:
        window = paragraph[start : start + limit]
        cut = 0
        for pattern in (_SENTENCE_END, _SPACE):
            ends = [m.end() for m in pattern.finditer(window, limit // 2)]
            if ends:
                cut = ends[-1]
                break
        cut = cut or limit
        pieces.append(window[:cut])
        start += cut
    pieces.append(paragraph[start:])
    return pieces


def split_sentences(text: str, language: str | None = None) -> list[str]:
    """Split text into sentences (paragraph breaks always end a sentence)."""
    segmenter = _segmenter(_pysbd_language(language))
    sentences: list[str] = []
    for paragraph in clean_text(text).split("\n"):
        for piece in bounded_pieces(paragraph):
            if piece.strip():
                sentences.extend(p.strip() for p in segmenter.segment(piece) if p.strip())
    return sentences


def split_long_words(text: str, limit: int = MAX_WORD_CHARS) -> str:
    """``text`` with every run of more than ``limit`` non-space characters broken by spaces."""
    if limit <= 0 or len(text) <= limit:
        return text
    pattern = re.compile(rf"\S{{{limit + 1},}}")

    def pieces(match: re.Match[str]) -> str:
        word = match.group(0)
        return " ".join(word[i : i + limit] for i in range(0, len(word), limit))

    return pattern.sub(pieces, text)


def _split_long(sentence: str, limit: int) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for clause in _CLAUSE.split(sentence):
        for word in clause.split(" ") if len(clause) > limit else [clause]:
            candidate = f"{current} {word}".strip()
            if len(candidate) > limit and current:
                pieces.append(current)
                current = word
            else:
                current = candidate
    if current:
        pieces.append(current)
    return pieces


def join_after_first(segments: list[str], batch_chars: int, *, keep_first: bool = False) -> list[str]:
    """Keep the first segment alone (fast first audio); join the rest up to ``batch_chars`` characters.

    A text that fits in one batch altogether is one segment, unless ``keep_first`` (a listener waits for
    its first audio: the first segment stays alone whatever the total).
    """
    if batch_chars <= 0 or len(segments) < 2:
        return segments
    if not keep_first and sum(len(s) + 1 for s in segments) <= batch_chars:
        return [" ".join(segments)]  # a short text costs one call: as fast as the raw engine in total
    joined = [segments[0]]
    current = ""
    for segment in segments[1:]:
        candidate = f"{current} {segment}" if current else segment
        if current and len(candidate) > batch_chars:
            joined.append(current)
            current = segment
        else:
            current = candidate
    if current:
        joined.append(current)
    return joined


def segment_text(
    text: str,
    language: str | None = None,
    max_chars: int = MAX_SEGMENT_CHARS,
    batch_chars: int = 0,
    max_word_chars: int = MAX_WORD_CHARS,
    *,
    phrase: bool = False,
) -> list[str]:
    """The segments a request is synthesized in: sentences, over-long ones split, later ones batched.

    ``phrase``: a listener waits for the first audio (see :func:`listener_segments`).
    """
    return listener_segments(text, language, max_chars, batch_chars, max_word_chars, phrase=phrase)[0]


def listener_segments(
    text: str,
    language: str | None = None,
    max_chars: int = MAX_SEGMENT_CHARS,
    batch_chars: int = 0,
    max_word_chars: int = MAX_WORD_CHARS,
    *,
    phrase: bool = True,
) -> tuple[list[str], bool]:
    """:func:`segment_text`'s segments, and whether the first is a phrase cut from its sentence: with
    ``phrase``, a long first sentence is cut after its first phrase (polyvox.text.phrases) and the first
    segment is never batched with the rest."""
    text = split_long_words(text, max_word_chars)
    pieces = [piece for s in split_sentences(text, language) for piece in _split_long(s, max_chars)]
    cut = False
    if phrase:
        cut_pieces = phrase_first(pieces, language)
        cut, pieces = len(cut_pieces) > len(pieces), cut_pieces
    return join_after_first(pieces, batch_chars, keep_first=phrase), cut
