"""Reading Wyoming events with bounds.

``wyoming.event.async_read_event`` trusts the header: it waits for (and buffers) whatever ``data_length``
and ``payload_length`` declare, two gigabytes included. Here both are checked against a cap first, and an
over-long header line or a header that is not a JSON object is refused too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from wyoming.event import Event

from polyvox import jsontext
from polyvox.errors import InvalidParameterError, PayloadTooLargeError


def _length(header: dict[str, Any], key: str, cap: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameterError(f"event {key} must be a whole number of bytes", param=key)
    if value > cap:
        raise PayloadTooLargeError(
            f"event declares {key} {value}; the most accepted is {cap} bytes", param=key
        )
    return value


async def read_event(reader: asyncio.StreamReader, max_bytes: int) -> Event | None:
    """The next event, or None at the end of the stream; ``PolyvoxError`` for a refused one."""
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):
        raise PayloadTooLargeError("event header line is too long", param="header") from None
    if not line:
        return None
    try:
        header = jsontext.loads(line)
    except ValueError:
        raise InvalidParameterError("event header is not JSON", param="header") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise InvalidParameterError("event header must be a JSON object with a type", param="header")
    data_length = _length(header, "data_length", max_bytes)
    payload_length = _length(header, "payload_length", max_bytes)
    data = header.get("data") or {}
    try:
        if data_length:
            extra = jsontext.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict) or not isinstance(data, dict):
                raise InvalidParameterError("event data must be a JSON object", param="data")
            data = {**data, **extra}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None
    except ValueError:
        raise InvalidParameterError("event data is not JSON", param="data") from None
    return Event(type=header["type"], data=data, payload=payload)
