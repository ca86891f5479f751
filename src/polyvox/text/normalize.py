"""English text normalization: numbers, dates, money, units, abbreviations, URLs → words an engine reads well.

Engines' own front ends read "$1,250.50" or "3:30 pm" inconsistently (piper's espeak-ng says "dollar one
comma two five zero..."), so English text is rewritten into spoken words before segmentation. The rules run
in a fixed order, most specific first (URLs before dates before plain numbers), each rewriting what it
matches into plain words so later rules never see it again. Other languages pass through untouched: their
engines' front ends know their conventions better than a rule table here would.

Spans the user marked for the engine (piper's ``[[ phonemes ]]``, inline ``[word](/phonemes/)`` overrides and
SSML-produced markers) are protected and never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from num2words import num2words

from polyvox.language import primary_language

_PROTECTED = re.compile(r"\[\[.*?\]\]|\[[^\[\]]+\]\(/[^)]*/\)")

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_ABBR = {m[:3].lower(): m for m in _MONTHS} | {"sept": "September"}
_MONTH_RE = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"

_CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    # symbol: (unit singular, plural, cent singular, plural)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_SCALES = r"(?:thousand|million|billion|trillion)"

_UNITS: dict[str, tuple[str, str]] = {
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "ml": ("milliliter", "milliliters"),
    "l": ("liter", "liters"),
    "ms": ("millisecond", "milliseconds"),
    "hz": ("hertz", "hertz"),
    "khz": ("kilohertz", "kilohertz"),
    "mhz": ("megahertz", "megahertz"),
    "ghz": ("gigahertz", "gigahertz"),
    "kb": ("kilobyte", "kilobytes"),
    "mb": ("megabyte", "megabytes"),
    "gb": ("gigabyte", "gigabytes"),
    "tb": ("terabyte", "terabytes"),
    "kw": ("kilowatt", "kilowatts"),
    "w": ("watt", "watts"),
    "v": ("volt", "volts"),
    "°c": ("degree Celsius", "degrees Celsius"),
    "°f": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
}
# Longest first so "km/h" wins over "km"; matched case-insensitively but only right after a number.
_UNIT_RE = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))

_ABBREVIATIONS: dict[str, str] = {
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miss",
    "Dr.": "Doctor",
    "Prof.": "Professor",
    "Jr.": "Junior",
    "Sr.": "Senior",
    "Capt.": "Captain",
    "Gen.": "General",
    "Lt.": "Lieutenant",
    "Sgt.": "Sergeant",
    "Mt.": "Mount",
    "Ave.": "Avenue",
    "Rd.": "Road",
    "Blvd.": "Boulevard",
    "vs.": "versus",
    "etc.": "et cetera",
    "e.g.": "for example",
    "i.e.": "that is",
    "approx.": "approximately",
    "Inc.": "Incorporated",
    "Ltd.": "Limited",
    "Corp.": "Corporation",
    "Dept.": "Department",
    "Fig.": "Figure",
}
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "%": " percent"}


def is_english(language: str | None) -> bool:
    """Whether normalization applies: no language given (the engines' default is English) or ``en*``."""
    return language is None or primary_language(language) == "en"


MAX_NUMBER_DIGITS = 36
"""Longer digit runs are read digit by digit: num2words has no names past them, and ``int()`` of thousands
of digits is slow (and refused past 4,300 digits), so a hostile "9" * 5000 must never reach it."""
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _words(number: int) -> str:
    return str(num2words(number)).replace(",", "")


def digit_by_digit(digits: str) -> str:
    """``"907"`` → ``"nine zero seven"``."""
    return " ".join(_DIGIT_WORDS[int(c)] for c in digits if c.isdigit())


def integer(digits: str) -> str:
    """The words of a run of digits: a number if it is at most ``MAX_NUMBER_DIGITS`` long, else its digits."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_NUMBER_DIGITS:
        return digit_by_digit(digits)
    return _words(int(significant))


def ordinal_digits(digits: str) -> str:
    """``"23"`` → ``"twenty-third"``; an over-long run is read digit by digit, then "th"."""
    if len(digits.lstrip("0")) > MAX_NUMBER_DIGITS:
        return digit_by_digit(digits) + "th"
    return ordinal(int(digits))


def cardinal(digits: str) -> str:
    """``"1,234"`` → "one thousand two hundred and thirty-four", ``"-3.5"`` → ``"minus three point five"``."""
    digits = digits.replace(",", "")
    sign = ""
    if digits.startswith(("-", "−")):
        sign, digits = "minus ", digits[1:]
    whole, _, fraction = digits.partition(".")
    spoken = integer(whole or "0")
    if fraction:
        spoken += " point " + " ".join(_words(int(d)) for d in fraction)
    return sign + spoken


def ordinal(number: int) -> str:
    """``23`` → ``"twenty-third"``."""
    return str(num2words(number, to="ordinal")).replace(",", "")


def year(number: int) -> str:
    """``1999`` → ``"nineteen ninety-nine"``, ``2005`` → ``"two thousand and five"``."""
    return str(num2words(number, to="year")).replace(",", "")


def _spell(token: str) -> str:
    """Read a URL/e-mail part: words stay words, symbols get names, digit runs are read digit by digit."""
    names = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ", "@": " at ", ":": " colon "}
    names |= {"?": " question mark ", "=": " equals ", "&": " and ", "#": " hash ", "~": " tilde "}
    out = "".join(names.get(ch, f" {_words(int(ch))} " if ch.isdigit() else ch) for ch in token)
    return re.sub(r"\s+", " ", out).strip()


def _url(match: re.Match[str]) -> str:
    url = re.sub(r"^https?://", "", match.group(0)).rstrip("/")
    return _spell(url)


def _currency(match: re.Match[str]) -> str:
    unit, units, cent, cents = _CURRENCIES[match["sym"]]
    amount = match["amount"].replace(",", "")
    scale = match["scale"]
    whole, _, fraction = amount.partition(".")
    if scale:  # "$2.5 million" → "two point five million dollars"
        return f"{cardinal(amount)} {scale} {units}"
    if len(whole) > MAX_NUMBER_DIGITS:
        return f"{integer(whole)} {units}"
    value = int(whole or "0")
    spoken = f"{_words(value)} {unit if value == 1 else units}"
    if fraction and int(fraction.ljust(2, "0")[:2]):
        c = int(fraction.ljust(2, "0")[:2])
        spoken += f" and {_words(c)} {cent if c == 1 else cents}"
    return spoken


def _day(text: str) -> str:
    return ordinal(int(text))


def _month(text: str) -> str:
    return _MONTH_ABBR.get(text.rstrip(".").lower()[:4], _MONTH_ABBR.get(text.lower()[:3], text))


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match["h"]), int(match["m"] or 0)
    if minute == 0:
        spoken = f"{_words(hour)} o'clock" if not match["ampm"] else _words(hour)
    elif minute < 10:
        spoken = f"{_words(hour)} oh {_words(minute)}"
    else:
        spoken = f"{_words(hour)} {_words(minute)}"
    if match["ampm"]:
        spoken += " " + " ".join(match["ampm"].replace(".", "").lower())
        if match["ampm"].endswith("."):  # "p.m." ending a sentence keeps the full stop
            spoken += "."
    return spoken


def _unit(match: re.Match[str]) -> str:
    amount = match["n"]
    singular, plural = _UNITS[match["unit"].lower()]
    one = amount.replace(",", "") in ("1", "1.0")
    return f"{cardinal(amount)} {singular if one else plural}"


def _fraction(match: re.Match[str]) -> str:
    if max(len(match["a"]), len(match["b"])) > MAX_NUMBER_DIGITS:
        return f"{integer(match['a'])} over {integer(match['b'])}"
    num, den = int(match["a"]), int(match["b"])
    if den == 2:
        return f"{_words(num)} {'half' if num == 1 else 'halves'}"
    if den == 4:
        return f"{_words(num)} {'quarter' if num == 1 else 'quarters'}"
    name = ordinal(den)
    return f"{_words(num)} {name if num == 1 else name + 's'}"


def _number(match: re.Match[str]) -> str:
    return _number_text(match.group(0))


def _number_text(token: str) -> str:
    plain = token.replace(",", "")
    # A bare 4-digit number without a thousands comma in the usual range is read as a year ("in 1999").
    if "," not in token and re.fullmatch(r"1[1-9]\d\d|20\d\d", plain):
        return year(int(plain))
    return cardinal(token)


_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

_RULES: list[_Rule] = [
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), lambda m: _spell(m.group(0))),
    (re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)]"), _url),
    # ISO date 2024-03-15
    (
        re.compile(r"\b(?P<y>\d{4})-(?P<mo>0?[1-9]|1[0-2])-(?P<d>0?[1-9]|[12]\d|3[01])\b"),
        lambda m: f"{_MONTHS[int(m['mo']) - 1]} {_day(m['d'])}, {year(int(m['y']))}",
    ),
    # US date 3/15/2024
    (
        re.compile(r"\b(?P<mo>0?[1-9]|1[0-2])/(?P<d>0?[1-9]|[12]\d|3[01])/(?P<y>\d{4})\b"),
        lambda m: f"{_MONTHS[int(m['mo']) - 1]} {_day(m['d'])}, {year(int(m['y']))}",
    ),
    # March 15, 2024 / Mar 15th
    (
        re.compile(
            rf"\b(?P<mon>{_MONTH_RE})\s+(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b(?P<y>,?\s+\d{{4}})?"
        ),
        lambda m: (
            f"{_month(m['mon'])} {_day(m['d'])}" + (f", {year(int(m['y'].strip(', ')))}" if m["y"] else "")
        ),
    ),
    # 15 March 2024 / 15th of March
    (
        re.compile(
            rf"\b(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{_MONTH_RE})(?P<y>\s+\d{{4}})?"
        ),
        lambda m: f"the {_day(m['d'])} of {_month(m['mon'])}" + (f" {year(int(m['y']))}" if m["y"] else ""),
    ),
    (
        re.compile(r"\b(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?:\s*(?P<ampm>[ap]\.?m\.?)(?=\W|$))?", re.I),
        _time,
    ),
    (re.compile(r"\b(?P<h>1[0-2]|0?[1-9])(?P<m>)\s*(?P<ampm>[ap]\.?m\.?)(?=\W|$)", re.I), _time),
    (
        re.compile(rf"(?P<sym>[$£€¥])\s?(?P<amount>\d[\d,]*(?:\.\d+)?)(?:\s+(?P<scale>{_SCALES}))?\b"),
        _currency,
    ),
    (re.compile(r"(?P<n>-?\d[\d,]*(?:\.\d+)?)\s?%"), lambda m: f"{cardinal(m['n'])} percent"),
    (re.compile(r"\b(?P<n>\d+)(?:st|nd|rd|th)\b", re.I), lambda m: ordinal_digits(m["n"])),
    (re.compile(r"\b(?P<a>\d+)/(?P<b>\d+)\b"), _fraction),
    (
        re.compile(rf"(?<![\w.])(?P<n>-?\d[\d,]*(?:\.\d+)?)\s?(?P<unit>{_UNIT_RE})(?![\w/])", re.I),
        _unit,
    ),
    # ranges "10-20" → "ten to twenty" (after dates, so ISO dates are gone)
    (
        re.compile(r"\b(?P<a>\d[\d,]*)\s?[-–]\s?(?P<b>\d[\d,]*)\b"),
        lambda m: f"{_number_text(m['a'])} to {_number_text(m['b'])}",
    ),
    (re.compile(r"\bNo\.\s?(?=\d)"), "number "),
    (re.compile(r"#(?=\d)"), "number "),
    (re.compile(r"(?<![\w.])[-−](?=\d)"), "minus "),
    (re.compile(r"\d[\d,]*\.\d+|\d{1,3}(?:,\d{3})+(?!\d)|\d+"), _number),
]


_SENTENCE_END = r"(?=\s*$|\n)"


def _abbreviations(text: str) -> str:
    for short, long in _ABBREVIATIONS.items():
        # An abbreviation ending a paragraph also ended its sentence: keep that full stop.
        text = re.sub(rf"(?<![\w.]){re.escape(short)}{_SENTENCE_END}", long + ".", text)
        text = re.sub(rf"(?<![\w.]){re.escape(short)}(?=\s|,)", long, text)
    # "St." before a capitalised name is a saint, otherwise a street.
    text = re.sub(r"\bSt\.(?=[ \t]+[A-Z])", "Saint", text)
    text = re.sub(rf"\bSt\.{_SENTENCE_END}", "Street.", text)
    return re.sub(r"\bSt\.", "Street", text)


_LONG_DIGITS = re.compile(r"\d(?:[\d,.]*\d)?")
_LONG_NUMBER_CHARS = 64
"""A run of digits, commas and points this long is no number anyone reads as one."""


def _long_digits(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = sum(c.isdigit() for c in run)
    if digits <= MAX_NUMBER_DIGITS and len(run) <= _LONG_NUMBER_CHARS:
        return run
    # Digit by digit; a separator stays a separator (a short pause), so "1,1,1" reads "one, one, one".
    spoken = " ".join(_DIGIT_WORDS[int(c)] if c.isdigit() else c for c in run)
    return " " + re.sub(r" ([,.])", r"\1", spoken) + " "


def _normalize_plain(text: str) -> str:
    # Over-long digit runs first: several rules below scan a digit run from each of its positions
    # (quadratic in its length), and none of them could say such a number anyway.
    text = _LONG_DIGITS.sub(_long_digits, text)
    text = _abbreviations(text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    for symbol, spoken in _SYMBOLS.items():
        text = text.replace(symbol, spoken)
    return re.sub(r"[ \t]{2,}", " ", text)


def normalize_text(text: str, language: str | None = None) -> str:
    """Rewrite ``text`` into spoken words for English; return it unchanged for other languages."""
    if not is_english(language):
        return text
    pieces: list[str] = []
    last = 0
    for match in _PROTECTED.finditer(text):
        pieces.append(_normalize_plain(text[last : match.start()]))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(_normalize_plain(text[last:]))
    return "".join(pieces)
