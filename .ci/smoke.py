"""The install smoke test: run with the Python of a fresh base install (`pip install .`), as a user would.

Serves on piper, speaks, stores the speech as a library voice (the WORLD analysis path), speaks with that
voice, and transcribes the first file with Whisper. Prints one line per step; exits non-zero on the first
failure. `.ci/pythons` runs it under every Python the README promises.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import jiwer

SENTENCE = "Hello there. This is a short test of the speech server."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    # The server's own readiness endpoint answers 503 until piper is loaded; the loop ends on the
    # server's answer or its exit, with an outer cap only against a hang.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server was not ready within 300 s")


def _words(text: str) -> str:
    return re.sub(r"[^\w\s']", "", text.lower())


def _step(name: str, response: httpx.Response, expected: int = 200) -> httpx.Response:
    if response.status_code != expected:
        raise SystemExit(f"FAIL {name}: {response.status_code} {response.text[:300]}")
    return response


def _speak(client: httpx.Client, voice: str) -> bytes:
    body = {"model": "tts-1", "input": SENTENCE, "voice": voice, "response_format": "wav"}
    return _step(f"speak with {voice}", client.post("/v1/audio/speech", json=body)).content


def main() -> None:
    has_pkg_resources = importlib.util.find_spec("pkg_resources") is not None
    print(f"python {sys.version.split()[0]}; pkg_resources importable: {has_pkg_resources}")
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
        env["POLYVOX_DATA_DIR"] = data
        polyvox = Path(sys.executable).parent / "polyvox"
        log = open(Path(data) / "server.log", "wb")  # noqa: SIM115 - closed after the server ends
        process = subprocess.Popen(
            [str(polyvox), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
                _wait_ready(client, process)
                print("serve: ready")
                speech = _speak(client, "alloy")
                print(f"speak: {len(speech)} bytes of wav")
                created = _step(
                    "upload voice",
                    client.post(
                        "/v1/voices",
                        data={"name": "smoke", "language": "en-us", "transcript": SENTENCE},
                        files={"file": ("smoke.wav", speech, "audio/wav")},
                    ),
                    expected=201,
                ).json()
                print(f"upload voice: {created['id']}")
                cloned = _speak(client, created["id"])
                print(f"speak with the library voice: {len(cloned)} bytes of wav")
                for label, audio in (("speech", speech), ("library voice", cloned)):
                    text = _step(
                        f"transcribe {label}",
                        client.post(
                            "/v1/audio/transcriptions",
                            data={"model": "whisper-1"},
                            files={"file": ("speech.wav", audio, "audio/wav")},
                        ),
                    ).json()["text"]
                    wer = jiwer.wer(_words(SENTENCE), _words(text))
                    print(f"transcribe {label}: {text.strip()!r} (WER {wer:.2f})")
                    if wer > 0.3:
                        raise SystemExit(f"FAIL transcribe {label}: WER {wer:.2f}")
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()
            if process.returncode not in (0, -15):
                sys.stdout.write((Path(data) / "server.log").read_text(errors="replace")[-3000:])
    print("smoke: ok")


if __name__ == "__main__":
    main()
