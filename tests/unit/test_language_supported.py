"""Which request languages an engine speaks: bare and regional tags, either way round."""

from __future__ import annotations

import pytest

from polyvox.engines.base import EngineInfo, Voice
from polyvox.request import language_supported


def info(*languages: str) -> EngineInfo:
    return EngineInfo(name="x", label="X", description="", languages=languages, sample_rate=24_000)


@pytest.mark.parametrize(
    ("wanted", "languages", "spoken"),
    [
        ("en", ("en-us",), True),  # a bare request, a regional engine
        ("fr-FR", ("fr", "de"), True),  # a regional request, a bare engine
        ("fr_fr", ("fr",), True),
        ("en-gb", ("en-us",), False),  # another region is another accent
        ("cs", ("fr", "de"), False),
        ("pt-br", ("pt_BR",), True),  # an engine's tags are read in any spelling too
    ],
)
def test_bare_and_regional_tags(wanted: str, languages: tuple[str, ...], spoken: bool) -> None:
    assert language_supported(wanted, info(*languages), []) is spoken


def test_a_voice_adds_its_languages() -> None:
    voice = Voice(id="v", name="V", engine="x", language="ja", languages=("en-us",))
    assert language_supported("ja-JP", info("fr"), [voice])
    assert language_supported("en", info("fr"), [voice])
