"""Phrase first (polyvox.text.phrases): where a listener's long first sentence may be cut, and where never."""

from __future__ import annotations

import pytest

from polyvox.text.phrases import first_phrase
from polyvox.text.segment import segment_text


@pytest.mark.parametrize(
    ("sentence", "phrase"),
    [
        (
            "When the morning came, the travellers gathered their things and walked to the harbour.",
            "When the morning came,",
        ),
        (
            "Speech synthesis has come a long way in the last few years.",
            "Speech synthesis has come a long way",
        ),
        (
            "I wanted to go to the party but my car broke down on the highway this morning.",
            "I wanted to go to the party",
        ),
        (
            "He said — quite loudly — that the meeting was over and everyone should leave.",
            "He said — quite loudly —",
        ),
        # Never inside a number, a time or an abbreviation: "1,000,000", "10:30", "Dr." have no cut.
        (
            "The total was 1,000,000 dollars, and nobody knew where any of it had gone.",
            "The total was 1,000,000 dollars,",
        ),
        (
            "Dr. Smith arrived at 10:30 with the results of the tests everyone awaited.",
            "Dr. Smith arrived at 10:30",
        ),
    ],
)
def test_a_long_sentence_is_cut_after_its_first_phrase(sentence: str, phrase: str) -> None:
    cut = first_phrase(sentence, "en-us")
    assert cut is not None and cut[0] == phrase
    assert f"{cut[0]} {cut[1]}" == sentence  # nothing lost, nothing added


@pytest.mark.parametrize(
    "sentence",
    [
        "A short sentence, kept whole.",  # under ten words: quick anyway
        "Hello, world, this is the end of it all.",  # no phrase of four words before the last three
        "Eleven plain words follow each other here quietly enough today now.",  # nowhere to breathe
    ],
)
def test_where_no_phrase_is_cut(sentence: str) -> None:
    assert first_phrase(sentence, "en-us") is None


def test_only_the_first_sentence_is_cut_and_it_stays_alone_when_segments_are_batched() -> None:
    text = (
        "When the morning came, the travellers gathered their things and walked to the harbour. "
        "They found a boat, and a sailor who would take them across. The sea was calm."
    )
    assert segment_text(text, "en-us", batch_chars=300) == [text]  # a file: one batch
    assert segment_text(text, "en-us", batch_chars=300, phrase=True) == [
        "When the morning came,",
        "the travellers gathered their things and walked to the harbour. They found a boat, and a sailor "
        "who would take them across. The sea was calm.",
    ]
    assert segment_text(text, "en-us", phrase=True)[:3] == [
        "When the morning came,",
        "the travellers gathered their things and walked to the harbour.",
        "They found a boat, and a sailor who would take them across.",
    ]


def test_a_phoneme_block_is_never_cut() -> None:
    cut = first_phrase("Say [[ hɛloʊ, wɝld ]] to the nice people in the room over there please.", "en-us")
    assert cut == ("Say [[ hɛloʊ, wɝld ]] to the nice people", "in the room over there please.")
