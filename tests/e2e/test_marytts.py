"""The MaryTTS-compatible API, through Home Assistant's own client library (``speak2mary``) over a socket.

The real app (``create_app``) with the MaryTTS router included runs under uvicorn on a free port in a
background thread. ``speak2mary.MaryTTS(...).speak()`` sends exactly what Home Assistant's ``marytts``
integration sends: a POST of a URL-encoded body without a Content-Type.
"""

from __future__ import annotations

import io
import threading
import time
import wave
from collections.abc import Iterator

import av
import httpx
import numpy as np
import numpy.typing as npt
import pytest
import uvicorn
from speak2mary import MaryTTS
from tests.conftest import make_settings, whisper
from tests.e2e.conftest import free_port

from polyvox.api.app import create_app
from polyvox.api.routes import marytts
from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

TEXT = "The quick brown fox jumps over the lazy dog. Every morning the baker opens his shop before sunrise."
# Home Assistant's marytts defaults: host, port, codec, locale, voice.
HA_CODEC, HA_LOCALE, HA_VOICE = "WAVE_FILE", "en_US", "cmu-slt-hsmm"


@pytest.fixture(scope="module")
def mary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served on a free port; yields its base URL."""
    # An OpenAI-style alias on another engine than the default: MaryTTS must resolve it as every door does.
    app = create_app(
        make_settings(tmp_path_factory.mktemp("marytts"), openai_voices={"narrator": "tone/boop"})
    )
    app.include_router(marytts.router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started or httpx.get(f"{url}/ready", timeout=5).status_code != 200:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=30)


def read_wav(data: bytes) -> tuple[npt.NDArray[np.float32], int]:
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        frames = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0, rate


def speak(url: str, text: str, **options: str) -> bytes:
    """Home Assistant's request, through Home Assistant's client library."""
    port = int(url.rsplit(":", 1)[1])
    effects = options.pop("effects", None)
    config = {"codec": HA_CODEC, "locale": HA_LOCALE, "voice": HA_VOICE, **options}
    client = MaryTTS("127.0.0.1", port, **config)
    audio: bytes = client.speak(text, {"Volume": effects} if effects else None)
    return audio


def test_home_assistant_request_speaks_english(mary: str) -> None:
    samples, rate = read_wav(speak(mary, TEXT))
    # MaryTTS's own default voice is not here: the locale picks the default engine's en_US voice.
    assert rate == 22050
    assert 4 < len(samples) / rate < 12
    heard = whisper().transcribe(samples, rate).text
    assert word_error_rate(TEXT, heard) <= 0.10, heard


@pytest.mark.parametrize(
    ("locale", "voice", "rate"),
    [("fr", HA_VOICE, 22050), ("de", "espeak/de", 22050), ("en_US", "tone/boop", 16000)],
)
def test_locale_and_voice_choose_the_voice(mary: str, locale: str, voice: str, rate: int) -> None:
    samples, got_rate = read_wav(speak(mary, "Un deux trois. Vier fünf sechs.", locale=locale, voice=voice))
    assert got_rate == rate
    assert len(samples) / rate > 0.5 and np.abs(samples).max() > 0.05


def test_effects_are_ignored_and_au_aiff_decode(mary: str) -> None:
    plain = speak(mary, "One two three.", voice="tone/beep")
    with_effect = speak(mary, "One two three.", voice="tone/beep", effects="amount:2.0;")
    assert with_effect == plain
    wav_samples, _ = read_wav(plain)
    for codec in ("AU_FILE", "AIFF_FILE"):
        data = speak(mary, "One two three.", voice="tone/beep", codec=codec)
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
            assert stream.rate == 16000
        assert np.array_equal(decoded.astype(np.int32), (wav_samples * 32768).astype(np.int32)), codec


def test_get_process_and_ssml(mary: str) -> None:
    # Older Home Assistant releases sent a GET with AUDIO=WAVE.
    params = {
        "INPUT_TEXT": "<speak>One <break/>two &amp; three.</speak>",
        "INPUT_TYPE": "SSML",
        "OUTPUT_TYPE": "AUDIO",
        "AUDIO": "WAVE",
        "LOCALE": "en_US",
        "VOICE": "tone/beep",
    }
    response = httpx.get(f"{mary}/process", params=params, timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "audio/x-wav"
    samples, rate = read_wav(response.content)
    assert len(samples) == round(4 * 0.2 * rate)  # "One two & three." is four tone words


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"INPUT_TEXT": "Hi.", "VOICE": "nope/x"}, 400, "engine_not_found"),
        ({"INPUT_TEXT": "Hi.", "VOICE": "nobody"}, 400, "voice_not_found"),
        ({"INPUT_TEXT": "Hi.", "VOICE": HA_VOICE, "LOCALE": "xx_YY"}, 422, "language_not_supported"),
        ({"INPUT_TEXT": ""}, 422, "empty_text"),
        ({"INPUT_TEXT": "Hi.", "AUDIO": "MP3"}, 422, "unsupported_format"),
        ({"INPUT_TEXT": "Hi.", "INPUT_TYPE": "RAWMARYXML"}, 422, "invalid_parameter"),
        ({"INPUT_TEXT": "Hi.", "OUTPUT_TYPE": "PHONEMES"}, 422, "invalid_parameter"),
    ],
)
def test_errors_are_plain_text(mary: str, params: dict[str, str], status: int, code: str) -> None:
    response = httpx.post(f"{mary}/process", data=params, timeout=30)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(f"{code}: ")


def test_speak2mary_sees_errors_as_errors(mary: str) -> None:
    with pytest.raises(Exception, match="400"):
        speak(mary, "Hello.", voice="nope/x")


def test_listings_parse(mary: str) -> None:
    voices = httpx.get(f"{mary}/voices").text.splitlines()
    fields = [line.split(" ") for line in voices]
    assert all(len(f) == 4 for f in fields)
    by_name = {f[0]: f for f in fields}
    assert by_name["piper/joe"][1:] == ["en_US", "unknown", "piper"]
    assert by_name["espeak/fr"][1] == "fr_FR"
    locales = httpx.get(f"{mary}/locales").text.splitlines()
    assert {"en_US", "fr_FR", "de"} <= set(locales) and locales == sorted(set(locales))
    assert set(locales) == {f[1] for f in fields}
    formats = httpx.get(f"{mary}/audioformats").text.splitlines()
    assert formats == ["WAVE_FILE", "AU_FILE", "AIFF_FILE"]
    assert httpx.get(f"{mary}/version").text.startswith("Mary TTS server ")


def test_home_assistant_locale_list_is_covered(mary: str) -> None:
    """Every locale Home Assistant offers for MaryTTS gets a voice."""
    for locale in MaryTTS.supported_locales():
        response = httpx.post(
            f"{mary}/process",
            data={"INPUT_TEXT": "One.", "LOCALE": locale, "VOICE": HA_VOICE, "AUDIO": HA_CODEC},
            timeout=60,
        )
        assert response.status_code == 200, (locale, response.text)


def test_an_unknown_voice_is_the_400_marytts_answers(mary: str) -> None:
    """MaryTTS answers a VOICE it lacks with 400 "The value ... of parameter 'VOICE' is not valid", LOCALE or
    not; Home Assistant's client raises on it. Only MaryTTS's own names leave the choice to LOCALE."""
    query = {"INPUT_TEXT": "Hello.", "INPUT_TYPE": "TEXT", "OUTPUT_TYPE": "AUDIO", "AUDIO": "WAVE_FILE"}
    response = httpx.get(f"{mary}/process", params={**query, "LOCALE": "en_US", "VOICE": "bogus"}, timeout=30)
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("voice_not_found: The value 'bogus' of parameter 'VOICE' is not valid")
    with pytest.raises(Exception, match="400"):
        speak(mary, "Hello.", voice="bogus")


def test_library_voices_and_openai_names_resolve_as_on_every_door(mary: str) -> None:
    # A library voice from a short piper recording, spoken by the tone engine (converted toward it) as on
    # any other route: the tone engine's 16 kHz and 0.2 s a word, not the default voice the locale picks.
    reference = httpx.post(
        f"{mary}/v1/audio/speech",
        json={"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "wav"},
        timeout=60,
    )
    assert reference.status_code == 200, reference.text
    made = httpx.post(
        f"{mary}/v1/voices",
        files={"name": (None, "Reader"), "file": ("reader.wav", reference.content, "audio/wav")},
        timeout=120,
    )
    assert made.status_code == 201, made.text
    library_id = made.json()["id"]
    for voice in (f"tone/{library_id}", f"tone/library:{library_id}", "narrator"):  # narrator: tone/boop
        samples, rate = read_wav(speak(mary, "One two three.", voice=voice))
        assert (rate, len(samples)) == (16000, round(3 * 0.2 * 16000)), voice
