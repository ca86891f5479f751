"""What one long number leaves in the server's memory (issue 24), on a real piper server under a memory cap.

A number past num2words is read digit by digit, so 160 digits make two 400-character segments of some
20 s of audio each, one onnxruntime run apiece. onnxruntime's CPU arena kept the memory of the largest run
for good (+300 MB for piper's session); each run now gives it back. The bound is on the server's resident
memory (``/proc``) once the request is over, against its steady state after ordinary sentences; RSS is not
time, so a bound on it is exact enough. Segments are the same size whatever the length of the number, so a
160 digits show what 2,600 would (``bench/bench_hostile.py`` class 8 runs the full lengths).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.e2e.conftest import Server, run_limited_server
from tests.e2e.memory import rss_bytes

pytestmark = pytest.mark.slow

MEMORY_CAP = 3 * 2**30
RSS_KEPT_BOUND = 150 * 2**20
"""Issue 24's target: what one accepted request may add to the server's RSS over steady state."""
STEADY = "The library opens at nine in the morning, and children come in with their parents to borrow books."
PCM_RATE = 24000
"""``/v1/audio/speech`` sends ``pcm`` as 24 kHz 16-bit mono, OpenAI's rate."""


@pytest.fixture(scope="module")
def piper_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("long-numbers")
    with run_limited_server(directory, MEMORY_CAP, POLYVOX_ENGINES__TTL="-1") as server:
        yield server


def spoken_seconds(server: Server, text: str) -> float:
    body = {"input": text, "voice": "alloy", "response_format": "pcm"}
    response = httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=600)
    assert response.status_code == 200, response.text[:300]
    return len(response.content) / 2 / PCM_RATE


@pytest.mark.parametrize(
    ("text", "digits"),
    [("9" * 160 + ".", 160), ("It came 1" + "0" * 160 + "th.", 161)],
    ids=["number", "ordinal"],
)
def test_a_long_number_leaves_the_rss_where_it_was(piper_server: Server, text: str, digits: int) -> None:
    for _ in range(2):  # the steady state: piper loaded, ordinary sentences spoken
        assert 3 < spoken_seconds(piper_server, STEADY) < 15
    before, _ = rss_bytes(piper_server.process.pid)
    seconds = spoken_seconds(piper_server, text)
    after, _ = rss_bytes(piper_server.process.pid)
    assert 0.15 * digits < seconds < 0.8 * digits  # every digit read ("nine", "zero"), about 0.3 s each
    kept = after - before
    assert kept < RSS_KEPT_BOUND, f"the request left the server {kept / 2**20:+.0f} MiB larger"
    assert piper_server.process.poll() is None
