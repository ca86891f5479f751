"""One state per engine, the same on every door, on a real server where an engine's package is missing.

The server runs where ``TTS`` (coqui-tts, XTTS's package) cannot be imported, as for a user who has not
installed the ``xtts`` extra, and where no neural engine has weights (its data folder is new): xtts is
``needs_package``, pocket ``needs_weights``, piper ``ready``. Each door must say so: the engine list with the
one next step, 503 ``engine_unavailable`` with ``x-should-retry: false`` (the ``openai`` SDK then sends the
request once), lists that feed clients without them, Wyoming's ``installed``, and ``polyvox doctor``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from tests.e2e.conftest import Server, blocking_modules, free_port, run_server
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("states")
    env = blocking_modules(directory, "TTS")
    wyoming_port = free_port()
    with run_server(directory, POLYVOX_WYOMING__URI=f"tcp://127.0.0.1:{wyoming_port}", **env) as server:
        yield server, wyoming_port, env


def _engines(server: Server) -> dict[str, dict[str, object]]:
    listing = httpx.get(f"{server.url}/v1/engines", timeout=30).json()
    return {engine["name"]: engine for engine in listing["engines"]}


def test_engine_list_names_state_and_next_step(site: tuple[Server, int, dict[str, str]]) -> None:
    server, _, _ = site
    engines = _engines(server)
    xtts, pocket, piper = engines["xtts"], engines["pocket"], engines["piper"]
    assert xtts["state"] == "needs_package"
    assert xtts["missing_packages"] == ["TTS"]
    assert xtts["next_step"] == "make engine E=xtts"
    assert pocket["state"] == "needs_weights"
    assert pocket["missing_files"] and str(pocket["model_dir"]) in str(pocket["next_step"])
    assert piper["state"] == "ready" and piper["next_step"] is None


def test_requests_get_503_once_and_health_is_kept(site: tuple[Server, int, dict[str, str]]) -> None:
    server, _, _ = site
    sent: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [sent.append]}) as http:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=2, http_client=http)
        for model in ("xtts", "pocket"):
            sent.clear()
            with pytest.raises(openai.APIStatusError) as raised:
                client.audio.speech.create(model=model, voice="alloy", input="Hello there.")
            response = raised.value.response
            assert response.status_code == 503
            assert response.headers["x-should-retry"] == "false"
            error = response.json()["error"]
            assert error["code"] == "engine_unavailable"
            assert ("make engine E=xtts" if model == "xtts" else "needs its weights") in error["message"]
            assert len(sent) == 1, "the SDK retried a 503 that says it should not"
    for path in ("/v1/voices?engine=xtts", "/v1/audio/voices?model=pocket"):
        answer = httpx.get(f"{server.url}{path}", timeout=30)
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "engine_unavailable", path
    engines = _engines(server)
    assert engines["xtts"]["state"] == "needs_package"  # not ready, not failed: nothing counted against it
    assert engines["xtts"]["healthy"] is True and engines["xtts"]["last_error"] is None


def test_client_lists_offer_only_engines_that_speak(site: tuple[Server, int, dict[str, str]]) -> None:
    server, _, _ = site
    models = {m["id"] for m in httpx.get(f"{server.url}/v1/models", timeout=30).json()["data"]}
    speech_models = {m["id"] for m in httpx.get(f"{server.url}/v1/audio/models", timeout=30).json()["models"]}
    voices = httpx.get(f"{server.url}/v1/audio/voices", timeout=30).json()["voices"]
    for listed in (models, speech_models):
        assert {"piper", "kokoro", "espeak", "tts-1"} <= listed
        assert not listed & {"xtts", "pocket", "chatterbox", "styletts2"}, listed
    assert voices and not any(str(v["id"]).startswith(("xtts/", "pocket/")) for v in voices)


async def test_wyoming_marks_engines_that_cannot_speak(site: tuple[Server, int, dict[str, str]]) -> None:
    _, port, _ = site
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        event = await client.read_event()
        assert event is not None
        info = Info.from_event(event)
    installed = {program.name: program.installed for program in info.tts}
    assert installed["piper"] is True
    assert installed["xtts"] is False and installed["pocket"] is False
    xtts = next(program for program in info.tts if program.name == "xtts")
    assert xtts.voices == []


def test_doctor_reports_the_missing_package_in_one_line(
    site: tuple[Server, int, dict[str, str]], tmp_path: Path
) -> None:
    _, _, env = site
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    environment |= {**env, "POLYVOX_DATA_DIR": str(tmp_path)}
    polyvox = Path(sys.executable).parent / "polyvox"
    done = subprocess.run(
        [str(polyvox), "doctor", "xtts"], env=environment, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert "needs_package" in output and "make engine E=xtts" in output
