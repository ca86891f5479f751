"""OpenAI Realtime API events: client events parsed, server events built, and the errors a bad event gets.

Client events are read as plain JSON objects (see :mod:`polyvox.realtime.openai_config` for the session
fields). Server events use the GA names. An invalid client event raises a :class:`RealtimeError` (each kind
its own stable ``code``) that the socket answers with an ``error`` event naming the client's ``event_id``;
the session is left as it was.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from polyvox.errors import InvalidParameterError


class RealtimeError(InvalidParameterError):
    """A client event that cannot be carried out; answered with an ``error`` event, the socket stays."""

    code = "invalid_value"


class InvalidEventError(RealtimeError):
    code = "invalid_event"


class UnknownEventError(RealtimeError):
    code = "unknown_event"


class InvalidAudioError(RealtimeError):
    code = "invalid_audio"


class BufferFullError(RealtimeError):
    code = "input_audio_buffer_full"


class CommitEmptyError(RealtimeError):
    code = "input_audio_buffer_commit_empty"


class ActiveResponseError(RealtimeError):
    code = "conversation_already_has_active_response"


class NoResponseError(RealtimeError):
    code = "response_cancel_not_active"


class ItemNotFoundError(RealtimeError):
    code = "item_not_found"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def server_event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": new_id("event"), **fields}


def error_event(
    code: str, message: str, *, param: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    error = {"type": "invalid_request_error", "code": code, "message": message, "param": param}
    return server_event("error", error=error | {"event_id": event_id})


def parse_client_event(text: str) -> dict[str, Any]:
    """A client event as a JSON object with a string ``type``."""
    try:
        event = json.loads(text)
    except ValueError:
        raise InvalidEventError("the event is not valid JSON", param="event") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise InvalidEventError("an event must be a JSON object with a string 'type'", param="type")
    return event
