"""Word error rate with normalization."""

from __future__ import annotations

import pytest

from polyvox.stt.metrics import normalize_for_wer, word_error_rate
from polyvox.stt.transcriber import Transcriber


def test_identical() -> None:
    assert word_error_rate("the quick brown fox", "the quick brown fox") == 0.0


def test_case_and_punctuation_do_not_count() -> None:
    assert word_error_rate("The quick, brown fox!", "the quick brown fox.") == 0.0
    assert normalize_for_wer("  Hello,   World!  ") == "hello world"


def test_hyphens_split_words() -> None:
    assert word_error_rate("a well-known fact", "a well known fact") == 0.0


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("the quick brown fox", "the quick brown cat", 0.25),  # one substitution
        ("the quick brown fox", "the quick fox", 0.25),  # one deletion
        ("the quick brown fox", "the very quick brown fox", 0.25),  # one insertion
        ("one two", "three four five", 1.5),  # more errors than reference words
    ],
)
def test_known_rates(reference: str, hypothesis: str, expected: float) -> None:
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected)


def test_empty() -> None:
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("...", "") == 0.0
    assert word_error_rate("", "something") == 1.0
    assert word_error_rate("something", "") == 1.0


def test_transcriber_is_lazy() -> None:
    assert not Transcriber().loaded
