"""Chapter extraction from Markdown and plain text (EPUB is covered end to end in tests/e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyvox.audiobook.sources import html_text, read_book, read_markdown, read_plain
from polyvox.errors import InvalidParameterError


def test_markdown_splits_on_the_repeated_heading_level_and_strips_markup() -> None:
    text = (
        "# The Book\n\nA short **preface**.\n\n## One\n\nFirst *line* with a [link](http://x.org).\n\n"
        "- a list item\n\n## Two\n\n> quoted `code`\n\n### A subsection\n\nMore text.\n"
    )
    book = read_markdown(text, "fallback")
    assert book.title == "The Book"
    assert [(c.title, c.text) for c in book.chapters] == [
        ("The Book", "A short preface."),
        ("One", "First line with a link.\n\na list item"),
        ("Two", "quoted code\n\nMore text."),
    ]


def test_markdown_keeps_inline_phoneme_overrides() -> None:
    book = read_markdown("## A\n\nSay [tomato](/təmˈɑːtoʊ/) now.\n\n## B\n\nEnd.", "x")
    assert book.chapters[0].text == "Say [tomato](/təmˈɑːtoʊ/) now."


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("Just one story.\n\nIn two paragraphs.", ["story"]),
        (
            "Intro.\n\nChapter 1\n\nOne.\n\nCHAPTER II: The Return\n\nTwo.",
            ["story", "Chapter 1", "CHAPTER II: The Return"],
        ),
        ("Part One\nFirst.\nPart Two\nSecond.", ["Part One", "Part Two"]),
    ],
)
def test_plain_text_chapters(text: str, titles: list[str]) -> None:
    assert [c.title for c in read_plain(text, "story").chapters] == titles


def test_chapter_word_inside_a_sentence_does_not_split() -> None:
    book = read_plain("He closed the chapter of his life and left.\n\nThe end.", "story")
    assert len(book.chapters) == 1


def test_html_text_takes_first_heading_and_paragraphs() -> None:
    heading, text = html_text(
        "<html><head><title>T</title><style>p{}</style></head><body><h2>Ch  1</h2>"
        "<p>One &amp; two.</p><p>Three<br/>four.</p><script>x()</script></body></html>"
    )
    assert heading == "Ch 1"
    assert text == "Ch 1\n\nOne & two.\n\nThree\n\nfour."


def test_empty_or_missing_book_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError):
        read_book(tmp_path / "missing.txt")
    (tmp_path / "empty.md").write_text("# Only a heading\n")
    with pytest.raises(InvalidParameterError):
        read_book(tmp_path / "empty.md")
