"""The Voices panel of the web page in headless Chromium (Debian's ``chromium``), driven by Playwright.

Library voices are uploaded, recorded, previewed, blended and deleted through the page, and every result is
checked through the HTTP API. The fake microphone (``--use-fake-device-for-media-stream``) plays a speech file
that Piper read, so a recording made through the page is real speech; whether the page may use it is the
browser context's microphone permission. Screenshots go to ``tests/output/``.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright import sync_api
from tests.e2e.conftest import Server, run_server

from polyvox.voices.analysis import analyze_voice
from polyvox.voices.decode import decode_audio

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[1] / "output"
WAIT_MS = 15_000
BLEND_WAIT_MS = 90_000  # the first blend loads Kokoro
TEXT = "The weather is nice today, and we are going to the park with our friends."

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: its voice library starts empty."""
    with run_server(tmp_path_factory.mktemp("web-voices")) as running:
        yield running


@pytest.fixture(scope="module")
def speech(vserver: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Piper reading ``TEXT`` (16-bit wav, about 4 s): the uploaded file and what the fake microphone says."""
    response = httpx.post(
        f"{vserver.url}/v1/synthesize",
        # Without piper's sampled noise: the same file, and the same pitch, every run.
        json={"text": TEXT, "engine": "piper", "format": "wav", "noise_scale": 0, "noise_w": 0},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    path.write_bytes(response.content)
    return path


@pytest.fixture(scope="module")
def browser(speech: Path) -> Iterator[Any]:
    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech}",
    ]
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        chromium.close()


class Page:
    """The index page in a fresh browser context, its console errors recorded, its voice list loaded."""

    def __init__(
        self,
        browser: Any,
        server: Server,
        *,
        microphone: bool = True,
        init_script: str | None = None,
        **context: Any,
    ) -> None:
        self.context = browser.new_context(permissions=["microphone"] if microphone else [], **context)
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(server.url + "/")
        self.page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
        self.page.wait_for_selector("#library-voices[data-count]", state="attached", timeout=WAIT_MS)

    def item(self, voice_id: str) -> str:
        return f"#library-voices li[data-id='{voice_id}']"

    def message(self) -> tuple[str, str]:
        """The status line: its text and its error code ("" when it is no error)."""
        text = self.page.text_content("#voices-message") or ""
        return text, self.page.get_attribute("#voices-message", "data-code") or ""

    def shot(self, name: str) -> None:
        OUTPUT.mkdir(exist_ok=True)
        self.page.screenshot(path=str(OUTPUT / name), full_page=True)

    def close(self) -> None:
        self.context.close()


def _library(server: Server) -> dict[str, dict[str, Any]]:
    voices = httpx.get(f"{server.url}/v1/voices").json()["voices"]
    return {v["id"]: v for v in voices if v["engine"] == "library"}


def _voice(server: Server, voice_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/voices/{voice_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _seconds(wav_bytes: bytes) -> float:
    with wave.open(io.BytesIO(wav_bytes)) as handle:
        return handle.getnframes() / handle.getframerate()


def _speak_options(page: Page) -> list[str]:
    values: list[str] = page.page.eval_on_selector_all("#voice option", "os => os.map(o => o.value)")
    return values


def test_upload_preview_and_speak_with_a_voice_from_a_file(
    vserver: Server, speech: Path, browser: Any
) -> None:
    page = Page(browser, vserver)
    page.page.fill("#voice-name", "Piper Reference")
    page.page.fill("#voice-transcript", TEXT)
    page.page.set_input_files("#voice-file", str(speech))
    page.page.click("#voice-upload")
    page.page.wait_for_selector(page.item("piper-reference"), timeout=WAIT_MS)
    text, code = page.message()
    assert text.startswith("Added Piper Reference (id piper-reference") and code == ""
    assert page.page.input_value("#voice-name") == "" and page.page.input_value("#voice-file") == ""

    listed = _library(vserver)["piper-reference"]
    assert (listed["name"], listed["language"]) == ("Piper Reference", "en-us")
    stored = _voice(vserver, "piper-reference")
    assert stored["transcript"] == TEXT
    # The stored reference is the uploaded speech with its edges' silence trimmed.
    source_seconds = _seconds(speech.read_bytes())
    assert source_seconds - 0.6 < stored["analysis"]["seconds"] <= source_seconds
    facts = page.page.text_content(page.item("piper-reference") + " .facts-line") or ""
    assert facts.startswith("en-us · ") and f"{stored['analysis']['seconds']:.1f} s" in facts

    # Preview: the audio element plays the stored reference, all of it.
    page.page.click(page.item("piper-reference") + " button:text('Preview')")
    page.page.wait_for_selector("#voice-preview[data-state=playing]", state="attached", timeout=WAIT_MS)
    duration = float(page.page.get_attribute("#voice-preview", "data-seconds") or 0)
    assert duration == pytest.approx(stored["analysis"]["seconds"], abs=0.01)
    page.page.wait_for_function("document.getElementById('voice-preview').currentTime > 0.3", timeout=WAIT_MS)
    assert page.message()[0].startswith("Playing the reference of Piper Reference")

    # The Speak panel offers the new voice, and speaks with it.
    assert "library:piper-reference" in _speak_options(page)
    page.page.select_option("#voice", "library:piper-reference")
    page.page.fill("#text", "Hello there.")
    page.page.click("#speak")
    page.page.wait_for_selector("#player[data-state=done]", timeout=WAIT_MS)
    assert int(page.page.get_attribute("#player", "data-samples-received") or 0) > 10_000

    # A second voice of the same name: the server's error, with its code, in the status line.
    page.page.fill("#voice-name", "piper reference")
    page.page.set_input_files("#voice-file", str(speech))
    page.page.click("#voice-upload")
    page.page.wait_for_selector("#voices-message[data-code=voice_exists]", timeout=WAIT_MS)
    assert "exists already" in page.message()[0]
    assert list(_library(vserver)).count("piper-reference") == 1
    # The browser itself logs the refused request (409); nothing else may be logged.
    assert [e for e in page.errors if "409" not in e] == []
    page.close()


def test_record_a_voice_with_the_microphone(vserver: Server, speech: Path, browser: Any) -> None:
    page = Page(browser, vserver)
    page.page.fill("#voice-name", "Recorded")
    page.page.click("#voice-record")
    page.page.wait_for_selector("#voice-record[data-state=recording]", timeout=WAIT_MS)
    assert page.page.text_content("#voice-record") == "Stop and add"
    page.page.wait_for_timeout(4000)
    page.page.click("#voice-record")
    page.page.wait_for_selector(page.item("recorded"), timeout=WAIT_MS)
    recorded = float(page.page.get_attribute("#voices-message", "data-recorded-seconds") or 0)
    assert 3.9 < recorded < 5.5
    assert page.page.text_content("#voice-record") == "Record"
    assert page.page.is_enabled("#voice-record")

    stored = _voice(vserver, "recorded")
    assert "recorded" in _library(vserver)
    # All of the recording arrived (webm/opus from MediaRecorder, which the server decodes), barely trimmed.
    assert recorded - 0.8 < stored["analysis"]["seconds"] <= recorded + 0.1
    # It is the speech the fake microphone played (not silence, not a beep): voiced, at the file's pitch. The
    # microphone loops the file from wherever it happens to be, and the median F0 of such stretches of the
    # file spreads by up to 25 %: the recording's must lie in that spread (less what opus coding moves it).
    # Joe's ~140 Hz sits near the male/female line of the analysis, so the label is not compared.
    low, high = _stretch_f0_range(speech, stored["analysis"]["seconds"])
    assert stored["analysis"]["voiced_ratio"] > 0.3
    assert low * 0.93 <= stored["analysis"]["f0_median"] <= high * 1.07, (low, high)
    assert page.errors == []
    page.close()


def _stretch_f0_range(speech: Path, seconds: float) -> tuple[float, float]:
    """The lowest and highest median F0 of ``seconds``-long stretches of ``speech`` played in a loop."""
    samples = decode_audio(speech.read_bytes())
    rate = 24_000
    loop = np.concatenate([samples, samples, samples])
    length = min(int(seconds * rate), 2 * len(samples))
    medians = [
        analyze_voice(loop[start : start + length], rate).f0_median
        for start in range(0, len(samples), len(samples) // 16)
    ]
    return min(medians), max(medians)


# A machine without a microphone, and a page on a plain-http address other than localhost, cannot be arranged
# here: these stand-ins make the browser API answer the way it does there.
NO_MICROPHONE = """Object.defineProperty(MediaDevices.prototype, "getUserMedia", {
  value: () => Promise.reject(new DOMException("Requested device not found", "NotFoundError")) })"""
INSECURE_PAGE = """Object.defineProperty(Navigator.prototype, "mediaDevices", { get: () => undefined });
  Object.defineProperty(window, "isSecureContext", { value: false })"""


@pytest.mark.parametrize(
    ("microphone", "script", "code", "text"),
    [
        (False, None, "microphone_denied", "Microphone access was denied."),
        (True, NO_MICROPHONE, "no_microphone", "No microphone was found."),
        (True, INSECURE_PAGE, "microphone_unavailable", "only on https:// pages or on localhost."),
    ],
    ids=["permission-denied", "no-microphone", "insecure-page"],
)
def test_a_microphone_that_cannot_record_is_reported_clearly(
    vserver: Server, browser: Any, microphone: bool, script: str | None, code: str, text: str
) -> None:
    before = set(_library(vserver))
    page = Page(browser, vserver, microphone=microphone, init_script=script)
    # No name yet: asked for first, before the microphone.
    page.page.click("#voice-record")
    assert page.message()[1] == "name_required"
    assert page.page.evaluate("document.activeElement.id") == "voice-name"
    page.page.fill("#voice-name", "Never Recorded")
    page.page.focus("#voice-record")
    page.page.keyboard.press("Enter")
    page.page.wait_for_selector(f"#voices-message[data-code={code}]", timeout=WAIT_MS)
    assert text in page.message()[0]
    assert page.page.text_content("#voice-record") == "Record" and page.page.is_enabled("#voice-record")
    assert set(_library(vserver)) == before
    assert page.errors == []
    page.close()


def test_blend_two_kokoro_voices(vserver: Server, browser: Any) -> None:
    page = Page(browser, vserver)
    parts = "#blend-parts li"
    assert page.page.locator(parts).count() == 2
    # A third part by keyboard: focus moves to its voice; removing it brings back two parts.
    page.page.focus("#blend-more")
    page.page.keyboard.press("Enter")
    assert page.page.locator(parts).count() == 3
    assert page.page.evaluate(
        "document.activeElement === document.querySelectorAll('#blend-parts select')[2]"
    )
    page.page.click("#blend-parts li:nth-child(3) button:text('Remove')")
    assert page.page.locator(parts).count() == 2

    page.page.fill("#voice-name", "Alpha Kumo")
    page.page.select_option("#blend-parts li:nth-child(1) select", "jf_alpha")
    page.page.fill("#blend-parts li:nth-child(1) input", "2")
    page.page.select_option("#blend-parts li:nth-child(2) select", "jm_kumo")
    page.page.fill("#blend-parts li:nth-child(2) input", "1")
    shares = page.page.eval_on_selector_all(parts + " output", "os => os.map(o => o.textContent)")
    assert shares == ["67 %", "33 %"]
    page.page.click("#blend-create")
    page.page.wait_for_selector(page.item("alpha-kumo"), timeout=BLEND_WAIT_MS)

    stored = _voice(vserver, "alpha-kumo")
    assert stored["blend"] == "jf_alpha(0.6667)+jm_kumo(0.3333)"
    assert stored["analysis"]["seconds"] > 3  # Kokoro read a few sentences in the mix
    assert _library(vserver)["alpha-kumo"]["name"] == "Alpha Kumo"
    facts = page.page.text_content(page.item("alpha-kumo") + " .facts-line") or ""
    assert facts.endswith("blend jf_alpha(0.6667)+jm_kumo(0.3333)")
    assert "library:alpha-kumo" in _speak_options(page)
    assert page.errors == []
    page.close()


def test_delete_a_voice_through_the_page(vserver: Server, speech: Path, browser: Any) -> None:
    created = httpx.post(
        f"{vserver.url}/v1/voices",
        data={"name": "Doomed"},
        files={"file": ("speech.wav", speech.read_bytes(), "audio/wav")},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    page = Page(browser, vserver)
    assert "library:doomed" in _speak_options(page)
    delete = page.item("doomed") + " button:text('Delete')"
    # Dismissing the confirmation keeps the voice.
    page.page.once("dialog", lambda dialog: dialog.dismiss())
    page.page.click(delete)
    assert "doomed" in _library(vserver)
    page.page.once("dialog", lambda dialog: dialog.accept())
    page.page.click(delete)
    page.page.wait_for_selector(page.item("doomed"), state="detached", timeout=WAIT_MS)
    assert page.message() == ("Deleted Doomed.", "")
    assert "doomed" not in _library(vserver)
    assert httpx.get(f"{vserver.url}/v1/voices/doomed").status_code == 404
    page.page.wait_for_function(
        "![...document.querySelectorAll('#voice option')].some(o => o.value === 'library:doomed')",
        timeout=WAIT_MS,
    )
    # Keyboard focus stays in the panel.
    section = page.page.evaluate("document.activeElement.closest('section').getAttribute('aria-labelledby')")
    assert section == "voices-heading"
    assert page.errors == []
    page.close()


def test_panel_is_labelled_and_fits_a_phone(vserver: Server, browser: Any) -> None:
    page = Page(browser, vserver, viewport={"width": 1100, "height": 900})
    unlabelled = page.page.eval_on_selector_all(
        "input, select, textarea", "els => els.filter(e => !e.labels || !e.labels.length).map(e => e.id)"
    )
    assert unlabelled == []
    assert page.page.get_attribute("#voices-message", "aria-live") == "polite"
    page.page.locator("#voices-heading").scroll_into_view_if_needed()
    page.shot("web_voices.png")
    page.page.set_viewport_size({"width": 375, "height": 800})
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 375
    page.shot("web_voices-phone.png")
    assert page.errors == []
    page.close()
