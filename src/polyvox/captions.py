"""Word timestamps as captions: aligning Whisper's words to the input, and JSON/SRT/VTT output.

Captions show the words that were *meant* (the prepared input text), timed by what was *heard*: the input
words of a chunk are aligned to Whisper's words with difflib on normalized spellings; matched words take
Whisper's times, unmatched ones are spread evenly between their matched neighbours.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from polyvox.audio.chunk import WordTiming

_PHONEME_BLOCK = re.compile(r"\[\[.*?\]\]")
_WORD_CHARS = re.compile(r"[^\w']+")
WORDS_PER_CUE = 7


def input_words(text: str) -> list[str]:
    """The words of a chunk as a reader sees them (phoneme blocks dropped)."""
    return [w for w in _PHONEME_BLOCK.sub(" ", text).split() if _WORD_CHARS.sub("", w)]


def readable(text: str) -> str:
    """The chunk text without phoneme blocks (what Whisper should hear, as words)."""
    return " ".join(input_words(text))


def _key(word: str) -> str:
    return _WORD_CHARS.sub("", word.lower().replace("-", ""))


def align_words(words: Sequence[str], heard: Sequence[WordTiming], duration: float) -> list[WordTiming]:
    """Time every word of ``words`` from Whisper's ``heard`` words; ``duration`` bounds the last ones."""
    if not words:
        return []
    times: list[tuple[float, float] | None] = [None] * len(words)
    matcher = difflib.SequenceMatcher(None, [_key(w) for w in words], [_key(h.word) for h in heard], False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            h = heard[block.b + k]
            times[block.a + k] = (h.start, h.end)
    # Fill gaps between anchors linearly (start of the gap = end of the previous anchor).
    result: list[WordTiming] = []
    i = 0
    while i < len(words):
        if times[i] is not None:
            start, end = times[i]  # type: ignore[misc]
            result.append(WordTiming(words[i], start, end))
            i += 1
            continue
        j = i
        while j < len(words) and times[j] is None:
            j += 1
        left = result[-1].end if result else 0.0
        right = times[j][0] if j < len(words) else duration  # type: ignore[index]
        right = max(right, left)
        step = (right - left) / (j - i)
        for k in range(i, j):
            result.append(WordTiming(words[k], left + (k - i) * step, left + (k - i + 1) * step))
        i = j
    return _monotonic(result, duration)


def align_spans(
    texts: Sequence[str], starts: Sequence[float], ends: Sequence[float], heard: Sequence[WordTiming]
) -> list[list[WordTiming]]:
    """Time the words of each span (a chunk of a longer file) by the words Whisper heard in the whole file.

    Each heard word belongs to the span its middle falls in (a span reaches to the next one's start, so
    the pause after a chunk is its own); the span's input words are aligned to those alone, so a word
    missed in one chunk cannot pull the alignment of the next. Times are absolute.
    """
    timed: list[list[WordTiming]] = []
    for i, (text, start, end) in enumerate(zip(texts, starts, ends, strict=True)):
        stop = starts[i + 1] if i + 1 < len(starts) else float("inf")
        own = [h for h in heard if (start if i else float("-inf")) <= (h.start + h.end) / 2 < stop]
        relative = shift(own, -start)
        timed.append(shift(align_words(input_words(text), relative, end - start), start))
    return timed


def _monotonic(words: list[WordTiming], duration: float) -> list[WordTiming]:
    """Clamp into [0, duration] and make start times non-decreasing (Whisper occasionally overlaps)."""
    out: list[WordTiming] = []
    last = 0.0
    for w in words:
        start = min(max(w.start, last), duration)
        end = min(max(w.end, start), duration)
        out.append(WordTiming(w.word, start, end))
        last = start
    return out


def shift(words: Sequence[WordTiming], offset: float) -> list[WordTiming]:
    """The same words ``offset`` seconds later."""
    return [WordTiming(w.word, w.start + offset, w.end + offset) for w in words]


def _stamp(seconds: float, separator: str) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _cues(words: Sequence[WordTiming]) -> list[tuple[float, float, str]]:
    cues = []
    for i in range(0, len(words), WORDS_PER_CUE):
        group = words[i : i + WORDS_PER_CUE]
        end = max(group[-1].end, group[0].start + 0.01)
        cues.append((group[0].start, end, " ".join(w.word for w in group)))
    return cues


def to_srt(words: Sequence[WordTiming]) -> str:
    """SubRip: numbered cues of a few words each."""
    return cues_to_srt(_cues(words))


def to_vtt(words: Sequence[WordTiming]) -> str:
    """WebVTT: the same cues as SRT."""
    return cues_to_vtt(_cues(words))


def cues_to_srt(cues: Sequence[tuple[float, float, str]]) -> str:
    """SubRip from ``(start, end, text)`` cues."""
    blocks = [
        f"{n}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{text}\n" for n, (a, b, text) in enumerate(cues, 1)
    ]
    return "\n".join(blocks)


def cues_to_vtt(cues: Sequence[tuple[float, float, str]]) -> str:
    """WebVTT from ``(start, end, text)`` cues."""
    blocks = [f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{text}\n" for a, b, text in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_json(words: Sequence[WordTiming]) -> list[dict[str, float | str]]:
    """``[{"word", "start", "end"}]`` with times rounded to milliseconds."""
    return [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in words]
