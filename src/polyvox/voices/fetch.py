"""Fetching reference or input audio from a URL without server-side request forgery.

Every hop (the URL and each redirect, at most ``max_redirects``) is vetted the same way: http/https only, no
credentials, the host checked against the allow/deny lists, then *resolved* and every address it resolves to
checked (loopback, private, link-local, CGNAT, multicast, reserved, unspecified, cloud metadata; IPv4-mapped,
6to4, Teredo and NAT64 IPv6 forms are unwrapped and their IPv4 checked too). The connection then goes to the
vetted address itself, so a second DNS answer (rebinding) can never redirect it; TLS still verifies the
certificate for the original host name (SNI). The body is streamed under a byte cap and an overall timeout.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from polyvox.config import VoiceLibrarySettings
from polyvox.errors import PayloadTooLargeError, PolyvoxError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Cloud metadata services that are not already private/link-local (AWS IPv6, Alibaba's is CGNAT anyway).
_METADATA = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


class UrlRefusedError(PolyvoxError):
    """The URL, or a redirect, points somewhere Polyvox will not fetch from."""

    status = 422
    code = "url_refused"


class FetchFailedError(PolyvoxError):
    """The remote server could not be reached or answered with an error."""

    status = 502
    code = "fetch_failed"


@dataclass(frozen=True, slots=True)
class VettedTarget:
    """A URL whose host was resolved and checked: connect to ``address``, speak to ``host``."""

    url: str
    host: str
    port: int
    address: str


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped ::ffff:a.b.c.d, 6to4, Teredo, NAT64, compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    compatible = int(address) >> 32 == 0 and int(address) > 0xFFFF  # ::a.b.c.d, not :: or ::1
    if compatible or any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched from, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            problem = address_problem(inner)
            if problem or any(address in net for net in _NAT64[1:]):
                return f"embeds {inner} ({problem or 'local-use NAT64'})"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("cloud metadata", any(address in net for net in _METADATA)),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),  # CGNAT 100.64/10, benchmarking, doc ranges...
    )
    return next((name for name, hit in checks if hit), None)


def _networks(cidrs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


def _host_matches(host: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in patterns)


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address, also in inet_aton's legacy spellings (2130706433, 0x7f.1, 0177...)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(part and part[0].isdigit() for part in host.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class UrlPolicy:
    """Decides which URLs may be fetched; built from :class:`VoiceLibrarySettings`."""

    def __init__(self, settings: VoiceLibrarySettings) -> None:
        self.settings = settings
        self._allow_nets = _networks(settings.url_allow_networks)
        self._deny_nets = _networks(settings.url_deny_networks)

    def check_address(self, address: IPAddress, host: str) -> None:
        """Refuse ``address`` unless it is public (or allow-listed) and not deny-listed."""
        denied = any(address in net for net in self._deny_nets)
        if not denied and any(address in net for net in self._allow_nets):
            return
        problem = "a denied network" if denied else address_problem(address)
        if problem:
            # Which internal address a name resolves to is itself worth hiding: say it only for a literal IP.
            if host.strip("[]") == str(address):
                raise UrlRefusedError(f"{host} is {problem}", param="url")
            raise UrlRefusedError(
                f"{host} resolves to an address that is never fetched (private, loopback, link-local, "
                "reserved or denied networks)",
                param="url",
            )

    def check_url(self, url: str) -> tuple[str, str, int]:
        """Scheme, host and port of an acceptable URL (before resolution)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise UrlRefusedError(f"malformed URL: {exc}", param="url") from None
        if parts.scheme not in ("http", "https"):
            raise UrlRefusedError(f"only http and https URLs are fetched, not {parts.scheme!r}", param="url")
        if parts.username is not None or parts.password is not None:
            raise UrlRefusedError("URLs with credentials are refused", param="url")
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise UrlRefusedError("the URL has no host", param="url")
        if _host_matches(host, self.settings.url_deny_hosts):
            raise UrlRefusedError(f"host {host!r} is deny-listed", param="url")
        if self.settings.url_allow_hosts and not _host_matches(host, self.settings.url_allow_hosts):
            raise UrlRefusedError(f"host {host!r} is not on the allow-list", param="url")
        return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)

    async def vet(self, url: str) -> VettedTarget:
        """Check ``url`` and resolve its host; every resolved address must pass."""
        _, host, port = self.check_url(url)
        literal = _literal_address(host)
        if literal is not None:
            self.check_address(literal, host)
            return VettedTarget(url, host, port, str(literal))
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise UrlRefusedError(f"cannot resolve {host!r}: {exc}", param="url") from None
        addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
        if not addresses:
            raise UrlRefusedError(f"{host!r} resolves to nothing", param="url")
        for address in addresses:  # one bad answer taints the name: it could be served next time
            self.check_address(ipaddress.ip_address(address), host)
        return VettedTarget(url, host, port, addresses[0])


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the vetted address whatever host name httpcore asks for (TLS keeps the name for SNI)."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_tcp(self._address, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _pinned_transport(address: str) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx has no public hook for the network backend; its pool is the documented httpcore one.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(), network_backend=_PinnedBackend(address)
    )
    return transport


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLargeError(f"the URL's body of {declared} bytes exceeds {cap} bytes", param="url")
    body = bytearray()
    async for piece in response.aiter_bytes(_CHUNK):
        body += piece
        if len(body) > cap:  # a lying or missing Content-Length: stop reading at the cap
            raise PayloadTooLargeError(f"the URL's body exceeds {cap} bytes", param="url")
    return bytes(body)


async def _fetch(url: str, policy: UrlPolicy) -> bytes:
    settings = policy.settings
    for _ in range(settings.max_redirects + 1):
        target = await policy.vet(url)
        async with (
            httpx.AsyncClient(transport=_pinned_transport(target.address), follow_redirects=False) as client,
            client.stream("GET", target.url, headers={"Accept": "audio/*"}) as response,
        ):
            if response.status_code in _REDIRECTS and "location" in response.headers:
                url = urljoin(target.url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise FetchFailedError(f"the URL answered HTTP {response.status_code}", param="url")
            return await _read_capped(response, settings.fetch_max_bytes)
    raise UrlRefusedError(f"more than {settings.max_redirects} redirects", param="url")


async def fetch_bytes(url: str, settings: VoiceLibrarySettings) -> bytes:
    """The body at ``url``, fetched under the SSRF policy, byte cap and timeout of ``settings``."""
    policy = UrlPolicy(settings)
    try:
        async with asyncio.timeout(settings.fetch_timeout):
            return await _fetch(url, policy)
    except TimeoutError:
        raise FetchFailedError(
            f"fetching the URL took over {settings.fetch_timeout} s", param="url"
        ) from None
    except httpx.HTTPError as exc:
        raise FetchFailedError(f"fetching the URL failed: {exc}", param="url") from None
