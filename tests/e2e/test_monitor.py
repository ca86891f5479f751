"""The file monitor's HTTP API against a real server: refusals, the SSE audio feed, engine selection, stop."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Server, run_monitor_site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    with run_monitor_site(tmp_path_factory.mktemp("monitor")) as site:
        yield site


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/passwd", (403, "path_not_allowed")),
        ("{logs}/../outside.log", (403, "path_not_allowed")),
        ("relative.log", (422, "invalid_parameter")),
        ("{logs}", (422, "invalid_parameter")),
        ("{logs}/missing-dir/a.log", (422, "invalid_parameter")),
    ],
)
def test_start_refuses_bad_paths(site: tuple[Server, Path], path: str, expected: tuple[int, str]) -> None:
    server, logs = site
    response = httpx.post(f"{server.url}/v1/monitor/start", json={"path": path.format(logs=logs)})
    assert _error(response) == expected


def test_start_refuses_unknown_engine_and_voice(site: tuple[Server, Path]) -> None:
    server, logs = site
    url = f"{server.url}/v1/monitor/start"
    assert _error(httpx.post(url, json={"path": str(logs / "a.log"), "engine": "nope"})) == (
        404,
        "engine_not_found",
    )
    body = {"path": str(logs / "a.log"), "voice": "nope"}
    assert _error(httpx.post(url, json=body)) == (404, "voice_not_found")
    assert httpx.get(f"{server.url}/v1/monitor/status").json()["monitors"] == []


def _events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    event, data = "message", ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and data:
            yield event, json.loads(data)
            event, data = "message", ""


def test_feed_speaks_each_line_in_order_then_ends(site: tuple[Server, Path]) -> None:
    server, logs = site
    chat = logs / "feed.log"
    chat.write_bytes(b"")
    started = httpx.post(f"{server.url}/v1/monitor/start", json={"path": str(chat), "mode": "lines"}).json()
    monitor_id = started["id"]
    assert started["status"]["engine"] == "tone"
    received: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{server.url}/v1/monitor/{monitor_id}/events", timeout=20) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)
        assert next(events)[0] == "hello"
        chat.write_bytes(b"alpha beta\n\n  \ngamma \xff\n")
        for _ in range(2):
            received.append(next(events)[1])
        # Switch engine voice for the following lines.
        switched = httpx.post(
            f"{server.url}/v1/monitor/select-engine",
            json={"id": monitor_id, "engine": "tone", "voice": "boop"},
        )
        assert switched.json()["monitors"][0]["voice"] == "boop"
        with chat.open("ab") as handle:
            handle.write(b"delta\n")
        received.append(next(events)[1])
        status = httpx.get(f"{server.url}/v1/monitor/status", params={"id": monitor_id}).json()["monitors"][0]
        assert status["listeners"] == 1
        assert httpx.post(f"{server.url}/v1/monitor/stop", json={"id": monitor_id}).json() == {
            "stopped": [monitor_id]
        }
        assert next(events)[0] == "end"
    assert [r["text"] for r in received] == ["alpha beta", "gamma \ufffd", "delta"]
    assert [r["seq"] for r in received] == [1, 2, 3]
    assert [r["voice"] for r in received] == ["beep", "beep", "boop"]
    for record, words in zip(received, (2, 2, 1), strict=True):
        wav = base64.b64decode(record["audio"])
        assert wav[:4] == b"RIFF" and record["sample_rate"] == 16000
        assert len(wav) == 44 + words * 3200 * 2
    assert status["lines_spoken"] == 3 and status["undecodable_lines"] == 1
    assert httpx.get(f"{server.url}/v1/monitor/status").json()["monitors"] == []
    assert _error(httpx.post(f"{server.url}/v1/monitor/stop", json={"id": monitor_id})) == (
        404,
        "monitor_not_found",
    )


def test_paragraph_mode_and_replay_with_since(site: tuple[Server, Path]) -> None:
    server, logs = site
    notes = logs / "notes.txt"
    notes.write_text("one\ntwo\n\nthree\n\n")
    body = {"path": str(notes), "mode": "paragraphs", "from": "start"}
    monitor_id = httpx.post(f"{server.url}/v1/monitor/start", json=body).json()["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/v1/monitor/status", params={"id": monitor_id}).json()["monitors"][0]
        if status["lines_spoken"] == 2:
            break
        time.sleep(0.05)
    assert status["recent"] == ["one two", "three"]
    # A late listener replays what was kept.
    with httpx.stream("GET", f"{server.url}/v1/monitor/{monitor_id}/events?since=0", timeout=20) as response:
        events = _events(response)
        assert next(events)[0] == "hello"
        assert [next(events)[1]["text"] for _ in range(2)] == ["one two", "three"]
    assert httpx.post(f"{server.url}/v1/monitor/stop", json={}).json() == {"stopped": [monitor_id]}
