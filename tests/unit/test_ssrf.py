"""The SSRF-safe fetcher: a table of refused URLs, redirects re-checked, byte cap, wrong content."""

from __future__ import annotations

import asyncio
import io
import threading
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest

from polyvox.config import VoiceLibrarySettings
from polyvox.errors import PayloadTooLargeError, UnsupportedMediaError
from polyvox.voices.decode import decode_audio
from polyvox.voices.fetch import UrlPolicy, UrlRefusedError, fetch_bytes

REFUSED = [
    "ftp://example.com/a.wav",  # scheme
    "file:///etc/passwd",
    "gopher://example.com/",
    "http://user:pw@example.com/a.wav",  # credentials
    "http:///a.wav",  # no host
    "http://127.0.0.1/a.wav",  # loopback
    "http://127.1/a.wav",  # short form
    "http://2130706433/a.wav",  # decimal
    "http://0x7f000001/a.wav",  # hex
    "http://0x7f.0.0.1/a.wav",  # dotted hex
    "http://0177.0.0.1/a.wav",  # octal
    "http://017700000001/a.wav",  # octal, one number
    "http://localhost/a.wav",  # a name resolving to 127.0.0.1
    "http://localhost./a.wav",  # trailing dot
    "http://10.0.0.1/a.wav",  # private
    "http://172.16.5.4/a.wav",
    "http://192.168.1.1/a.wav",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://100.64.0.1/a.wav",  # CGNAT
    "http://100.100.100.200/a.wav",  # Alibaba metadata
    "http://0.0.0.0/a.wav",  # unspecified
    "http://224.0.0.1/a.wav",  # multicast
    "http://240.0.0.1/a.wav",  # reserved
    "http://255.255.255.255/a.wav",  # broadcast
    "http://198.18.0.1/a.wav",  # benchmarking
    "http://[::1]/a.wav",  # IPv6 loopback
    "http://[::]/a.wav",  # IPv6 unspecified
    "http://[fe80::1]/a.wav",  # IPv6 link-local
    "http://[fc00::1]/a.wav",  # unique local
    "http://[fd00:ec2::254]/a.wav",  # AWS IPv6 metadata
    "http://[ff02::1]/a.wav",  # IPv6 multicast
    "http://[::ffff:127.0.0.1]/a.wav",  # IPv4-mapped
    "http://[::ffff:7f00:1]/a.wav",  # IPv4-mapped, hex
    "http://[::ffff:169.254.169.254]/a.wav",
    "http://[2002:7f00:1::]/a.wav",  # 6to4 of 127.0.0.1
    "http://[2002:a00:1::1]/a.wav",  # 6to4 of 10.0.0.1
    "http://[64:ff9b::7f00:1]/a.wav",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/a.wav",  # NAT64 of 169.254.169.254
    "http://[::127.0.0.1]/a.wav",  # IPv4-compatible
    "http://[2001:db8::1]/a.wav",  # documentation
]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", REFUSED)
def test_refused(url: str) -> None:
    assert len(REFUSED) >= 25
    with pytest.raises(UrlRefusedError) as caught:
        run(UrlPolicy(VoiceLibrarySettings()).vet(url))
    assert caught.value.status == 422 and caught.value.message


@pytest.mark.parametrize(
    "url", ["http://93.184.215.14/a.wav", "https://8.8.8.8/x.mp3", "http://[2606:4700:4700::1111]/a.wav"]
)
def test_public_address_is_accepted_without_fetching(url: str) -> None:
    target = run(UrlPolicy(VoiceLibrarySettings()).vet(url))
    assert target.address in url  # type: ignore[attr-defined]


def test_allow_and_deny_lists() -> None:
    allow = UrlPolicy(VoiceLibrarySettings(url_allow_hosts=["*.example.org"]))
    with pytest.raises(UrlRefusedError, match="allow-list"):
        allow.check_url("http://example.com/a.wav")
    assert allow.check_url("https://cdn.example.org/a.wav")[1] == "cdn.example.org"
    deny = UrlPolicy(VoiceLibrarySettings(url_deny_hosts=["bad.example"], url_deny_networks=["8.8.8.0/24"]))
    with pytest.raises(UrlRefusedError, match="deny-listed"):
        deny.check_url("http://bad.example/")
    with pytest.raises(UrlRefusedError, match="denied network"):
        run(deny.vet("http://8.8.8.8/"))


def _wav(seconds: float = 0.5) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(int(16000 * seconds)) / 16000)
        handle.writeframes((tone * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers and "X-No-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_port}"
    _Handler.routes = {
        "/ok.wav": (200, {"Content-Type": "audio/wav"}, _wav()),
        "/to-private": (302, {"Location": "http://10.1.2.3/a.wav"}, b""),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-loopback6": (301, {"Location": "http://[::1]:1/a.wav"}, b""),
        "/to-ok": (302, {"Location": "/ok.wav"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/big": (200, {}, b"\0" * 300_000),
        "/big-unsized": (200, {"X-No-Length": "1"}, b"\0" * 300_000),
        "/html": (200, {"Content-Type": "text/html"}, b"<html><body>not audio</body></html>"),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


def _settings(**overrides: object) -> VoiceLibrarySettings:
    # The test server is on loopback: allow exactly that address so redirects can be checked.
    return VoiceLibrarySettings(url_allow_networks=["127.0.0.1/32"], **overrides)  # type: ignore[arg-type]


def test_local_server_refused_without_allow_list(local_server: str) -> None:
    with pytest.raises(UrlRefusedError, match="loopback"):
        run(fetch_bytes(f"{local_server}/ok.wav", VoiceLibrarySettings()))


def test_fetch_allowed_audio(local_server: str) -> None:
    data = run(fetch_bytes(f"{local_server}/to-ok", _settings()))
    assert isinstance(data, bytes)
    assert len(decode_audio(data)) > 10000


@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        ("/to-private", UrlRefusedError, "private"),
        ("/to-metadata", UrlRefusedError, "link-local"),
        ("/to-loopback6", UrlRefusedError, "loopback"),
        ("/loop", UrlRefusedError, "redirects"),
        ("/big", PayloadTooLargeError, "exceeds"),
        ("/big-unsized", PayloadTooLargeError, "exceeds"),
    ],
)
def test_fetch_refusals(local_server: str, path: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        run(fetch_bytes(local_server + path, _settings(fetch_max_bytes=100_000)))


def test_wrong_content_is_not_audio(local_server: str) -> None:
    data = run(fetch_bytes(f"{local_server}/html", _settings()))
    with pytest.raises(UnsupportedMediaError):
        decode_audio(data)  # type: ignore[arg-type]
