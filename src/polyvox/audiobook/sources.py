"""Chapter extraction: a book file becomes a title and an ordered list of chapters of plain text.

* EPUB (ebooklib): the spine's documents in reading order; a document's first heading names its chapter, and
  documents with no readable text (cover images, empty navigation pages) are skipped.
* Markdown: a chapter starts at each heading of the highest level the file uses more than once (so a single
  ``# Book title`` over ``## Chapter`` headings splits on the ``##`` ones); markup is stripped.
* Plain text: split on lines such as "Chapter 3", "CHAPTER IV" or "Part One: ..."; otherwise one chapter.

Paragraphs stay separated by blank lines so the long-form job pauses between them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from polyvox.errors import InvalidParameterError

_CHAPTER_LINE = re.compile(
    r"^\s*(?:chapter|part|book)\s+(?:[0-9]+|[ivxlcdm]+|[a-z]+)\b[^\n]{0,80}$", re.IGNORECASE | re.MULTILINE
)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MD_INLINE = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\((?!/)[^)]*\)"), r"\1"),  # links keep their text; [w](/ipa/) stays
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])([*_])(.+?)\1(?![\w*])"), r"\2"),
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"^[ \t]{0,3}(?:>[ \t]?|[-*+][ \t]+|\d+[.)][ \t]+)", re.MULTILINE), ""),  # quotes, lists
    (re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.MULTILINE), ""),  # horizontal rules
]
_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "section",
        "article",
        "tr",
        "title",
        "pre",
        "dd",
        "dt",
        "figcaption",
    ]
)


@dataclass(frozen=True, slots=True)
class Chapter:
    """One chapter: a title (spoken first) and its text, paragraphs separated by blank lines."""

    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Book:
    """A whole book, chapters in reading order."""

    title: str
    author: str | None
    chapters: list[Chapter]


def _paragraphs(text: str) -> str:
    """Collapse whitespace inside paragraphs; keep one blank line between them."""
    blocks = (" ".join(block.split()) for block in re.split(r"\n\s*\n", text))
    return "\n\n".join(block for block in blocks if block)


class _HtmlText(HTMLParser):
    """Text of an XHTML document with block elements as paragraphs, plus its first heading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.heading: str | None = None
        self._in_heading = False
        self._heading_parts: list[str] = []
        self._skip = 0  # inside <script>/<style>/<head>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        if tag in ("h1", "h2", "h3") and self.heading is None:
            self._in_heading = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        if self._in_heading and tag in ("h1", "h2", "h3"):
            self._in_heading = False
            self.heading = " ".join("".join(self._heading_parts).split()) or None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.parts.append(data)
        if self._in_heading:
            self._heading_parts.append(data)


def html_text(markup: str) -> tuple[str | None, str]:
    """(first heading, paragraphs) of an HTML/XHTML document."""
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    return parser.heading, _paragraphs("".join(parser.parts))


def _without_heading(title: str, text: str) -> str:
    """The chapter text minus its leading heading (the title is spoken separately)."""
    first, _, rest = text.partition("\n\n")
    return rest if " ".join(first.split()) == title else text


def read_epub(path: Path) -> Book:
    """Chapters of an EPUB in spine order."""
    import ebooklib
    from ebooklib import epub

    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": True})
    except Exception as exc:  # ebooklib raises bare exceptions and zipfile errors alike
        raise InvalidParameterError(f"cannot read EPUB {path.name}: {exc}", param="book") from None
    chapters: list[Chapter] = []
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        # The navigation document (table of contents) is in many spines but is no chapter.
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        heading, text = html_text(item.get_content().decode("utf-8", errors="replace"))
        if not text.strip():
            continue
        title = heading or f"Chapter {len(chapters) + 1}"
        body = _without_heading(title, text) if heading else text
        if body.strip():
            chapters.append(Chapter(title, body))
    titles = book.get_metadata("DC", "title")
    authors = book.get_metadata("DC", "creator")
    return Book(
        title=str(titles[0][0]) if titles else path.stem,
        author=str(authors[0][0]) if authors else None,
        chapters=chapters,
    )


def _strip_markdown(text: str) -> str:
    for pattern, replacement in _MD_INLINE:
        text = pattern.sub(replacement, text)
    return _paragraphs(text)


def read_markdown(text: str, fallback_title: str) -> Book:
    """Chapters at the highest heading level used more than once (or at every heading)."""
    headings = list(_MD_HEADING.finditer(text))
    levels = [len(m.group(1)) for m in headings]
    repeated = [level for level in sorted(set(levels)) if levels.count(level) > 1]
    split_level = repeated[0] if repeated else (min(levels) if levels else 0)
    title = fallback_title
    singles = [m for m in headings if len(m.group(1)) < split_level]
    if singles:  # a lone top heading above the chapter headings is the book's title
        title = _strip_markdown(singles[0].group(2))
    cuts = [m for m in headings if len(m.group(1)) == split_level]
    chapters: list[Chapter] = []
    preface = _strip_markdown(_MD_HEADING.sub("", text[: cuts[0].start()] if cuts else text))
    if preface:
        chapters.append(Chapter(title if cuts else fallback_title, preface))
    for index, match in enumerate(cuts):
        end = cuts[index + 1].start() if index + 1 < len(cuts) else len(text)
        body = _strip_markdown(_MD_HEADING.sub("", text[match.end() : end]))
        if body:
            chapters.append(Chapter(_strip_markdown(match.group(2)), body))
    return Book(title, None, chapters)


def read_plain(text: str, fallback_title: str) -> Book:
    """One chapter, or one per "Chapter N" line."""
    cuts = list(_CHAPTER_LINE.finditer(text))
    if not cuts:
        body = _paragraphs(text)
        return Book(fallback_title, None, [Chapter(fallback_title, body)] if body else [])
    chapters: list[Chapter] = []
    preface = _paragraphs(text[: cuts[0].start()])
    if preface:
        chapters.append(Chapter(fallback_title, preface))
    for index, match in enumerate(cuts):
        end = cuts[index + 1].start() if index + 1 < len(cuts) else len(text)
        body = _paragraphs(text[match.end() : end])
        if body:
            chapters.append(Chapter(" ".join(match.group(0).split()), body))
    return Book(fallback_title, None, chapters)


def read_book(path: Path) -> Book:
    """The chapters of ``path`` (.epub, .md/.markdown or any other text file)."""
    if not path.is_file():
        raise InvalidParameterError(f"no such book file: {path}", param="book")
    suffix = path.suffix.lower()
    if suffix == ".epub":
        book = read_epub(path)
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
        title = path.stem.replace("_", " ").replace("-", " ").strip() or "Book"
        book = read_markdown(text, title) if suffix in (".md", ".markdown") else read_plain(text, title)
    if not book.chapters:
        raise InvalidParameterError(f"{path.name} has no text to read", param="book")
    return book
