"""The SSML subset: what each element becomes (pieces of text, pauses and rates)."""

from __future__ import annotations

import pytest

from polyvox.errors import InvalidParameterError
from polyvox.text.ssml import Piece, is_ssml, parse_ssml


def speak(body: str) -> str:
    return f'<speak version="1.1" xmlns="http://www.w3.org/2001/10/synthesis">{body}</speak>'


@pytest.mark.parametrize(
    ("body", "pieces"),
    [
        ("Hello world.", [Piece("Hello world.")]),
        ('One <break time="1s"/> two', [Piece("One"), Piece(pause=1.0), Piece("two")]),
        ('A<break time="250ms"/>B', [Piece("A"), Piece(pause=0.25), Piece("B")]),
        ('A <break strength="strong"/> B', [Piece("A"), Piece(pause=0.75), Piece("B")]),
        ("A <break/> B", [Piece("A"), Piece(pause=0.5), Piece("B")]),
        ('A <break strength="none"/> B', [Piece("A B")]),
        ('A <break time="1s"/><break time="500ms"/> B', [Piece("A"), Piece(pause=1.5), Piece("B")]),
        ('A <break time="90s"/> B', [Piece("A"), Piece(pause=30.0), Piece("B")]),
        ('a <prosody rate="50%">slow</prosody> b', [Piece("a"), Piece("slow", rate=0.5), Piece("b")]),
        ('<prosody rate="x-fast">quick</prosody>', [Piece("quick", rate=1.5)]),
        ('<prosody rate="+20%">up</prosody>', [Piece("up", rate=1.2)]),
        ('<prosody rate="slow"><prosody rate="200%">nested</prosody></prosody>', [Piece("nested", rate=1.5)]),
        ('<prosody pitch="high">only pitch</prosody>', [Piece("only pitch")]),
        ('<say-as interpret-as="characters">NASA</say-as>', [Piece("N A S A")]),
        ('<say-as interpret-as="spell-out">R2</say-as>', [Piece("R two")]),
        (
            '<say-as interpret-as="cardinal">1,234</say-as>',
            [Piece("one thousand two hundred and thirty-four")],
        ),
        ('<say-as interpret-as="ordinal">21</say-as>', [Piece("twenty-first")]),
        ('<say-as interpret-as="ordinal">3rd</say-as>', [Piece("third")]),
        (
            '<say-as interpret-as="date" format="mdy">7/4/1776</say-as>',
            [Piece("July fourth, seventeen seventy-six")],
        ),
        (
            '<say-as interpret-as="date" format="dmy">5-11-2024</say-as>',
            [Piece("the fifth of November, twenty twenty-four")],
        ),
        (
            '<say-as interpret-as="date" format="ymd">2024-01-05</say-as>',
            [Piece("January fifth, twenty twenty-four")],
        ),
        ('<say-as interpret-as="date" format="md">12/25</say-as>', [Piece("December twenty-fifth")]),
        ('<say-as interpret-as="date" format="mdy">13/40/2024</say-as>', [Piece("13/40/2024")]),
        ('<say-as interpret-as="telephone">555-0123</say-as>', [Piece("five five five, zero one two three")]),
        (
            '<say-as interpret-as="telephone">+1 (800) 42</say-as>',
            [Piece("plus one, eight zero zero, four two")],
        ),
        ('<sub alias="World Wide Web">WWW</sub> site', [Piece("World Wide Web site")]),
        ('<phoneme alphabet="ipa" ph="təmˈɑːtoʊ">tomato</phoneme>!', [Piece("tomato!")]),
        ("<p>One.</p><p>Two <s>three</s></p>", [Piece("One.\nTwo three.")]),
        ("<emphasis>Loud</emphasis> and <voice name='x'>clear</voice>", [Piece("Loud and clear")]),
        ('  spaced\n\n  <break time="1s"/>  ', [Piece("spaced"), Piece(pause=1.0)]),
    ],
)
def test_ssml_pieces(body: str, pieces: list[Piece]) -> None:
    assert parse_ssml(speak(body)) == pieces


def test_phoneme_becomes_piper_inline_phonemes_where_the_engine_takes_them() -> None:
    pieces = parse_ssml(speak('say <phoneme ph="təmˈɑːtoʊ">tomato</phoneme> now'), phonemes_ok=True)
    assert pieces == [Piece("say [[ təmˈɑːtoʊ ]] now")]


@pytest.mark.parametrize(
    "document",
    [
        "<speak>unclosed",
        "<speak><break time='soon'/></speak>",
        "<speak><break strength='loud'/></speak>",
        "<speak><prosody rate='fastest'>x</prosody></speak>",
        "<speak><prosody rate='900%'>x</prosody></speak>",
        "<speak><say-as>1</say-as></speak>",
        "<speak><phoneme>x</phoneme></speak>",
        "<notspeak>x</notspeak>",
        '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY a "aaaa">]><speak>&a;</speak>',
    ],
)
def test_malformed_ssml_is_an_invalid_text_parameter(document: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        parse_ssml(document)
    assert caught.value.param == "text" and "SSML" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<speak>x</speak>", True),
        ('  <?xml version="1.0"?>\n<speak version="1.1">x</speak>', True),
        ("<speak/>", True),
        ("<speaker>x</speaker>", False),
        ("Use <speak> tags", False),
    ],
)
def test_is_ssml(text: str, expected: bool) -> None:
    assert is_ssml(text) is expected
