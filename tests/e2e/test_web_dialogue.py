"""The page's Dialogue panel in headless Chromium: a cast and a script, played as the turns stream in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Server, run_server
from tests.e2e.test_web import WAIT_MS, browser, open_index  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.slow

CAST = "Alice = tone/beep\n# the second speaker\nBob = tone/boop"
SCRIPT = "Alice: One two.\nBob: Three four.\nAlice: Five six."


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The tone engine sleeps 0.3 s per segment and turns render one after another: the turns after the first
    come while it plays."""
    with run_server(
        tmp_path_factory.mktemp("web-dialogue"), POLYVOX_TONE__DELAY="0.3", POLYVOX_DIALOGUE__LOOKAHEAD="1"
    ) as server:
        yield server


def test_dialogue_panel_plays_the_turns_as_they_stream(site: Server, browser: Any) -> None:  # noqa: F811
    page = open_index(browser, site)
    page.page.fill("#dialogue-cast", CAST)
    page.page.fill("#dialogue-script", SCRIPT)
    page.page.click("#dialogue-play")
    page.page.wait_for_selector("#dialogue-player[data-state=done]", timeout=WAIT_MS)
    player = page.data("#dialogue-player")
    reference = httpx.post(
        site.url + "/v1/audio/dialogue",
        json={"script": SCRIPT, "cast": {"Alice": "tone/beep", "Bob": "tone/boop"}, "response_format": "pcm"},
        timeout=60,
    ).json()
    assert [t["speaker"] for t in reference["turns"]] == ["Alice", "Bob", "Alice"]
    assert float(player["secondsScheduled"]) == pytest.approx(reference["duration"], abs=0.002)
    assert int(player["samplesReceived"]) == round(reference["duration"] * reference["sample_rate"])
    assert int(player["chunks"]) >= 3  # turn by turn
    # The first turn was scheduled well before the last one had been synthesized.
    assert int(player["firstAudioMs"]) + 400 < int(player["doneMs"])
    assert "3 turns" in (page.page.text_content("#dialogue-player") or "")
    page.shot("web-dialogue.png")
    assert page.errors == []
    page.context.close()


def test_dialogue_panel_shows_an_unknown_speaker(site: Server, browser: Any) -> None:  # noqa: F811
    page = open_index(browser, site)
    page.page.fill("#dialogue-cast", "Alice = tone/beep")
    page.page.fill("#dialogue-script", SCRIPT)
    page.page.click("#dialogue-play")
    page.page.wait_for_selector("#dialogue-player[data-state=error]", timeout=WAIT_MS)
    message = page.page.text_content("#dialogue-player") or ""
    assert message.startswith("unknown_speaker:") and "'Bob'" in message
    page.context.close()
