"""A transcription in OpenAI's response formats: json, text, srt, vtt, verbose_json, and the stream events.

Subtitles have one cue per segment, as OpenAI's whisper-1 writes them. ``verbose_json`` carries ``segments``
when segment timestamps are asked for (or nothing is asked for) and ``words`` when word timestamps are.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from polyvox import captions
from polyvox.errors import InvalidParameterError
from polyvox.stt.base import Segment, Transcription


class ResponseFormat(StrEnum):
    JSON = "json"
    TEXT = "text"
    SRT = "srt"
    VTT = "vtt"
    VERBOSE_JSON = "verbose_json"


MEDIA_TYPES = {
    ResponseFormat.JSON: "application/json",
    ResponseFormat.VERBOSE_JSON: "application/json",
    ResponseFormat.TEXT: "text/plain; charset=utf-8",
    ResponseFormat.SRT: "application/x-subrip; charset=utf-8",
    ResponseFormat.VTT: "text/vtt; charset=utf-8",
}
GRANULARITIES = frozenset({"word", "segment"})


def parse_response_format(value: str | None) -> ResponseFormat:
    try:
        return ResponseFormat((value or "json").strip().lower())
    except ValueError:
        known = ", ".join(f.value for f in ResponseFormat)
        raise InvalidParameterError(
            f"response_format must be one of {known}, not {value!r}", param="response_format"
        ) from None


def parse_granularities(values: list[str]) -> frozenset[str]:
    wanted = frozenset(v.strip().lower() for v in values if v.strip())
    if not wanted <= GRANULARITIES:
        raise InvalidParameterError(
            f"timestamp_granularities[] may hold 'word' and 'segment', not {sorted(wanted - GRANULARITIES)}",
            param="timestamp_granularities[]",
        )
    return wanted


def usage(duration: float) -> dict[str, Any]:
    """OpenAI's duration-billed usage object (whole seconds, rounded up)."""
    return {"type": "duration", "seconds": math.ceil(duration)}


def _segment(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "seek": 0,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": round(segment.avg_logprob, 4),
        "compression_ratio": round(segment.compression_ratio, 4),
        "no_speech_prob": round(segment.no_speech_prob, 4),
    }


def verbose(result: Transcription, granularities: frozenset[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": result.language,
        "duration": round(result.duration, 3),
        "text": result.text,
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [_segment(s) for s in result.segments]
    if "word" in granularities:
        body["words"] = [
            {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in result.words
        ]
    body["usage"] = usage(result.duration)
    return body


def _cues(result: Transcription) -> list[tuple[float, float, str]]:
    return [(s.start, max(s.end, s.start + 0.01), s.text) for s in result.segments if s.text]


def render(result: Transcription, fmt: ResponseFormat, granularities: frozenset[str]) -> str | dict[str, Any]:
    """The response body: a JSON object for json/verbose_json, text for the rest."""
    if fmt is ResponseFormat.JSON:
        return {"text": result.text, "usage": usage(result.duration)}
    if fmt is ResponseFormat.VERBOSE_JSON:
        return verbose(result, granularities)
    if fmt is ResponseFormat.SRT:
        return captions.cues_to_srt(_cues(result))
    if fmt is ResponseFormat.VTT:
        return captions.cues_to_vtt(_cues(result))
    return result.text + "\n"


def delta_event(text: str) -> dict[str, Any]:
    return {"type": "transcript.text.delta", "delta": text}


def done_event(text: str, duration: float) -> dict[str, Any]:
    return {"type": "transcript.text.done", "text": text, "usage": usage(duration)}
