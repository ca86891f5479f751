"""Dialogue scripts, inline voice tags, casts from JSON and speaker captions, without a server."""

from __future__ import annotations

import pytest

from polyvox.dialogue.captions import TurnTiming, to_srt, to_vtt
from polyvox.dialogue.cast import CastVoice, read_cast
from polyvox.dialogue.script import ScriptTurn, parse_script, split_voice_tags
from polyvox.errors import EmptyTextError, InvalidParameterError, PolyvoxError


def test_script_lines_names_tags_continuations_and_comments() -> None:
    script = "# cast: two\nAlice: Hello, Bob.\n  How are you?\n\n[S2] Fine: thanks.\nDr. Who : Time: ten.\n"
    assert parse_script(script) == [
        ScriptTurn("Alice", "Hello, Bob. How are you?"),
        ScriptTurn("S2", "Fine: thanks."),
        ScriptTurn("Dr. Who", "Time: ten."),
    ]


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ("", "empty_text"),
        ("\n# nothing\n  \n", "empty_text"),
        ("No speaker here.\nAlice: Hi.", "invalid_script"),
        ("Alice: Hi.\nBob:\n", "invalid_script"),
    ],
)
def test_bad_scripts(script: str, code: str) -> None:
    with pytest.raises(PolyvoxError) as raised:
        parse_script(script)
    assert raised.value.code == code and raised.value.param == "script"


def test_inline_voice_tags() -> None:
    text = "Hi there. [voice:kokoro/af_bella] Hello! [VOICE: alloy ]And me. [voice:joe]   "
    assert split_voice_tags(text, "joe") == [
        ScriptTurn("joe", "Hi there."),
        ScriptTurn("kokoro/af_bella", "Hello!"),
        ScriptTurn("alloy", "And me."),
    ]
    with pytest.raises(EmptyTextError):
        split_voice_tags("[voice:joe] ... [voice:alloy]", "")


def test_cast_from_json() -> None:
    cast = read_cast(
        {"A": "piper/joe", "B": {"voice": "en-us", "engine": "espeak", "speed": 1, "parameters": {}}}
    )
    assert cast == {"A": CastVoice("piper/joe"), "B": CastVoice("en-us", "espeak", None, 1.0)}
    for bad in ([], {"A": 3}, {"A": {"voice": "x", "colour": "red"}}, {"A": {"speed": "fast"}}):
        with pytest.raises(InvalidParameterError):
            read_cast(bad)


def test_captions_label_each_turn_with_its_speaker() -> None:
    turns = [
        TurnTiming(0, "Alice", "Hello <there> & you.", "piper", "joe", 0.0, 1.25),
        TurnTiming(1, "Bob > Jr", "Hi\nagain.", "espeak", "en-us", 1.6, 2.0),
    ]
    assert to_vtt(turns) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\n<v Alice>Hello &lt;there&gt; &amp; you.\n\n"
        "00:00:01.600 --> 00:00:02.000\n<v Bob &gt; Jr>Hi again.\n"
    )
    assert to_srt(turns) == (
        "1\n00:00:00,000 --> 00:00:01,250\nAlice: Hello <there> & you.\n\n"
        "2\n00:00:01,600 --> 00:00:02,000\nBob > Jr: Hi again.\n"
    )
