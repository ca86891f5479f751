"""The one language matcher: tags normalized whatever their spelling, then matched exact, bare, sibling."""

from __future__ import annotations

import pytest

from polyvox.engines.kokoro import resolve_language
from polyvox.engines.neural.xtts import xtts_language
from polyvox.errors import LanguageNotSupportedError
from polyvox.language import Match, best_match, language_tag, match_level, primary_language, speaks


@pytest.mark.parametrize(
    ("code", "tag"),
    [("en_US", "en-us"), ("en-US", "en-us"), (" EN ", "en"), ("zh_Hans_CN", "zh-hans-cn"), ("ja", "ja")],
)
def test_tags_are_lower_case_and_hyphenated(code: str, tag: str) -> None:
    assert language_tag(code) == tag


def test_empty_tags_take_the_default() -> None:
    assert language_tag(None) == "" and language_tag("  ", "en-us") == "en-us"
    assert primary_language(None, "en") == "en" and primary_language("", "en") == "en"
    assert primary_language("pt_BR") == "pt" and primary_language("CMN") == "cmn"


@pytest.mark.parametrize(
    ("wanted", "offered", "level"),
    [
        ("en_US", "en-us", Match.EXACT),
        ("EN", "en", Match.EXACT),
        ("en", "en-us", Match.BARE),  # a bare request, a regional offer
        ("fr-FR", "fr", Match.BARE),  # a regional request, a bare offer
        ("en-gb", "en-us", Match.SIBLING),  # another region of the same language
        ("en", "eng", Match.NONE),  # a primary subtag is compared whole, not as a prefix
        ("cs", "fr", Match.NONE),
        ("", "en", Match.NONE),
    ],
)
def test_match_levels(wanted: str, offered: str, level: Match) -> None:
    assert match_level(wanted, offered) is level


def test_the_exact_region_wins_over_an_earlier_relative() -> None:
    offered = ["en-gb", "en", "en-us"]
    assert best_match("en_US", offered) == "en-us"
    assert best_match("en-au", offered) == "en"  # no en-au: the bare language before a sibling
    assert best_match("en-au", ["en-gb", "en-us"]) == "en-gb"  # siblings: the first offered
    assert best_match("en", ["fr", "en-gb", "en-us"]) == "en-gb"


def test_the_offered_spelling_is_returned() -> None:
    assert best_match("pt-br", ["pt_BR"]) == "pt_BR"


def test_no_match_and_the_least_accepted_level() -> None:
    assert best_match("cs", ["fr", "de"]) is None
    assert best_match("en-gb", ["en-us"], least=Match.BARE) is None
    assert best_match("en-gb", ["en-us", "en"], least=Match.BARE) == "en"
    assert best_match("en", ["en-us"], least=Match.EXACT) is None
    assert best_match("en", []) is None
    assert speaks("fr_CA", ["fr-fr"]) and not speaks("fr_CA", ["fr-fr"], least=Match.BARE)


@pytest.mark.parametrize(
    ("wanted", "code"),
    [("en", "en-us"), ("EN_gb", "en-gb"), ("ja-JP", "ja"), ("fr", "fr-fr"), ("pt", "pt-br"), ("zh", "cmn")],
)
def test_kokoro_reads_tags_through_the_matcher(wanted: str, code: str) -> None:
    assert resolve_language(wanted, "text", "ja") == code


@pytest.mark.parametrize(
    ("wanted", "code"), [("en-au", "en"), ("zh_TW", "zh-cn"), ("PT-br", "pt"), (None, "en")]
)
def test_xtts_reads_tags_through_the_matcher(wanted: str | None, code: str) -> None:
    assert xtts_language(wanted) == code


@pytest.mark.parametrize("wanted", ["fr-ca", "en-au", "cs"])  # fr-ca, en-au: other accents of regional ones
def test_kokoro_refuses_what_it_does_not_speak(wanted: str) -> None:
    with pytest.raises(LanguageNotSupportedError):
        resolve_language(wanted, "text", "ja")


@pytest.mark.parametrize("wanted", ["sw", "eo-x"])
def test_xtts_refuses_what_it_does_not_speak(wanted: str) -> None:
    with pytest.raises(LanguageNotSupportedError):
        xtts_language(wanted)
