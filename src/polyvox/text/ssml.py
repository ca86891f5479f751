"""An SSML subset mapped onto the pipeline for every engine.

``parse_ssml`` turns a ``<speak>`` document into :class:`Piece` values: text to read at a rate, or a pause.
The synthesizer renders pauses as silence and a rate as that segment's speed (the engine's own speed control
where it has one, time-stretching otherwise), so every engine honours the same markup.

Supported: ``speak``, ``break`` (``time`` in s/ms, or ``strength``), ``prosody rate`` (percent, a factor or
x-slow...x-fast; nested rates multiply), ``say-as interpret-as`` = characters/spell-out, cardinal/number,
ordinal, date (``format`` mdy, dmy, ymd...) and telephone, ``sub alias``, ``phoneme ph`` (piper's inline
``[[ phonemes ]]`` where the engine takes them, the element's own text otherwise), and ``p``/``s`` as
paragraph and sentence breaks. Any other element (``emphasis``, ``voice``...) is read as its text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from polyvox.errors import InvalidParameterError, InvalidTextError
from polyvox.text.lexicon import phoneme_block
from polyvox.text.normalize import MAX_NUMBER_DIGITS, cardinal, digit_by_digit, ordinal, ordinal_digits, year

MAX_BREAK = 30.0
"""Longest pause one ``<break>`` may ask for (seconds); longer ones are shortened to it."""
MAX_PAUSES = 120.0
"""Most seconds of pauses one document may ask for in all; beyond: ``invalid_text``."""
MAX_DEPTH = 32
"""Deepest element nesting accepted; beyond: ``invalid_text`` (the walk is recursive)."""
MIN_RATE, MAX_RATE = 0.25, 4.0

_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75, "x-strong": 1.25}
_RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.5}
_MONTHS = [
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
]
_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")
_SSML_START = re.compile(r"^\s*(?:<\?xml[^>]*\?>\s*)?<speak[\s>/]")


@dataclass(frozen=True, slots=True)
class Piece:
    """Text read at ``rate`` (1.0: the request's speed), or, with no text, ``pause`` seconds of silence."""

    text: str = ""
    pause: float = 0.0
    rate: float = 1.0
    joins_next: bool = False
    """This text and the next piece's are one sentence cut after its first phrase (polyvox.text.phrases): the
    silence between them is trimmed to a breath."""


def is_ssml(text: str) -> bool:
    """Whether ``text`` is an SSML document (it starts with ``<speak``)."""
    return _SSML_START.match(text) is not None


def _invalid(message: str) -> InvalidParameterError:
    return InvalidParameterError(f"invalid SSML: {message}", param="text")


def _over_bound(message: str) -> InvalidTextError:
    return InvalidTextError(f"SSML over a bound: {message}", param="text")


def _local(tag: object) -> str:
    """``{http://www.w3.org/2001/10/synthesis}break`` → ``break``."""
    return str(tag).rsplit("}", 1)[-1].lower()


def break_seconds(element: ET.Element, max_break: float = MAX_BREAK) -> float:
    """A ``<break>``'s pause: its ``time`` if given (at most ``max_break``), else its ``strength``."""
    time = element.get("time")
    if time is not None:
        match = _TIME.match(time)
        if match is None:
            raise _invalid(f"break time {time!r} is not like '500ms' or '1.5s'")
        seconds = float(match[1]) / (1000.0 if match[2] == "ms" else 1.0)
        return min(seconds, max_break)
    strength = element.get("strength", "medium").lower()
    if strength not in _STRENGTHS:
        raise _invalid(f"break strength {strength!r} is not one of {', '.join(_STRENGTHS)}")
    return _STRENGTHS[strength]


def prosody_rate(value: str) -> float:
    """``"50%"`` → 0.5, ``"+20%"`` → 1.2, ``"1.5"`` → 1.5, ``"slow"`` → 0.75."""
    value = value.strip().lower()
    try:
        if value in _RATES:
            rate = _RATES[value]
        elif value.endswith("%"):
            number = float(value[:-1])
            # A signed percentage is relative ("+20%" is 120%), a bare one absolute ("80%").
            rate = 1.0 + number / 100.0 if value[0] in "+-" else number / 100.0
        else:
            rate = float(value)
    except ValueError:
        raise _invalid(f"prosody rate {value!r} is not a percentage, a number or x-slow...x-fast") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise _invalid(f"prosody rate {value!r} is outside {MIN_RATE:g}x to {MAX_RATE:g}x")
    return rate


def _date(text: str, fmt: str) -> str:
    """Read a date given as digits in ``fmt`` order (m, d, y letters; ``ymd`` when unknown)."""
    parts = [p for p in re.split(r"[-/.\s]+", text.strip()) if p]
    order = [c for c in (fmt or "ymd").lower() if c in "dmy"]
    if len(parts) != len(order) or not all(p.isdigit() and len(p) <= 4 for p in parts):
        return digit_by_digit(text) if len(text) > MAX_NUMBER_DIGITS else text
    values = dict(zip(order, (int(p) for p in parts), strict=True))
    spoken = []
    if "m" in values:
        if not 1 <= values["m"] <= 12:
            return text
        spoken.append(_MONTHS[values["m"] - 1])
    if "d" in values:
        spoken.append(ordinal(values["d"]) if "m" not in values else f"{ordinal(values['d'])},")
    if "y" in values:
        spoken.append(year(values["y"]))
    if "m" in values and "d" in values and order.index("d") < order.index("m"):
        spoken[0], spoken[1] = f"the {spoken[1].rstrip(',')} of", spoken[0]  # dmy: "the fifth of May"
        spoken[1] += "," if "y" in values else ""
    return " ".join(spoken).rstrip(",")


def say_as(text: str, interpret_as: str, fmt: str) -> str:
    """The words for ``<say-as interpret-as=...>``; unknown kinds read the text as is."""
    kind = interpret_as.lower()
    stripped = text.strip()
    if kind in ("characters", "spell-out", "verbatim"):
        return " ".join(_DIGITS[int(c)] if c.isdigit() else c for c in stripped if not c.isspace())
    if kind in ("cardinal", "number") and re.fullmatch(r"[-−]?[\d,]*\.?\d+", stripped):
        return cardinal(stripped)
    if kind == "ordinal" and re.fullmatch(r"\d+(?:st|nd|rd|th)?", stripped):
        return ordinal_digits(re.sub(r"\D", "", stripped))
    if kind == "date":
        return _date(stripped, fmt)
    if kind == "telephone":
        # Digit by digit, a comma (a short pause) at every separator: "555-0123" → "five five five, zero...".
        groups = [g for g in re.split(r"[^\d+]+", stripped) if g]
        spoken = [" ".join("plus" if c == "+" else _DIGITS[int(c)] for c in g) for g in groups]
        return ", ".join(spoken)
    return text


class _Walker:
    """Depth-first over the tree, collecting pieces; ``rate`` is the product of enclosing prosody rates."""

    def __init__(self, phonemes_ok: bool, max_break: float, max_pauses: float) -> None:
        self.phonemes_ok = phonemes_ok
        self.max_break = max_break
        self.max_pauses = max_pauses
        self.paused = 0.0
        self.pieces: list[Piece] = []

    def text(self, text: str | None, rate: float) -> None:
        if not text:
            return
        last = self.pieces[-1] if self.pieces else None
        if last is not None and last.text and last.rate == rate:
            self.pieces[-1] = Piece(last.text + text, rate=rate)
        else:
            self.pieces.append(Piece(text, rate=rate))

    def pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.paused += seconds
        if self.paused > self.max_pauses:
            raise _over_bound(
                f"the pauses add up to more than {self.max_pauses:g} s (text.max_pause_seconds)"
            )
        last = self.pieces[-1] if self.pieces else None
        if last is not None and not last.text:
            self.pieces[-1] = Piece(pause=last.pause + seconds)
        else:
            self.pieces.append(Piece(pause=seconds))

    def element(self, node: ET.Element, rate: float) -> None:
        tag = _local(node.tag)
        if tag == "break":
            self.pause(break_seconds(node, self.max_break))
        elif tag == "sub":
            self.text(node.get("alias", "".join(node.itertext())), rate)
        elif tag == "say-as":
            kind = node.get("interpret-as")
            if not kind:
                raise _invalid("say-as needs interpret-as")
            self.text(say_as("".join(node.itertext()), kind, node.get("format", "")), rate)
        elif tag == "phoneme":
            phonemes, word = node.get("ph"), "".join(node.itertext())
            if not phonemes:
                raise _invalid("phoneme needs ph")
            self.text(f" {phoneme_block(phonemes)} " if self.phonemes_ok else word, rate)
        else:
            inner = rate * prosody_rate(node.get("rate", "100%")) if tag == "prosody" else rate
            if not MIN_RATE <= inner <= MAX_RATE:
                raise _invalid(f"nested prosody rates multiply to {inner:g}x")
            if tag in ("p", "paragraph"):
                self.text("\n", rate)
            self.text(node.text, inner)
            for child in node:
                self.element(child, inner)
                self.text(child.tail, inner)
            if tag in ("p", "paragraph"):
                self.text("\n", rate)
            elif tag in ("s", "sentence"):
                self.text(". ", rate)
            return
        # Leaf elements: their tail is read by the parent loop.


def _check_depth(root: ET.Element, max_depth: int) -> None:
    """``invalid_text`` if elements nest deeper than ``max_depth`` (checked without recursion)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise _over_bound(f"elements nest deeper than {max_depth} levels (text.max_ssml_depth)")
        stack.extend((child, depth + 1) for child in node)


def parse_ssml(
    document: str,
    phonemes_ok: bool = False,
    *,
    max_break: float = MAX_BREAK,
    max_pauses: float = MAX_PAUSES,
    max_depth: int = MAX_DEPTH,
) -> list[Piece]:
    """Pieces of an SSML document, in order; ``InvalidParameterError`` (param ``text``) if malformed,
    ``InvalidTextError`` past a bound.

    Bounds: one ``<break>`` is shortened to ``max_break`` seconds, all of them may add up to ``max_pauses``,
    elements may nest ``max_depth`` deep."""
    if "<!DOCTYPE" in document or "<!ENTITY" in document:
        # No DTDs: entity expansion is the classic XML bomb, and SSML never needs one.
        raise _invalid("DOCTYPE and ENTITY declarations are not allowed")
    try:
        root = ET.fromstring(document.strip())
    except ET.ParseError as exc:
        raise _invalid(str(exc)) from None
    if _local(root.tag) != "speak":
        raise _invalid(f"the root element is <{_local(root.tag)}>, not <speak>")
    _check_depth(root, max_depth)
    walker = _Walker(phonemes_ok, max_break, max_pauses)
    walker.element(root, 1.0)
    pieces = []
    for piece in walker.pieces:
        if piece.text:
            text = re.sub(r"[ \t]+", " ", piece.text)
            text = re.sub(r" *\n[\s]*", "\n", text).strip(" ")
            if not text.strip():
                continue
            piece = Piece(text.strip(), rate=piece.rate)
        pieces.append(piece)
    return pieces


def plain_text(pieces: list[Piece]) -> str:
    """The pieces' text alone (for paths that cannot render pauses or rates, e.g. Whisper references)."""
    return "\n".join(p.text for p in pieces if p.text)
