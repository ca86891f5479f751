"""Dialogue input in plain text: script lines (``Alice: ...``, ``[S1] ...``) and inline ``[voice:name]`` tags.

A script is one turn per line, the speaker first: ``Alice: Hello.`` or ``[S1] Hello.`` (the Dia / Kokoro
convention). A line without a speaker continues the turn before it; blank lines and ``#`` comments are
skipped. Inline tags (``[voice:af_bella] Hi. [voice:am_adam] Hello.``, opt-in on ``/v1/audio/speech``) switch
the voice in the middle of a text: each tag starts a turn spoken with that voice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from polyvox.errors import EmptyTextError, InvalidParameterError, PolyvoxError

_NAME = r"[^\s:\[\]][^:\[\]\n]{0,62}?"
_SPEAKER_LINE = re.compile(rf"^\s*(?:\[(?P<tag>{_NAME})\]|(?P<name>{_NAME})\s*:)\s*(?P<text>.*)$")
_VOICE_TAG = re.compile(r"\[voice:\s*(?P<voice>[^\]\s][^\]]{0,127}?)\s*\]", re.IGNORECASE)


class InvalidScriptError(InvalidParameterError):
    """A dialogue script that cannot be read as turns (text before the first speaker, a turn with no text)."""

    code = "invalid_script"


class UnknownSpeakerError(InvalidParameterError):
    """A turn names a speaker the cast does not map to a voice."""

    code = "unknown_speaker"


class TooManyTurnsError(PolyvoxError):
    """More turns than ``dialogue.max_turns``."""

    status = 413
    code = "too_many_turns"


@dataclass(frozen=True, slots=True)
class ScriptTurn:
    """One turn as written: who speaks, and what."""

    speaker: str
    text: str


def parse_script(script: str, *, param: str = "script") -> list[ScriptTurn]:
    """The turns of a plain-text script (module docstring); ``invalid_script`` or ``empty_text`` if none."""
    speakers: list[str] = []
    texts: list[list[str]] = []
    for number, line in enumerate(script.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _SPEAKER_LINE.match(line)
        if match is None:
            if not speakers:
                raise InvalidScriptError(
                    f"line {number} has no speaker: start it with 'Name:' or '[S1]'", param=param
                )
            texts[-1].append(line.strip())
            continue
        speakers.append((match["tag"] or match["name"]).strip())
        texts.append([match["text"].strip()] if match["text"].strip() else [])
    if not speakers:
        raise EmptyTextError("the script has no turns", param=param)
    turns = [ScriptTurn(s, " ".join(t)) for s, t in zip(speakers, texts, strict=True)]
    for index, turn in enumerate(turns):
        if not turn.text:
            raise InvalidScriptError(f"turn {index + 1} ({turn.speaker}) has no text", param=param)
    return turns


def has_voice_tags(text: str) -> bool:
    """Whether ``text`` holds an inline ``[voice:name]`` tag."""
    return _VOICE_TAG.search(text) is not None


def split_voice_tags(text: str, default_voice: str) -> list[ScriptTurn]:
    """The turns of a text with inline ``[voice:name]`` tags; text before the first tag speaks with
    ``default_voice``. Each turn's speaker is the voice it names; turns with nothing to say are dropped."""
    turns: list[ScriptTurn] = []
    voice, position = default_voice, 0
    for match in _VOICE_TAG.finditer(text):
        turns.append(ScriptTurn(voice, text[position : match.start()].strip()))
        voice, position = match["voice"], match.end()
    turns.append(ScriptTurn(voice, text[position:].strip()))
    spoken = [t for t in turns if any(c.isalnum() for c in t.text)]
    if not spoken:
        raise EmptyTextError("nothing to speak between the voice tags", param="input")
    return spoken
