"""No secret in any log line (issue 24): keys in query strings, headers and settings, on a real server.

uvicorn logs every WebSocket handshake with its query string (``"WebSocket /v1/ws/tts?api_key=..."
[accepted]``); the line must still be there, with the key masked. The server's whole captured output (its
stdout and stderr) is read at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import Server, run_server
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.slow

API_KEY = "sk-log-secret-5e1f0a7b"
WRONG_KEY = "sk-typo-not-a-key-93b2"
"""A key that is refused is still somebody's secret (a typo of theirs, or another service's key)."""
LLM_KEY = "sk-llm-upstream-c41d"
ASR_KEY = "sk-asr-upstream-77ae"
SECRETS = (API_KEY, WRONG_KEY, LLM_KEY, ASR_KEY)
ENV = {
    "POLYVOX_ENGINES__DEFAULT": "tone",
    "POLYVOX_AUTH__API_KEYS": json.dumps([API_KEY]),
    "POLYVOX_LLM__API_KEY": LLM_KEY,
    "POLYVOX_ASR__OPENAI__API_KEY": ASR_KEY,
}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("log-secrets"), **ENV) as server:
        yield server


async def _speak_over_websocket(url: str) -> int:
    """Audio bytes received on a socket authenticated by ``?api_key=``."""
    received = 0
    async with connect(url, open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "start", "format": "pcm"}))
        assert json.loads(await ws.recv())["type"] == "started"
        await ws.send(json.dumps({"type": "text", "text": "Hello there.", "flush": True}))
        await ws.send(json.dumps({"type": "stop"}))
        async for frame in ws:  # until the server closes the socket after "done"
            if isinstance(frame, bytes):
                received += len(frame)
    return received


def test_keys_in_query_strings_never_reach_the_log(keyed: Server) -> None:
    ws = keyed.url.replace("http://", "ws://") + "/v1/ws/tts"
    assert asyncio.run(_speak_over_websocket(f"{ws}?api_key={API_KEY}")) > 0

    async def refused() -> int:
        with pytest.raises(InvalidStatus) as denial:
            async with connect(f"{ws}?api_key={WRONG_KEY}", open_timeout=10):
                pass
        return denial.value.response.status_code

    assert asyncio.run(refused()) == 401
    # HTTP takes keys in the header only; one sent in the query string must not be logged either.
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Request-ID": "http-query-key"}
    ok = httpx.get(f"{keyed.url}/v1/engines?api_key={API_KEY}&token={WRONG_KEY}", headers=headers)
    assert ok.status_code == 200
    denied = httpx.get(f"{keyed.url}/v1/engines?api_key={WRONG_KEY}", headers={"X-Request-ID": "http-denied"})
    assert denied.status_code == 401

    log = keyed.wait_for_log("http-query-key", "http-denied", '"WebSocket /v1/ws/tts?api_key=***" 401')
    assert '"WebSocket /v1/ws/tts?api_key=***" [accepted]' in log  # the access line, masked
    leaked = [secret for secret in SECRETS if secret in log]
    assert not leaked, [line for line in log.splitlines() if any(s in line for s in leaked)][:5]


def test_config_show_masks_every_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    env |= ENV | {"POLYVOX_DATA_DIR": str(tmp_path / "data")}
    for flag in ((), ("--json",)):
        shown = subprocess.run(
            [sys.executable, "-m", "polyvox.cli", "config", "show", *flag],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        output = shown.stdout + shown.stderr
        assert not [secret for secret in SECRETS if secret in output], output
        assert output.count("***") >= 3  # auth.api_keys, llm.api_key, asr.openai.api_key
