"""OpenAI's custom voices through the ``openai`` SDK's own methods, against a real server (issue 29, point 2).

A consent recording is uploaded, listed page by page, renamed and deleted; a voice is made from a sample that
names it; ``{"voice": {"id": "voice_..."}}`` then speaks with the clone (piper, through voice conversion) and
Whisper hears the text; engines that clone natively get the stored sample as their reference.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI
from tests.conftest import whisper
from tests.e2e.conftest import Server, run_server

from polyvox.stt.metrics import word_error_rate
from polyvox.voices.analysis import analyze_voice
from polyvox.voices.decode import decode_audio

pytestmark = pytest.mark.slow

MAX_UPLOAD = 400_000
TEXT = "The weather is nice today, and we are going to the park with our friends."
CONSENT_TEXT = "I agree that my voice may be used to create a synthetic voice."


@pytest.fixture(scope="module")
def oserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a small upload cap and reference limit, so the 413 paths are cheap to reach."""
    with run_server(
        tmp_path_factory.mktemp("openai-voices"),
        POLYVOX_VOICES__MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        POLYVOX_VOICES__MAX_REFERENCE_SECONDS="8",
    ) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


@pytest.fixture(scope="module")
def client(oserver: Server) -> OpenAI:
    return OpenAI(base_url=f"{oserver.url}/v1", api_key="x", max_retries=0, timeout=120)


