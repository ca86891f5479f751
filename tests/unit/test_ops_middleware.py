"""The operations middleware in-process: metrics, request ids, API keys, rate limits, body cap, /v1/config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from tests.conftest import make_settings

from polyvox.api.app import create_app
from polyvox.api.ops.auth import AuthMiddleware, is_open, matching_key
from polyvox.api.ops.ratelimit import TokenBuckets
from polyvox.config import AuthSettings

TONE = {"engine": "tone", "format": "pcm"}


def client_for(tmp_path: Path, **overrides: Any) -> TestClient:
    settings = make_settings(tmp_path, engines={"default": "tone"}, **overrides)
    return TestClient(create_app(settings))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path) as c:
        yield c


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text ``text`` (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] == name and all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return 0.0


def test_metrics_change_after_a_request(client: TestClient) -> None:
    before = client.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    assert metric(before.text, "polyvox_syntheses_total", engine="tone", outcome="ok") == 0
    assert client.post("/v1/synthesize", json={"text": "one two. three four.", **TONE}).status_code == 200
    after = client.get("/metrics").text
    assert metric(after, "polyvox_syntheses_total", engine="tone", outcome="ok") == 1
    assert metric(after, "polyvox_http_requests_total", route="/v1/synthesize", status="200") == 1
    assert metric(after, "polyvox_audio_seconds_count", engine="tone") == 1
    assert metric(after, "polyvox_audio_seconds_sum", engine="tone") == pytest.approx(0.8, abs=0.01)
    assert metric(after, "polyvox_time_to_first_audio_seconds_count", engine="tone") == 1
    assert metric(after, "polyvox_real_time_factor_count", engine="tone") == 1
    assert metric(after, "polyvox_characters_total", engine="tone") > 0
    assert metric(after, "polyvox_engine_loaded", engine="tone") == 1
    for gauge in ("polyvox_active_streams", "polyvox_queue_depth", "polyvox_capacity"):
        assert f"\n{gauge} " in after
    client.get("/no/such/route")
    assert metric(client.get("/metrics").text, "polyvox_http_requests_total", route="unmatched") == 1


def test_request_id_echoed_generated_and_sanitised(client: TestClient) -> None:
    given = client.post("/v1/synthesize", json={"text": "hi", **TONE}, headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    fresh = client.get("/health")
    assert len(fresh.headers["x-request-id"]) == 32
    bad = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert bad.headers["x-request-id"] != "bad id\twith spaces"
    # A route that reads the header itself sees the middleware's id, not a second one.
    made = client.post("/v1/synthesize", json={"text": "hi", **TONE})
    assert made.headers.get_list("x-request-id") == [made.headers["x-request-id"]]


def test_request_log_line_has_figures_not_text(client: TestClient) -> None:
    secret = "supersecret words"
    with structlog.testing.capture_logs() as logs:
        client.post("/v1/synthesize", json={"text": secret, **TONE}, headers={"X-Request-ID": "log-1"})
    line = next(e for e in logs if e["event"] == "request")
    assert line["request_id"] == "log-1"
    assert line["log_level"] == "info"
    assert (line["engine"], line["voice"], line["chars"], line["status"]) == ("tone", "beep", 17, 200)
    assert line["audio_seconds"] == pytest.approx(0.4, abs=0.01)
    assert line["rtf"] is not None
    assert line["route"] == "/v1/synthesize"
    assert secret not in repr(logs)


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[TestClient]:
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("# a comment\nfile-key\n")
    with client_for(tmp_path, auth={"api_keys": ["k1"], "keys_file": keys_file}) as c:
        yield c


def test_auth_http(keyed: TestClient) -> None:
    body = {"text": "hi", **TONE}
    missing = keyed.post("/v1/synthesize", json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["x-request-id"]
    assert (
        keyed.post("/v1/synthesize", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    assert keyed.get("/v1/engines", headers={"Authorization": "Basic k1"}).status_code == 401
    assert keyed.post("/v1/synthesize", json=body, headers={"Authorization": "Bearer k1"}).status_code == 200
    assert keyed.get("/v1/engines", headers={"Authorization": "bearer file-key"}).status_code == 200
    for open_path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs"):
        assert keyed.get(open_path).status_code == 200, open_path


def test_auth_websocket_on_the_real_route(keyed: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as denied, keyed.websocket_connect("/v1/ws/tts"):
        pass
    assert denied.value.status_code == 401
    with keyed.websocket_connect("/v1/ws/tts", headers={"Authorization": "Bearer k1"}):
        pass
    with keyed.websocket_connect("/v1/ws/tts?api_key=k1"):
        pass


def test_auth_middleware_covers_any_websocket_route() -> None:
    app = FastAPI()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.close()

    app.add_middleware(AuthMiddleware, settings=AuthSettings(api_keys=["k"]))
    with TestClient(app) as c:
        with pytest.raises(WebSocketDenialResponse), c.websocket_connect("/echo?api_key=wrong"):
            pass
        with c.websocket_connect("/echo", headers={"Authorization": "Bearer k"}) as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "hello"


def test_auth_helpers() -> None:
    assert matching_key("b", ["a", "b"]) == "b"
    assert matching_key("bb", ["a", "b"]) is None
    assert is_open("/web/app.js", ["/web/"]) and not is_open("/v1/x", ["/"]) and is_open("/", ["/"])


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    with client_for(tmp_path, limits={"ip_rate": 0.5, "ip_burst": 2}) as c:
        codes = [c.get("/v1/engines").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = c.get("/v1/engines")
        assert limited.json()["error"]["code"] == "rate_limited"
        assert limited.headers["retry-after"] == "2"
        assert c.get("/health").status_code == 200  # open paths are never limited


def test_rate_limit_per_key(tmp_path: Path) -> None:
    settings = {"auth": {"api_keys": ["a", "b"]}, "limits": {"key_rate": 0.1, "key_burst": 1}}
    with client_for(tmp_path, **settings) as c:
        assert c.get("/v1/engines", headers={"Authorization": "Bearer a"}).status_code == 200
        refused = c.get("/v1/engines", headers={"Authorization": "Bearer a"})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "10"
        assert c.get("/v1/engines", headers={"Authorization": "Bearer b"}).status_code == 200


def test_token_buckets_refill_and_stay_bounded() -> None:
    buckets = TokenBuckets(rate=2.0, burst=2)
    assert buckets.take("x", now=0.0) == 0 and buckets.take("x", now=0.0) == 0
    assert buckets.take("x", now=0.0) == pytest.approx(0.5)
    assert buckets.take("x", now=0.5) == 0
    for i in range(50):
        buckets.take(f"ip{i}", now=100.0)
    # "x" refilled to full while idle: it is forgotten (a full bucket is what a new one would be).
    assert len(buckets) == 50


def test_body_cap(tmp_path: Path) -> None:
    with client_for(tmp_path, limits={"max_body_bytes": 1024}) as c:
        response = c.post("/v1/synthesize", content=b"x" * 2000, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"


def test_runtime_config_is_applied_and_persisted(
    tmp_path: Path, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "polyvox.yaml"
    path.write_text("server:\n  port: 9000\nengines:\n  workers: 2\n")
    monkeypatch.setenv("POLYVOX_CONFIG", str(path))
    assert client.get("/v1/config").json()["default_engine"] == "tone"
    changed = client.patch("/v1/config", json={"default_voices": {"tone": "boop"}, "ttl": 60})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "default_engine": "tone",
        "default_voices": {"tone": "boop"},
        "ttl": 60,
        "persisted": True,
    }
    saved = yaml.safe_load(path.read_text())
    assert saved["server"] == {"port": 9000}
    assert saved["engines"] == {
        "workers": 2,
        "default": "tone",
        "default_voices": {"tone": "boop"},
        "ttl": 60,
    }
    spoken = client.post("/v1/synthesize", json={"text": "hi", **TONE})
    assert spoken.headers["x-voice"] == "boop"
    bad = client.patch("/v1/config", json={"default_voices": {"tone": "nobody"}, "ttl": 5})
    assert bad.status_code == 404
    assert client.get("/v1/config").json()["ttl"] == 60  # nothing changed
    assert client.patch("/v1/config", json={"default_engine": "nope"}).status_code == 404
