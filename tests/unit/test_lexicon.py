"""The user lexicon and inline overrides: what text the engine receives, and what Whisper hears."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyvox.errors import InvalidParameterError
from polyvox.text.lexicon import Entry, Lexicon, apply_inline
from polyvox.text.prepare import prepare_text


def test_entries_are_stored_per_language_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.json"
    lexicon = Lexicon(path)
    lexicon.set("Zorblat", Entry(say="banana"), "en-us")
    lexicon.set("zorblat", Entry(say="plátano"), "es")
    assert json.loads(path.read_text())["en"] == {"zorblat": {"say": "banana"}}
    fresh = Lexicon(path)
    assert fresh.entries("en")["zorblat"].say == "banana"
    assert fresh.entries("es-mx")["zorblat"].say == "plátano"
    assert fresh.remove("zorblat", "en") and not fresh.remove("zorblat", "en")
    assert "zorblat" not in Lexicon(path).entries("en")


def test_whole_words_only_case_insensitive(tmp_path: Path) -> None:
    lexicon = Lexicon(tmp_path / "l.json")
    lexicon.set("GIF", Entry(say="jiff", phonemes="dʒˈɪf"))
    assert lexicon.apply("A GIF, a gif. GIFs and aGIF.", "en", False) == "A jiff, a jiff. GIFs and aGIF."
    assert lexicon.apply("A gif.", "en", True) == "A [[ dʒˈɪf ]]."
    assert lexicon.apply("A gif.", "fr", False) == "A gif."


def test_phoneme_only_entry_leaves_the_word_for_engines_without_phonemes(tmp_path: Path) -> None:
    lexicon = Lexicon(tmp_path / "l.json")
    lexicon.set("tomato", Entry(phonemes="təmˈɑːtoʊ"))
    assert lexicon.apply("One tomato.", "en", False) == "One tomato."


def test_invalid_entries_are_refused(tmp_path: Path) -> None:
    lexicon = Lexicon(tmp_path / "l.json")
    with pytest.raises(InvalidParameterError):
        lexicon.set("two words", Entry(say="x"))
    with pytest.raises(InvalidParameterError):
        lexicon.set("word", Entry())


def test_inline_overrides() -> None:
    text = "Say [tomato](/təmˈɑːtoʊ/) now."
    assert apply_inline(text, True) == "Say [[ təmˈɑːtoʊ ]] now."
    assert apply_inline(text, False) == "Say tomato now."


def test_prepare_runs_lexicon_then_normalization(tmp_path: Path) -> None:
    lexicon = Lexicon(tmp_path / "l.json")
    lexicon.set("Polyvox", Entry(say="polly vox"))
    out = prepare_text(
        "Polyvox has 3 [voices](/vˈɔɪsɪz/).", "en", normalize=True, lexicon=lexicon, phonemes_ok=True
    )
    assert out == "polly vox has three [[ vˈɔɪsɪz ]]."
    assert prepare_text("3 cats", "fr", normalize=True) == "3 cats"
