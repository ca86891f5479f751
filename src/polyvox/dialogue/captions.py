"""Per-turn timings and captions with speaker labels: WebVTT voice spans (``<v Alice>``), SRT with names.

One cue per turn, timed exactly as the turn sits in the audio (the gaps between turns are nobody's).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from polyvox.captions import cues_to_srt, cues_to_vtt


@dataclass(frozen=True, slots=True)
class TurnTiming:
    """Where one turn sits in the dialogue's audio, and who spoke it with what."""

    index: int
    speaker: str
    text: str
    engine: str
    voice: str
    start: float
    end: float
    attempts: int = 1
    wer: float | None = None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _vtt_name(speaker: str) -> str:
    # A voice span's annotation ends at ">" and may not hold a line break or "&"/"<" unescaped.
    return html.escape(_one_line(speaker), quote=False) or "?"


def to_vtt(turns: Sequence[TurnTiming]) -> str:
    """WebVTT, each cue in a voice span naming its speaker: ``<v Alice>Hello.``."""
    return cues_to_vtt(
        [
            (t.start, t.end, f"<v {_vtt_name(t.speaker)}>{html.escape(_one_line(t.text), quote=False)}")
            for t in turns
        ]
    )


def to_srt(turns: Sequence[TurnTiming]) -> str:
    """SubRip, each cue prefixed with its speaker: ``Alice: Hello.``."""
    return cues_to_srt([(t.start, t.end, f"{_one_line(t.speaker)}: {_one_line(t.text)}") for t in turns])


def to_json(turns: Sequence[TurnTiming]) -> list[dict[str, object]]:
    """The per-turn timings, times rounded to milliseconds."""
    return [
        {
            "index": t.index,
            "speaker": t.speaker,
            "text": t.text,
            "engine": t.engine,
            "voice": t.voice,
            "start": round(t.start, 3),
            "end": round(t.end, 3),
            "attempts": t.attempts,
            "wer": None if t.wer is None else round(t.wer, 4),
        }
        for t in turns
    ]


def caption_text(turns: Sequence[TurnTiming], kind: str) -> str | None:
    """``srt`` or ``vtt`` text; None for ``json`` (the timings are the captions)."""
    return to_srt(turns) if kind == "srt" else to_vtt(turns) if kind == "vtt" else None
