"""``WS /v1/realtime``: OpenAI's Realtime API (GA event protocol) on the voice pipeline.

``OpenAI(base_url="http://HOST:PORT/v1").realtime.connect(model=...)`` connects here;
``?intent=transcription`` opens a transcription session. A client sending ``OpenAI-Beta: realtime=v1``
(or the subprotocol ``openai-beta.realtime-v1``) gets the beta names of the events renamed at GA. Every bad
event is answered with an ``error`` event naming its ``event_id``; the socket stays open (see
:mod:`polyvox.realtime.limits` for the size and idle limits it shares with the other sockets).
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket
from starlette.types import Message

from polyvox.errors import PolyvoxError
from polyvox.realtime.limits import IdleWatch, check_size, receive_until_stopped
from polyvox.realtime.openai_config import SessionConfig
from polyvox.realtime.openai_events import error_event, parse_client_event, server_event
from polyvox.realtime.openai_session import RealtimeSession
from polyvox.realtime.speaker import Sender

log = structlog.get_logger(__name__)
router = APIRouter(tags=["websocket"])

BETA_NAMES = {
    "conversation.item.added": "conversation.item.created",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
}
"""Server events renamed at GA, by their beta name (what clients of the beta protocol wait for)."""
EVENT_ID = re.compile(r'"event_id"\s*:\s*"([^"\\]{1,128})"')


def peek_event_id(text: str) -> str | None:
    """The ``event_id`` of an event too large to parse, when it is near either end (bounded work)."""
    found = EVENT_ID.search(text[:1024]) or EVENT_ID.search(text[-1024:])
    return found.group(1) if found else None


def _beta(websocket: WebSocket) -> bool:
    header = websocket.headers.get("openai-beta", "")
    protocols = websocket.headers.get("sec-websocket-protocol", "")
    return "realtime=v1" in header or "openai-beta.realtime-v1" in protocols


def _subprotocol(websocket: WebSocket) -> str | None:
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    return "realtime" if "realtime" in offered else None


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    """OpenAI Realtime API sessions; see the module docstring."""
    await websocket.accept(subprotocol=_subprotocol(websocket))
    service = websocket.app.state.polyvox
    limits = service.settings.realtime
    beta = _beta(websocket)
    sender = Sender(websocket)
    idle = IdleWatch(websocket, sender, limits.idle_timeout)

    async def send(event: dict[str, Any]) -> None:
        if beta and event["type"] in BETA_NAMES:
            event = event | {"type": BETA_NAMES[event["type"]]}
        await sender.send(event)

    query = websocket.query_params
    transcribing = query.get("intent") == "transcription"
    model = query.get("model") or "polyvox"
    config = SessionConfig(kind="transcription" if transcribing else "realtime", model=model)
    session = RealtimeSession(service, send, config)
    await send(server_event("session.created", session=config.to_json()))

    async def handle(raw: Message) -> None:
        event_id = None
        try:
            check_size(raw, limits.max_event_bytes)
            data = raw.get("text")
            if data is None:
                data = (raw.get("bytes") or b"").decode("utf-8", errors="replace")
            event = parse_client_event(data)
            event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            await session.handle(event)
        except PolyvoxError as exc:
            event_id = event_id or peek_event_id(raw.get("text") or "")
            await send(error_event(exc.code, exc.message, param=exc.param, event_id=event_id))
        except Exception:  # a fault of ours: said in-band, the connection goes on
            log.exception("realtime_event_failed", event_id=event_id)
            await send(error_event("internal_error", "the event could not be handled", event_id=event_id))

    try:
        await receive_until_stopped(websocket, idle, handle, lambda: False)
    finally:
        await idle.aclose()
        await session.aclose()
        log.info("realtime_closed", kind=session.config.kind, items=len(session.conversation.items))