def _speak(server: Server, text: str, engine: str, voice: str) -> bytes:
    response = httpx.post(
        f"{server.url}/v1/synthesize",
        json={"text": text, "engine": engine, "voice": voice, "language": "en-us", "format": "wav"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture(scope="module")
def sample(oserver: Server) -> bytes:
    """The voice to clone: Kokoro's jf_alpha (female) reading English, about 5 s."""
    return _speak(oserver, TEXT, "kokoro", "jf_alpha")


@pytest.fixture(scope="module")
def consent_recording(oserver: Server) -> bytes:
    return _speak(oserver, CONSENT_TEXT, "kokoro", "jf_alpha")


def _data(server: Server, kind: str) -> Path:
    return server.trace_file.parent / "data" / "voices" / kind


def _median_f0(wav_bytes: bytes) -> float:
    return analyze_voice(decode_audio(wav_bytes), 24_000).f0_median


def _wav(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    tone = 0.3 * np.sin(2 * np.pi * 200 * np.arange(int(rate * seconds)) / rate)
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((tone * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def test_consents_listed_retrieved_updated_deleted(
    client: OpenAI, oserver: Server, consent_recording: bytes
) -> None:
    made = [
        client.audio.voice_consents.create(
            name=f"Speaker {n}",
            language="en-US",
            recording=(f"consent{n}.wav", consent_recording, "audio/wav"),
        )
        for n in range(3)
    ]
    first = made[0]
    assert first.id.startswith("cons_") and first.object == "audio.voice_consent"
    assert (first.name, first.language) == ("Speaker 0", "en-US") and first.created_at > 0
    assert (_data(oserver, "consents") / first.id / "recording.wav").is_file()

    page = client.audio.voice_consents.list(limit=2)
    assert len(page.data) == 2 and page.has_more
    every = [c.id for c in client.audio.voice_consents.list(limit=2)]  # the SDK follows `after` itself
    assert sorted(every) == sorted(c.id for c in made) and len(set(every)) == 3

    assert client.audio.voice_consents.retrieve(first.id).name == "Speaker 0"
    renamed = client.audio.voice_consents.update(first.id, name="Ada")
    assert renamed.name == "Ada" and renamed.id == first.id
    assert client.audio.voice_consents.retrieve(first.id).name == "Ada"

    for consent in made:
        deleted = client.audio.voice_consents.delete(consent.id)
        assert (deleted.id, deleted.deleted, deleted.object) == (consent.id, True, "audio.voice_consent")
    with pytest.raises(openai.NotFoundError) as missing:
        client.audio.voice_consents.retrieve(first.id)
    assert missing.value.body["code"] == "consent_not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.audio.voice_consents.update(first.id, name="Gone")
    assert not any(_data(oserver, "consents").iterdir())


def test_voice_from_sample_speaks_with_the_clone(
    client: OpenAI, oserver: Server, sample: bytes, consent_recording: bytes
) -> None:
    consent = client.audio.voice_consents.create(
        name="Alpha", language="en-US", recording=("consent.wav", consent_recording, "audio/wav")
    )
    voice = client.audio.voices.create(
        name="Alpha clone", consent=consent.id, audio_sample=("sample.wav", sample, "audio/x-wav")
    )
    assert voice.id.startswith("voice_") and voice.object == "audio.voice" and voice.type == "audio_sample"
    assert voice.name == "Alpha clone" and voice.created_at > 0
    stored = httpx.get(f"{oserver.url}/v1/voices/{voice.id}").json()
    assert stored["language"] == "en-us" and stored["analysis"]["gender"] == "female"

    # piper's default voice is male: converted toward the sample, and still heard saying the text.
    cloned = client.audio.speech.create(
        model="piper", voice={"id": voice.id}, input=TEXT, response_format="wav"
    ).content
    plain = client.audio.speech.create(model="piper", voice="joe", input=TEXT, response_format="wav").content
    target = stored["analysis"]["f0_median"]
    # Within 15 % of the sample's pitch, and the plain voice more than 30 % away (it is about 55 % away):
    # piper's sampled noise moves the clone's median by a few percent (13 % once in a CI run at a 10 % bound).
    assert abs(_median_f0(cloned) - target) < 0.15 * target
    assert abs(_median_f0(plain) - target) > 0.3 * target
    heard = whisper().transcribe(decode_audio(cloned), 24_000).text
    assert word_error_rate(TEXT, heard) <= 0.2, heard

    # The consent is in use: refused, and both stay.
    with pytest.raises(openai.ConflictError) as in_use:
        client.audio.voice_consents.delete(consent.id)
    assert in_use.value.body["code"] == "consent_in_use" and voice.id in in_use.value.body["message"]  # type: ignore[index]
    assert client.audio.voice_consents.retrieve(consent.id).id == consent.id

    deleted = client.audio.voices.delete(voice.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (voice.id, True, "audio.voice.deleted")
    with pytest.raises(openai.NotFoundError):
        client.audio.voices.delete(voice.id)
    with pytest.raises(openai.NotFoundError) as gone:
        client.audio.speech.create(model="piper", voice={"id": voice.id}, input=TEXT)
    assert gone.value.body["code"] == "voice_not_found"  # type: ignore[index]
    assert client.audio.voice_consents.delete(consent.id).deleted


def test_bad_input_gets_clear_errors(
    client: OpenAI, oserver: Server, sample: bytes, consent_recording: bytes
) -> None:
    consent = client.audio.voice_consents.create(
        name="Errors", language="en-US", recording=("consent.wav", consent_recording, "audio/wav")
    )
    url = f"{oserver.url}/v1/audio/voices"

    def create(**fields: str) -> httpx.Response:
        files = {"audio_sample": ("s.wav", sample, "audio/wav")}
        return httpx.post(url, data={"name": "V", "consent": consent.id, **fields}, files=files, timeout=60)

    def code(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error"]["code"]

    with pytest.raises(openai.NotFoundError) as unknown:
        client.audio.voices.create(name="V", consent="cons_0123456789abcdef01234567", audio_sample=sample)
    assert unknown.value.body["code"] == "consent_not_found"  # type: ignore[index]
    no_consent = httpx.post(url, data={"name": "V"}, files={"audio_sample": ("s.wav", sample)}, timeout=60)
    assert code(no_consent) == (422, "invalid_parameter") and no_consent.json()["error"]["param"] == "consent"
    assert code(create(type="prompt", prompt="a calm voice")) == (422, "voice_type_unsupported")
    not_audio = httpx.post(
        url,
        data={"name": "V", "consent": consent.id},
        files={"audio_sample": ("s.wav", b"hello, I am a text file" * 20, "audio/wav")},
        timeout=60,
    )
    assert code(not_audio) == (415, "unsupported_media")
    text_part = httpx.post(
        url,
        data={"name": "V", "consent": consent.id},
        files={"audio_sample": ("s.txt", sample, "text/plain")},
    )
    assert (
        code(text_part) == (415, "unsupported_media") and text_part.json()["error"]["param"] == "audio_sample"
    )
    broken = httpx.post(
        url,
        data={"name": "V", "consent": consent.id},
        files={"audio_sample": ("s.wav", b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x07" * 200, "audio/wav")},
    )
    assert code(broken) == (422, "undecodable_audio")
    too_long = httpx.post(
        url,
        data={"name": "V", "consent": consent.id},
        files={"audio_sample": ("s.wav", _wav(10.0))},
        timeout=60,
    )
    assert too_long.status_code == 413  # 10 s > the 8 s limit
    oversize = httpx.post(
        url,
        data={"name": "V", "consent": consent.id},
        files={"audio_sample": ("s.wav", b"\0" * (MAX_UPLOAD + 100_000))},
        timeout=60,
    )
    assert code(oversize) == (413, "payload_too_large")
    assert httpx.post(url, json={"name": "V", "consent": consent.id}).status_code == 415
    consents = f"{oserver.url}/v1/audio/voice_consents"
    bad_language = httpx.post(
        consents,
        data={"name": "C", "language": "not a tag"},
        files={"recording": ("c.wav", consent_recording)},
    )
    assert (
        code(bad_language) == (422, "invalid_parameter")
        and bad_language.json()["error"]["param"] == "language"
    )
    no_recording = httpx.post(consents, data={"name": "C", "language": "en-US"})
    assert no_recording.status_code in (415, 422)
    assert code(httpx.post(f"{consents}/{consent.id}", json={"name": ""})) == (422, "invalid_parameter")
    assert code(httpx.get(f"{consents}/cons_zz")) == (404, "consent_not_found")
    assert code(httpx.get(consents, params={"after": "cons_0000000000"})) == (422, "invalid_parameter")

    # Nothing partial was left behind: the one consent, no voice, no staging folder.
    assert [p.name for p in _data(oserver, "consents").iterdir()] == [consent.id]
    library = _data(oserver, "library")
    assert not library.exists() or not [p for p in library.iterdir() if p.name.startswith((".", "voice_"))]
    assert client.audio.voice_consents.delete(consent.id).deleted
