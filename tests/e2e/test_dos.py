"""Denial of service by abandoned work and unbounded storage (issue 30, points 1-3), on one tone server under
a memory cap: long-form planning in steps that stop when the client goes, an output directory bounded when
written, and reference voices bounded by their own policy.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Server, run_limited_server

pytestmark = pytest.mark.slow

MEMORY_CAP = 3 * 2**30
MAX_FILES = 4
MAX_REFERENCES = 2
ATTACK_CHARS = 1_000_000
"""``longform.max_chars``: the most a long-form job may send (on main: ~40 minutes of sentence splitting)."""


@dataclass
class Site:
    server: Server
    data: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("dos")
    with run_limited_server(
        base / "server",
        MEMORY_CAP,
        POLYVOX_ENGINES__DEFAULT="tone",
        POLYVOX_LOGGING__FORMAT="json",
        POLYVOX_STORAGE__MAX_FILES=str(MAX_FILES),
        POLYVOX_STORAGE__CLEANUP_INTERVAL="0",
        POLYVOX_VOICES__REFERENCE_MAX_COUNT=str(MAX_REFERENCES),
    ) as server:
        yield Site(server, base / "server" / "data")
    assert server.process.returncode in (0, -15), server.log()[-3000:]


def log_events(server: Server, event: str) -> list[dict[str, Any]]:
    found = []
    for line in server.log().splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


def wait_for_event(server: Server, event: str, request_id: str, within: float = 60.0) -> dict[str, Any]:
    """The first log record of ``event`` for ``request_id``, once the server wrote it."""
    deadline = time.monotonic() + within
    while True:
        for record in log_events(server, event):
            if record.get("request_id") == request_id:
                return record
        assert time.monotonic() < deadline, f"never logged {event} for {request_id}: {server.log()[-3000:]}"
        time.sleep(0.05)


def abandoned_longform(server: Server, request_id: str) -> socket.socket:
    """A raw connection sending the biggest long-form job allowed; the caller closes it (the client goes)."""
    text = ("Long form text goes on and on, Dr. Smith said on 3 May 2020. " * 20_000)[:ATTACK_CHARS]
    body = json.dumps({"text": text, "engine": "tone", "format": "pcm"}).encode()
    head = (
        f"POST /v1/synthesize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Request-ID: {request_id}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(head + body)
    return sock


# -- 1: long-form planning -----------------------------------------------------------------------------
def test_abandoned_longform_planning_neither_starves_nor_outlives_its_clients(site: Site) -> None:
    server = site.server
    attacks = ["attack-one", "attack-two"]
    sockets = [abandoned_longform(server, rid) for rid in attacks]
    try:
        for rid in attacks:  # both are planning now, side by side
            wait_for_event(server, "longform_planning", rid)
        short = httpx.post(
            f"{server.url}/api/v1/tts",
            json={"text": "Two words.", "engine": "tone"},
            headers={"X-Request-ID": "short-one"},
            timeout=120,
        )
        assert short.status_code == 200, short.text
        # The short request's text work did not wait behind the attacks' planning: neither has finished.
        assert not [r for r in log_events(server, "longform_planned") if r.get("request_id") in attacks]
    finally:
        for sock in sockets:
            sock.close()
    # The clients are gone: each job stops at its next planning step instead of planning 1M characters.
    for rid in attacks:
        cancelled = wait_for_event(server, "longform_planning_cancelled", rid)
        assert cancelled["characters"] == ATTACK_CHARS
        wait_for_event(server, "request_abandoned", rid)
    assert not [r for r in log_events(server, "longform_planned") if r.get("request_id") in attacks]


def test_a_long_form_job_still_plans_and_speaks(site: Site) -> None:
    paragraphs = [f"Paragraph {i} has two sentences. This is the second one." for i in range(300)]
    text = "\n".join([*paragraphs, "One paragraph goes on, and on, and on. " * 150])  # 6,000: cut in two
    response = httpx.post(
        f"{site.server.url}/v1/synthesize",
        json={"text": text, "engine": "tone", "format": "pcm"},
        headers={"X-Request-ID": "long-ok"},
        timeout=300,
    )
    assert response.status_code == 200, response.text[:300]
    planned = wait_for_event(site.server, "longform_planned", "long-ok")
    assert planned["chunks"] == int(response.headers["X-Chunks"]) >= 300 + 6000 // 400
    assert planned["steps"] >= 2  # 18,000 characters: planned in more than one step


# -- 2: the output directory ----------------------------------------------------------------------------
def _url_file(server: Server, i: int) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/tts", json={"text": f"File number {i}.", "response": "url"}, timeout=120
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


def test_url_outputs_are_bounded_when_written(site: Site) -> None:
    server, output = site.server, site.data / "output"
    with ThreadPoolExecutor(4) as pool:  # concurrent writers: the tally and the evictions hold together
        urls = list(pool.map(lambda i: _url_file(server, i), range(MAX_FILES * 3)))
    assert len([p for p in output.iterdir() if not p.name.startswith(".")]) == MAX_FILES
    kept = [u for u in urls if httpx.get(f"{server.url}{u}").status_code == 200]
    assert len(kept) == MAX_FILES
    full = f"output directory at 100% of its {MAX_FILES} files limit"
    assert full in httpx.get(f"{server.url}/health").json()["warnings"]
    # /health reads the running tally: files dropped in behind the server's back are not walked (the
    # sweep finds them); a walk would report 600 %.
    for i in range(MAX_FILES * 2):
        (output / f"stray-{i}.wav").write_bytes(b"x")
    assert full in httpx.get(f"{server.url}/health").json()["warnings"]
    _url_file(server, 99)  # still within the bound the writer knows of: one evicted, one written
    assert len([p for p in output.iterdir() if not p.name.startswith("stray-")]) == MAX_FILES


# -- 3: reference voices --------------------------------------------------------------------------------
def _speech(server: Server, text: str) -> bytes:
    response = httpx.post(
        f"{server.url}/v1/synthesize", json={"text": text, "engine": "piper", "format": "wav"}, timeout=120
    )
    assert response.status_code == 200, response.text
    return response.content


def _with_reference(server: Server, reference: bytes, request_id: str, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/tts",
        data={"text": "Spoken in the voice sent.", "engine": "tone", **fields},
        files={"reference_audio": ("me.wav", reference, "audio/wav")},
        headers={"X-Request-ID": request_id},
        timeout=180,
    )


def _reference_voices(server: Server) -> set[str]:
    voices = httpx.get(f"{server.url}/v1/voices").json()["voices"]
    return {v["id"] for v in voices if v["id"].startswith("ref-")}


def test_reference_voices_are_bounded_and_never_removed_mid_request(site: Site) -> None:
    server = site.server
    first, second, third = (
        _speech(server, f"This is reference number {n}, read aloud for a little while.")
        for n in ("one", "two", "three")
    )
    ids = ["ref-" + hashlib.sha256(r).hexdigest()[:12] for r in (first, second, third)]
    mine = httpx.post(
        f"{server.url}/v1/voices", data={"name": "ref mine"}, files={"file": ("m.wav", first, "audio/wav")}
    )
    assert mine.status_code == 201, mine.text  # the user's own voice, named like a derived one
    # A slow request speaks with the first reference; while it runs, two more references arrive.
    slow: list[httpx.Response] = []
    runner = threading.Thread(
        target=lambda: slow.append(_with_reference(server, first, "slow-ref", delay="1", parts="5"))
    )
    runner.start()
    deadline = time.monotonic() + 120
    while not server.trace("slow-ref"):  # its first part is out: the request holds its voice now
        assert runner.is_alive() and time.monotonic() < deadline, slow[0].text if slow else "no trace"
        time.sleep(0.05)
    for request_id, reference in (("second-ref", second), ("third-ref", third)):
        assert _with_reference(server, reference, request_id).status_code == 200
    # Three stored, two allowed: the least recently used one not in use (the second) went.
    assert runner.is_alive(), "the slow request ended before the bound was applied: nothing was shown"
    assert _reference_voices(server) == {ids[0], ids[2], "ref-mine"}
    runner.join()
    assert slow[0].status_code == 200, slow[0].text
    # Sent again, the second is stored again; now the first (used longest ago, no longer held) goes.
    assert _with_reference(server, second, "second-again").status_code == 200
    assert _reference_voices(server) == {ids[1], ids[2], "ref-mine"}
