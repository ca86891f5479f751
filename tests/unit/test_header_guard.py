"""The slow-header guard (``polyvox.api.header_guard``) on both of uvicorn's HTTP/1.1 parsers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from polyvox.api.header_guard import GuardedH11, guarded_httptools, guarded_protocol

GuardedHttpTools = guarded_httptools()  # httptools is in the test extras (uvicorn[standard] brings it)
assert GuardedHttpTools is not None


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=[GuardedHttpTools, GuardedH11], ids=["httptools", "h11"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    protocol = type("Guard", (request.param,), {"header_timeout": 0.3, "max_header_bytes": 8192})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(_app, http=protocol, lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), daemon=True)
        thread.start()
        while not server.started:
            threading.Event().wait(0.01)
        yield sock.getsockname()[1]
        server.should_exit = True
        thread.join(10)


def _until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(30)  # the guard closes it long before; today's uvicorn never does
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_partial_headers_get_a_408_whole_requests_an_answer(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b"ok"):  # the whole first answer (its body is "ok")
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET / HTTP/1.1\r\nHos")
        assert _until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_oversized_headers_are_refused(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000)
        received = _until_closed(sock)
    assert received == b"" or received.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 400 "))


def test_the_server_picks_httptools_when_installed() -> None:
    protocol = guarded_protocol(5.0, 4096)
    assert protocol.__name__ == "GuardedHttpTools"
    assert (protocol.header_timeout, protocol.max_header_bytes) == (5.0, 4096)


def test_without_httptools_the_server_falls_back_to_h11(monkeypatch: pytest.MonkeyPatch) -> None:
    """A base install has no httptools (it comes with uvicorn[standard]): the guard must not need it."""
    import sys

    monkeypatch.setitem(sys.modules, "uvicorn.protocols.http.httptools_impl", None)
    assert guarded_httptools() is None
    assert issubclass(guarded_protocol(5.0, 4096), GuardedH11)
