"""English normalization: a table of written forms and what should be spoken."""

from __future__ import annotations

import pytest

from polyvox.text.normalize import cardinal, is_english, normalize_text, ordinal, year

CASES = [
    # cardinals
    ("I have 3 cats.", "I have three cats."),
    ("There are 42 of them.", "There are forty-two of them."),
    ("A crowd of 1,234 people.", "A crowd of one thousand two hundred and thirty-four people."),
    ("Over 1,000,000 served.", "Over one million served."),
    ("It fell to -5 overnight.", "It fell to minus five overnight."),
    ("Room 101 is empty.", "Room one hundred and one is empty."),
    ("He scored 0 points.", "He scored zero points."),
    # ordinals
    ("The 1st time.", "The first time."),
    ("Her 2nd try.", "Her second try."),
    ("On the 23rd floor.", "On the twenty-third floor."),
    ("The 100th visitor.", "The one hundredth visitor."),
    # decimals
    ("Pi is 3.14.", "Pi is three point one four."),
    ("It costs 0.5 units.", "It costs zero point five units."),
    # currency
    ("It costs $5.", "It costs five dollars."),
    ("Only $1 each.", "Only one dollar each."),
    ("Pay $1,250.50 now.", "Pay one thousand two hundred and fifty dollars and fifty cents now."),
    ("A $2.5 million deal.", "A two point five million dollars deal."),
    ("It was £20.", "It was twenty pounds."),
    ("Tickets cost €3.01.", "Tickets cost three euros and one cent."),
    # percentages
    ("Growth was 45%.", "Growth was forty-five percent."),
    ("Only 3.5% left.", "Only three point five percent left."),
    # dates
    ("We met on March 15, 2024.", "We met on March fifteenth, twenty twenty-four."),
    ("Due 2024-03-15.", "Due March fifteenth, twenty twenty-four."),
    ("Born 4/7/1990.", "Born April seventh, nineteen ninety."),
    ("Meet me on Jan 3rd.", "Meet me on January third."),
    ("It opens 15 March 2025.", "It opens the fifteenth of March twenty twenty-five."),
    # times
    ("Call me at 3:30 pm.", "Call me at three thirty p m."),
    ("The train leaves at 10:05.", "The train leaves at ten oh five."),
    ("Wake up at 7:00.", "Wake up at seven o'clock."),
    ("Lunch at 12pm today.", "Lunch at twelve p m today."),
    # years
    ("In 1999 we moved.", "In nineteen ninety-nine we moved."),
    ("By 2005 it was done.", "By two thousand and five it was done."),
    ("The year 2000 came.", "The year two thousand came."),
    # units
    ("It weighs 5 kg.", "It weighs five kilograms."),
    ("Just 1 km away.", "Just one kilometer away."),
    ("Drive at 60 mph.", "Drive at sixty miles per hour."),
    ("It is 20°C outside.", "It is twenty degrees Celsius outside."),
    ("A 500 MB file.", "A five hundred megabytes file."),
    ("Wait 250 ms.", "Wait two hundred and fifty milliseconds."),
    ("Add 1/2 cup.", "Add one half cup."),
    ("Pages 10-20 are missing.", "Pages ten to twenty are missing."),
    # abbreviations
    ("Dr. Smith is here.", "Doctor Smith is here."),
    ("Mr. and Mrs. Jones.", "Mister and Missus Jones."),
    ("Cats vs. dogs.", "Cats versus dogs."),
    ("Apples, pears, etc. are fruit.", "Apples, pears, et cetera are fruit."),
    ("Bring tools, e.g. hammers.", "Bring tools, for example hammers."),
    ("St. Paul lives on Main St.", "Saint Paul lives on Main Street."),
    ("Item No. 5 is sold.", "Item number five is sold."),
    ("Salt & pepper.", "Salt and pepper."),
    # URLs and e-mail addresses
    ("Visit https://www.example.com/docs.", "Visit www dot example dot com slash docs."),
    ("See example.org or www.python.org today.", "See example.org or www dot python dot org today."),
    ("Mail john.smith@example.org now.", "Mail john dot smith at example dot org now."),
    ("Write to ann_2@mail.co.uk please.", "Write to ann underscore two at mail dot co dot uk please."),
    # left alone
    ("Hello there, how are you?", "Hello there, how are you?"),
    ("Say [[ h ə l oʊ ]] 42 times.", "Say [[ h ə l oʊ ]] forty-two times."),
    ("Say [tomato](/təmˈɑːtoʊ/) 3 times.", "Say [tomato](/təmˈɑːtoʊ/) three times."),
]


@pytest.mark.parametrize(("written", "spoken"), CASES, ids=[c[0] for c in CASES])
def test_english_is_normalized(written: str, spoken: str) -> None:
    assert normalize_text(written, "en-us") == spoken


def test_table_has_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("language", ["fr", "ja", "de-DE", "es"])
def test_other_languages_pass_through(language: str) -> None:
    text = "Le 15 mars 2024 à 3:30, 45% de $5."
    assert normalize_text(text, language) == text


def test_no_language_counts_as_english() -> None:
    assert is_english(None) and is_english("en_GB") and not is_english("fr-fr")
    assert normalize_text("7 days") == "seven days"


def test_helpers() -> None:
    assert cardinal("-3.25") == "minus three point two five"
    assert ordinal(12) == "twelfth"
    assert year(1066) == "ten sixty-six"
