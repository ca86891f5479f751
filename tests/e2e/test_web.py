"""The web page and the OBS source in headless Chromium (Debian's ``chromium``), driven by Playwright.

Audio is asserted through counters the pages keep (samples received and scheduled into Web Audio), compared
with what the HTTP API returns for the same request. Screenshots go to ``tests/output/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api
from tests.e2e.conftest import Server, run_monitor_site

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
OUTPUT = Path(__file__).resolve().parents[1] / "output"
WAIT_MS = 15_000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A server whose default engine is the tone engine and whose one allowed root is ``logs``."""
    with run_monitor_site(tmp_path_factory.mktemp("web")) as site:
        yield site


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page in a fresh browser context that records console errors."""

    def __init__(self, browser: Any, url: str, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(url)

    def data(self, selector: str) -> dict[str, str]:
        result: dict[str, str] = self.page.eval_on_selector(selector, "e => ({...e.dataset})")
        return result

    def shot(self, name: str) -> None:
        OUTPUT.mkdir(exist_ok=True)
        self.page.screenshot(path=str(OUTPUT / name), full_page=True)


def open_index(browser: Any, server: Server, **context: Any) -> Page:
    page = Page(browser, server.url + "/", **context)
    page.page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    return page


def test_page_lists_the_engines_as_tabs_without_console_errors(
    site: tuple[Server, Path], browser: Any
) -> None:
    server, _ = site
    listed = httpx.get(server.url + "/v1/engines").json()
    page = open_index(browser, server, viewport={"width": 1100, "height": 900})
    tabs = page.page.eval_on_selector_all(
        "[role=tab]", "ts => ts.map(t => [t.dataset.engine, t.ariaSelected])"
    )
    assert [name for name, _ in tabs] == [e["name"] for e in listed["engines"]]
    assert [name for name, selected in tabs if selected == "true"] == [listed["default"]]
    assert page.page.text_content("#engine-state") == "loaded · 0 in use"
    assert page.page.text_content("#engine-languages") == "en-us"
    # Every control has a label.
    unlabelled = page.page.eval_on_selector_all(
        "input, select, textarea", "els => els.filter(e => !e.labels || !e.labels.length).map(e => e.id)"
    )
    assert unlabelled == []
    page.shot("web-desktop.png")
    # Phone width: nothing wider than the screen.
    page.page.set_viewport_size({"width": 375, "height": 800})
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 375
    page.shot("web-phone.png")
    assert page.errors == []
    page.context.close()


def test_polish_no_raw_fields_no_empty_widgets_title_in_the_column(
    site: tuple[Server, Path], browser: Any
) -> None:
    server, _ = site
    page = open_index(browser, server, viewport={"width": 1400, "height": 900})
    capabilities = page.page.text_content("#engine-capabilities") or ""
    assert "cloning_mode" not in capabilities and "library voices by conversion" in capabilities
    assert not page.page.is_visible("#history-heading") and not page.page.is_visible("#voice-preview")
    title = page.page.locator(".top h1").bounding_box()
    card = page.page.locator("main .card").first.bounding_box()
    assert title is not None and card is not None
    assert abs(title["x"] - card["x"]) <= 2  # the title starts where the content column starts
    page.page.fill("#text", "One two.")
    page.page.click("#speak")
    page.page.wait_for_selector("#player[data-state=done]", timeout=WAIT_MS)
    assert page.page.is_visible("#history-heading")
    page.shot("web-polished.png")
    assert page.errors == []
    page.context.close()


def test_speak_plays_streamed_audio_while_synthesis_runs(site: tuple[Server, Path], browser: Any) -> None:
    server, _ = site
    text = "One two. Three four. Five six."
    page = open_index(browser, server)
    page.page.fill("#text", text)
    page.page.click("summary")
    page.page.fill("#param-delay", "0.3")  # the tone engine sleeps 0.3 s per sentence
    page.page.click("#speak")
    page.page.wait_for_selector("#player[data-state=done]", timeout=WAIT_MS)
    player = page.data("#player")
    reference = httpx.post(server.url + "/v1/synthesize", json={"text": text, "format": "pcm"})
    assert int(player["samplesReceived"]) == len(reference.content) // 2 == 3 * 2 * 3200
    assert float(player["secondsScheduled"]) == pytest.approx(1.2, abs=0.002)
    assert int(player["chunks"]) >= 3
    # The first sentence was scheduled well before the last one had been synthesized.
    assert int(player["firstAudioMs"]) + 400 < int(player["doneMs"])
    assert page.page.locator("#history li").count() == 1
    # Download the same text as WAV.
    page.page.select_option("#format", "wav")
    with page.page.expect_download() as download:
        page.page.click("#download")
    assert download.value.suggested_filename == "polyvox.wav"
    assert int(page.data("#player")["downloadBytes"]) == 44 + len(reference.content)
    page.shot("web-spoken.png")
    assert page.errors == []
    page.context.close()


def test_selected_engine_survives_a_reload(site: tuple[Server, Path], browser: Any) -> None:
    server, _ = site
    page = open_index(browser, server)
    first = page.page.evaluate("document.querySelector('[role=tab]').id")  # engines in name order
    assert first != "tab-tone"
    page.page.focus("#tab-tone")
    page.page.keyboard.press("Home")  # keyboard navigation selects the first tab
    page.page.wait_for_selector(f"#{first}[aria-selected=true]")
    assert page.page.evaluate("document.activeElement.id") == first
    # Let the tab's voice list arrive first: a reload mid-fetch logs an aborted request as a console error.
    page.page.wait_for_load_state("networkidle")
    page.page.reload()
    page.page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    assert page.page.get_attribute(f"#{first}", "aria-selected") == "true"
    assert page.page.get_attribute("#tab-tone", "aria-selected") == "false"
    assert page.errors == []
    page.context.close()


def _lines_of(obs: Page) -> list[str]:
    lines: list[str] = obs.page.evaluate("window.polyvoxObs.received.map(r => r.text)")
    return lines


def test_monitor_from_the_page_feeds_the_obs_source(site: tuple[Server, Path], browser: Any) -> None:
    server, logs = site
    chat = logs / "chat.log"
    chat.write_text("said before the monitor started\n")
    page = open_index(browser, server)
    page.page.fill("#monitor-path", str(chat))
    page.page.click("#monitor-start")
    item = page.page.wait_for_selector("#monitors li", timeout=WAIT_MS)
    monitor_id = item.get_attribute("data-id")
    assert monitor_id

    obs = Page(
        browser, f"{server.url}/obs?monitor={monitor_id}&captions=1", viewport={"width": 800, "height": 450}
    )
    obs.page.wait_for_selector("body[data-state=connected]", state="attached", timeout=WAIT_MS)

    def wait_played(count: int) -> None:
        obs.page.wait_for_selector(f"body[data-lines-played='{count}']", state="attached", timeout=WAIT_MS)

    with chat.open("a") as handle:
        handle.write("First line.\nSecond line here.\nThird\n")
    wait_played(3)
    assert _lines_of(obs) == ["First line.", "Second line here.", "Third"]
    words = 2 + 3 + 1
    # tone: 0.2 s per word (decodeAudioData resamples to the context's rate, so compare seconds)
    assert float(obs.data("body")["seconds"]) == pytest.approx(words * 0.2, abs=0.002)
    assert int(obs.data("body")["samples"]) > 0
    obs.page.wait_for_selector("#caption.on", timeout=WAIT_MS)
    obs.shot("obs-source.png")

    # Rotation mid-line: the old file is read to its end, then the new one from its start.
    with chat.open("a") as handle:
        handle.write("Fourth before rotation\nFifth ")
    os.rename(chat, logs / "chat.log.1")
    with (logs / "chat.log.1").open("a") as handle:
        handle.write("finished in the old file\n")
    chat.write_text("Sixth in the new file\n")
    wait_played(6)
    # Truncation, then a line longer than what was there.
    chat.write_text("")
    chat.write_text("Seventh after truncation, longer than before\n")
    wait_played(7)
    assert _lines_of(obs)[3:] == [
        "Fourth before rotation",
        "Fifth finished in the old file",
        "Sixth in the new file",
        "Seventh after truncation, longer than before",
    ]
    seqs = obs.page.evaluate("window.polyvoxObs.received.map(r => r.seq)")
    assert seqs == list(range(1, 8))
    page.page.wait_for_selector("#monitors li[data-spoken='7']", timeout=WAIT_MS)
    page.shot("web-monitor.png")
    status = httpx.get(server.url + "/v1/monitor/status", params={"id": monitor_id}).json()["monitors"][0]
    assert (status["rotations"], status["dropped"], status["errors"]) == (1, 0, 0)

    page.page.click(f"#monitors li[data-id='{monitor_id}'] button:text('Stop')")
    obs.page.wait_for_selector("body[data-state=ended]", state="attached", timeout=WAIT_MS)
    assert page.errors == [] and obs.errors == []
    obs.context.close()
    page.context.close()


def test_page_reports_a_path_outside_the_allowed_roots(site: tuple[Server, Path], browser: Any) -> None:
    server, _ = site
    page = open_index(browser, server)
    page.page.fill("#monitor-path", "/etc/passwd")
    page.page.click("#monitor-start")
    page.page.wait_for_selector("#monitor-message[data-code=path_not_allowed]", timeout=WAIT_MS)
    assert "outside the allowed roots" in (page.page.text_content("#monitor-message") or "")
    # The browser itself logs the refused request (403); nothing else may be logged.
    assert [e for e in page.errors if "403" not in e] == []
    page.context.close()


def test_engine_that_needs_weights_shows_its_next_step(site: tuple[Server, Path], browser: Any) -> None:
    """An engine that cannot speak yet shows why and what to do, and offers no Load button."""
    server, _ = site
    pocket = next(e for e in httpx.get(server.url + "/v1/engines").json()["engines"] if e["name"] == "pocket")
    assert pocket["state"] == "needs_weights"
    page = open_index(browser, server)
    page.page.click("#tab-pocket")
    page.page.wait_for_selector("#engine-state[data-state=needs_weights]", timeout=WAIT_MS)
    shown = page.page.text_content("#engine-state") or ""
    assert shown.startswith("needs its weights: ") and pocket["model_dir"] in shown
    assert page.page.is_disabled("#engine-load")
    page.shot("web-engine-needs-weights.png")
    page.page.click("#tab-tone")
    page.page.wait_for_selector("#engine-state[data-state=ready]", timeout=WAIT_MS)
    assert (page.page.text_content("#engine-state") or "").startswith("loaded")  # the default, in use
    assert page.errors == []
    page.context.close()


PANEL = "section:has(#monitor-heading)"


def test_an_idle_page_asks_the_monitor_status_once_and_logs_it_at_debug(
    site: tuple[Server, Path], browser: Any
) -> None:
    server, _ = site
    context = browser.new_context()
    page = context.new_page()
    page.clock.install()  # the page's timers run on a clock the test moves, not on the wall clock
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/v1/monitor/status" in r.url else None)
    with page.expect_response(lambda r: "/v1/monitor/status" in r.url, timeout=WAIT_MS):
        page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    assert page.is_visible(PANEL)  # this server allows a folder
    page.clock.run_for(60_000)  # a minute of the page's time: every timer due in it fires
    page.evaluate("fetch('/health').then(r => r.status)")  # a round trip after anything the timers sent
    assert len(asked) == 1, asked
    assert "/v1/monitor/status" not in server.log()  # polled routes are logged at debug, not info
    context.close()


def test_the_monitor_panel_is_hidden_when_no_folder_is_allowed(server: Server, browser: Any) -> None:
    page = open_index(browser, server)  # the session's server: monitor.allowed_roots is empty
    # The panel has asked the server (its idle marker), and found no folder it may watch: nothing to show.
    page.page.wait_for_selector(f"{PANEL}[data-polling=off]", state="attached", timeout=WAIT_MS)
    assert page.page.is_hidden(PANEL)
    assert page.errors == []
    page.context.close()
