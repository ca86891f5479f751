"""Loaded by a test server's interpreter (PYTHONPATH): refuse and record any connection off this machine.

An audit hook sees every ``socket.connect`` and ``socket.getaddrinfo``; anything not on loopback (or a Unix
socket) is written to ``POLYVOX_TEST_SOCKET_LOG`` and refused with ``OSError``, so a hub library that tried to
download would fail loudly and leave a line the test reads. ``POLYVOX_TEST_ADDRESS_SPACE`` caps the
process's address space (bytes) so a runaway model cannot exhaust the shared machine.
"""

from __future__ import annotations

import ipaddress
import os
import resource
import socket
import sys

_LOG = os.environ.get("POLYVOX_TEST_SOCKET_LOG")
_LIMIT = os.environ.get("POLYVOX_TEST_ADDRESS_SPACE")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _local(host: object) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text.lower() in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _record(line: str) -> None:
    assert _LOG is not None
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.connect":
        sock, address = args[0], args[1]
        family = getattr(sock, "family", None)
        inet = family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
        if inet and not _local(address[0]):
            _record(f"refused connect {address!r}")
            raise OSError(f"test server: no connection off this machine ({address!r})")
    elif event == "socket.getaddrinfo" and not _local(args[0]):
        _record(f"refused getaddrinfo {args[0]!r}")
        raise OSError(f"test server: no name lookups off this machine ({args[0]!r})")


if _LIMIT:
    resource.setrlimit(resource.RLIMIT_AS, (int(_LIMIT), int(_LIMIT)))
if _LOG:
    sys.addaudithook(_audit)
    _record(f"armed pid={os.getpid()}")
