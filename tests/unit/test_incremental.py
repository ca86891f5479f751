"""Sentences released from text that arrives in fragments."""

from polyvox.text.incremental import IncrementalSegmenter


def feed_all(segmenter: IncrementalSegmenter, fragments: list[str]) -> list[str]:
    released: list[str] = []
    for fragment in fragments:
        released.extend(segmenter.feed(fragment))
    rest = segmenter.flush()
    return [*released, rest] if rest else released


def test_word_by_word_releases_each_sentence_once_in_order() -> None:
    text = "Hello there. Dr. Smith paid 3.50 dollars today! Is that right? Yes"
    words = [w + " " for w in text.split(" ")]
    assert feed_all(IncrementalSegmenter(), words) == [
        "Hello there.",
        "Dr. Smith paid 3.50 dollars today!",
        "Is that right?",
        "Yes",
    ]


def test_a_finished_sentence_is_released_before_the_next_one_starts() -> None:
    segmenter = IncrementalSegmenter()
    assert segmenter.feed("It is done") == []
    assert segmenter.feed(".") == ["It is done."]  # eager: no need to wait for more text
    assert segmenter.feed(" Dr.") == []  # an abbreviation is not a sentence end
    assert segmenter.pending.strip() == "Dr."


def test_three_character_fragments() -> None:
    text = "First one is here. Second one follows. Third."
    fragments = [text[i : i + 3] for i in range(0, len(text), 3)]
    assert feed_all(IncrementalSegmenter(), fragments) == [
        "First one is here.",
        "Second one follows.",
        "Third.",
    ]


def test_text_without_punctuation_is_cut_at_a_space_when_too_long() -> None:
    segmenter = IncrementalSegmenter(max_chars=20)
    released = segmenter.feed("one two three four five six seven")
    assert released == ["one two three four five six"]
    assert segmenter.flush() == "seven"


def test_max_wait_and_clear() -> None:
    segmenter = IncrementalSegmenter(max_wait=1.0)
    segmenter.feed("waiting for more")
    assert not segmenter.due(now=0.0 + segmenter._last_fed + 0.5)
    assert segmenter.due(now=segmenter._last_fed + 1.5)
    segmenter.clear()
    assert segmenter.pending == "" and not segmenter.due()


def test_the_first_phrase_of_a_sentence_still_arriving_is_taken_out_once_known() -> None:
    segmenter = IncrementalSegmenter("en-us")
    assert segmenter.feed("When the morning came, the travellers gathered ") == []
    assert segmenter.take_first_phrase() is None  # eight words: not yet known to be a long sentence
    segmenter.feed("their things and walked")
    assert segmenter.take_first_phrase() == "When the morning came,"
    assert segmenter.pending == "the travellers gathered their things and walked"
    assert segmenter.feed(" down to the harbour. ") == [
        "the travellers gathered their things and walked down to the harbour."
    ]
