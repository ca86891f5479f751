"""Language tags: the one place that normalizes them and matches a requested tag against offered ones.

Tags travel as lower-case, hyphenated BCP-47-ish codes inside Polyvox (``en-us``, ``ja``, ``zh-hans``);
``en_US``, ``EN-us`` and `` en-US `` all mean ``en-us``. A requested tag matches an offered one at one of
three levels, best first:

- ``EXACT``: the same tag (``en-us`` / ``en_US``);
- ``BARE``: one of the two is the other's bare primary language (``en`` / ``en-us``, ``fr-fr`` / ``fr``);
- ``SIBLING``: the same primary language, different regions (``en-gb`` / ``en-us``).

Each caller says how loose a match it accepts: an engine "speaks" ``fr-FR`` if it declares ``fr`` (``BARE``)
but not ``en-gb`` when it declares only ``en-us``, while a protocol door looking for any voice of the
language takes a sibling (``SIBLING``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Match(IntEnum):
    """How well an offered tag fits a requested one (higher is better)."""

    NONE = 0
    SIBLING = 1
    BARE = 2
    EXACT = 3


def language_tag(code: str | None, default: str = "") -> str:
    """``en_US`` / ``EN-us`` / `` en-US `` -> ``en-us``; ``default`` for an empty or missing code."""
    tag = (code or "").strip().replace("_", "-").lower()
    return tag or default


def primary_language(code: str | None, default: str = "") -> str:
    """The primary subtag: ``en_US`` -> ``en``, ``zh-hans-cn`` -> ``zh``; ``default`` when there is none."""
    return language_tag(code, default).partition("-")[0]


def match_level(wanted: str, offered: str) -> Match:
    """How well ``offered`` fits ``wanted`` (see the module docstring); tags in any spelling."""
    wanted, offered = language_tag(wanted), language_tag(offered)
    if not wanted or not offered:
        return Match.NONE
    if wanted == offered:
        return Match.EXACT
    base_wanted, base_offered = wanted.partition("-")[0], offered.partition("-")[0]
    if base_wanted != base_offered:
        return Match.NONE
    if wanted == base_wanted or offered == base_offered:
        return Match.BARE
    return Match.SIBLING


def best_match(wanted: str, offered: Iterable[str], *, least: Match = Match.SIBLING) -> str | None:
    """The offered tag (as it was given) that fits ``wanted`` best and at least at ``least``, or None.

    An exact tag wins, then the bare language (or a regional tag for a bare request), then another region
    of the same language; among equals the first offered wins, so callers list their preferred tags first.
    """
    best: str | None = None
    best_level = Match.NONE
    for code in offered:
        level = match_level(wanted, code)
        if level > best_level and level >= least:
            best, best_level = code, level
            if level is Match.EXACT:
                break
    return best


def speaks(wanted: str, offered: Iterable[str], *, least: Match = Match.SIBLING) -> bool:
    """Whether any offered tag fits ``wanted`` at least at ``least``."""
    return best_match(wanted, offered, least=least) is not None
