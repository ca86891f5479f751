"""Admission by capacity over HTTP: past what the workers can keep up with, a new listener is refused at once.

The tone engine with an injected delay gives an exact real-time factor (1.5 s per 2 s of audio: 0.75); with
one worker, a second such listener would be more than the worker can give, so it is answered 429 ``busy``
with ``Retry-After`` before anything is synthesized, and admitted again once the first stream is done.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import read_trace
from tests.e2e.conftest import Server, run_server

SENTENCE = " ".join(["word"] * 10)  # 2 s of tone audio
SLOW = {"text": f"{SENTENCE}. {SENTENCE}. {SENTENCE}.", "engine": "tone", "format": "pcm", "stream": True}
SLOW["delay"] = 1.5  # type: ignore[assignment]  # per segment: a real-time factor of 0.75
SHORT = {"text": "Hello there.", "engine": "tone", "format": "pcm", "stream": True, "delay": 1.5}


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"POLYVOX_ENGINES__WORKERS": "1", "POLYVOX_SERVER__FIRST_AUDIO_BOUND": "3"}
    with run_server(tmp_path_factory.mktemp("admission"), **env) as server:
        yield server


def measured_rtf(client: httpx.Client) -> float | None:
    rtf: float | None = client.get("/v1/engines/tone").json()["rtf"]
    return rtf


def test_a_listener_beyond_capacity_is_refused_early_and_admitted_once_there_is_room(
    one_worker: Server,
) -> None:
    with httpx.Client(base_url=one_worker.url, timeout=60) as client:
        with client.stream("POST", "/v1/synthesize", json=SLOW) as playing:
            assert playing.status_code == 200
            audio = playing.iter_raw()
            first = next(audio)  # the first sentence plays; two more are on their way
            assert first
            deadline = time.monotonic() + 10
            while measured_rtf(client) is None:  # the first segment's speed is folded in as it ends
                assert time.monotonic() < deadline, "the engine's speed was never measured"
            assert measured_rtf(client) == pytest.approx(0.75, abs=0.1)

            refused = client.post("/v1/synthesize", json=SHORT, headers={"X-Request-ID": "refused-1"})
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "busy"
            assert int(refused.headers["Retry-After"]) >= 1
            assert "first_audio_bound" in refused.json()["error"]["message"]
            # Refused before synthesis: the engine never saw it (the trace has every segment it ran).
            assert "refused-1" not in {r["request_id"] for r in read_trace(one_worker.trace_file)}
            rest = b"".join(audio)
        assert len(first) + len(rest) == 3 * 2 * 2 * 16000  # three sentences of 2 s, 16-bit at 16 kHz
        # The first stream has finished: the same request is admitted and spoken.
        admitted = client.post("/v1/synthesize", json=SHORT, headers={"X-Request-ID": "admitted-1"})
        assert admitted.status_code == 200, admitted.text
        assert "admitted-1" in {r["request_id"] for r in read_trace(one_worker.trace_file)}
        assert admitted.headers["content-type"].startswith("audio/")
        assert len(admitted.content) > 0
