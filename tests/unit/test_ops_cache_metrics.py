"""The chunk cache's hits and misses on ``GET /metrics``, after a repeated long-form job (tone engine)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from tests.conftest import make_settings
from tests.unit.test_ops_middleware import metric

from polyvox.api.app import create_app

WORDS = ("river", "garden", "window", "teacher", "village", "mountain", "kitten", "forest", "bridge")


def long_text(sentences: int) -> str:
    """Distinct plain sentences in paragraphs of five (like tests/integration/test_longform.py)."""
    said = [
        f"The {WORDS[n % 9]} saw the {WORDS[(n // 9) % 9]} on day {WORDS[(n // 81) % 9]}."
        for n in range(sentences)
    ]
    return "\n\n".join(" ".join(said[i : i + 5]) for i in range(0, sentences, 5))


def test_repeated_long_form_job_shows_cache_hits(tmp_path: Path) -> None:
    text = long_text(60)  # past longform.threshold_chars: runs as a chunked long-form job
    settings = make_settings(tmp_path, engines={"default": "tone"}, longform={"threshold_chars": 1000})
    assert len(text) > settings.longform.threshold_chars
    body = {"text": text, "engine": "tone", "format": "wav"}
    with TestClient(create_app(settings)) as client:
        first = client.post("/v1/synthesize", json=body)
        assert first.status_code == 200, first.text
        after_first = client.get("/metrics").text
        misses = metric(after_first, "polyvox_cache_misses_total")
        assert misses >= 3  # every chunk was synthesized
        assert metric(after_first, "polyvox_cache_hits_total") == 0
        second = client.post("/v1/synthesize", json=body)
        assert second.status_code == 200
        assert second.content == first.content
        after_second = client.get("/metrics").text
        assert metric(after_second, "polyvox_cache_hits_total") == misses  # every chunk found again
        assert metric(after_second, "polyvox_cache_misses_total") == misses


def test_no_cache_counters_when_the_cache_is_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engines={"default": "tone"}, cache={"enabled": False})
    with TestClient(create_app(settings)) as client:
        assert "polyvox_cache_hits" not in client.get("/metrics").text
