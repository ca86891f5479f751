from polyvox.text.segment import MAX_SEGMENT_CHARS, clean_text, segment_text, split_sentences


def test_sentences_respect_abbreviations_and_decimals() -> None:
    text = "Dr. Smith paid $3.50 in the U.S. yesterday. Then he left! Did he?"
    assert split_sentences(text) == [
        "Dr. Smith paid $3.50 in the U.S. yesterday.",
        "Then he left!",
        "Did he?",
    ]


def test_paragraph_break_ends_a_sentence() -> None:
    assert split_sentences("A heading\n\nThe body starts here.") == ["A heading", "The body starts here."]


def test_japanese_sentences() -> None:
    assert split_sentences("こんにちは。今日はいい天気ですね。", "ja") == [
        "こんにちは。",
        "今日はいい天気ですね。",
    ]


def test_long_sentences_are_split_at_clauses_then_words() -> None:
    text = ", ".join(["a fairly long clause of several words"] * 40) + "."
    segments = segment_text(text)
    assert len(segments) > 1
    assert all(len(s) <= MAX_SEGMENT_CHARS for s in segments)
    assert " ".join(segments).split() == text.split()


def test_clean_text_drops_controls_and_collapses_spaces() -> None:
    assert clean_text("a\x00b  \t c\r\n\n d ") == "a b c\nd"


def test_batching_keeps_the_first_sentence_alone() -> None:
    text = "One. Two two. Three three three. Four. Five five five five five."
    assert segment_text(text, batch_chars=32) == [
        "One.",
        "Two two. Three three three.",
        "Four. Five five five five five.",
    ]
    assert segment_text(text) == split_sentences(text)
    assert segment_text(text, batch_chars=len(text) + 1) == [text]  # fits in one call
