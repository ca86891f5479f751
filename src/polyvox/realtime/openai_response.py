"""One Realtime response: the conversation to the upstream model, its words spoken, its tool calls passed on.

Events, in OpenAI's order: ``response.created``; per output item ``response.output_item.added`` and
``conversation.item.added``; for speech a ``response.content_part.added`` then ``response.output_audio.delta``
with ``response.output_audio_transcript.delta`` as each sentence's audio starts (or
``response.output_text.delta`` in text mode); for a tool call ``response.function_call_arguments.delta``;
then the ``.done`` events and ``response.done`` with its usage. :meth:`Response.cancelled` ends a response cut
short (barge-in, ``response.cancel``): its message keeps the transcript of the audio already sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog

from polyvox.errors import PolyvoxError
from polyvox.realtime.llm import ChatClient, ChatOptions, ToolCallDelta
from polyvox.realtime.openai_audio import encode_audio
from polyvox.realtime.openai_config import SessionConfig, chat_tool_choice, chat_tools
from polyvox.realtime.openai_events import new_id, server_event
from polyvox.realtime.openai_items import Conversation
from polyvox.realtime.openai_voice import SegmentAudio, SegmentEnd, SessionVoice, Voice
from polyvox.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
DELTA_SECONDS = 0.5
"""Longest audio of one ``response.output_audio.delta``."""


@dataclass(slots=True)
class Timing:
    """When the response's first pieces happened (``time.perf_counter``), for logs and the bench."""

    started: float = 0.0
    first_token: float | None = None
    first_audio: float | None = None


class Response:
    """One response of a conversation; run :meth:`run` as a task, :meth:`cancelled` after cancelling it."""

    def __init__(
        self,
        *,
        send: Send,
        conversation: Conversation,
        config: SessionConfig,
        llm: ChatClient,
        voice: Voice,
        spec: SessionVoice,
        audio_input: bool,
        keep: bool = True,
        metadata: Any = None,
    ) -> None:
        self.id = new_id("resp")
        self.send = send
        self.conversation = conversation
        self.config = config
        self.llm = llm
        self.voice = voice
        self.spec = spec
        self.audio = "audio" in config.output_modalities
        self.audio_input = audio_input
        self.keep = keep
        """Whether its items join the conversation (``conversation: "none"`` answers out of band)."""
        self.metadata = metadata
        self.status = "in_progress"
        self.status_details: dict[str, Any] | None = None
        self.output: list[dict[str, Any]] = []
        self.message: dict[str, Any] | None = None
        self.calls: dict[int, dict[str, Any]] = {}
        self.spoken: list[str] = []
        self.pieces = 0
        self.input_chars = 0
        self.timing = Timing(started=time.perf_counter())
        self.finished = False
        self._engine_error_sent = False

    # -- the response object -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        output_tokens = self.pieces
        input_tokens = self.input_chars // 4
        return {
            "id": self.id,
            "object": "realtime.response",
            "status": self.status,
            "status_details": self.status_details,
            "output": self.output,
            "conversation_id": "conv_polyvox" if self.keep else None,
            "output_modalities": list(self.config.output_modalities),
            "max_output_tokens": self.config.max_output_tokens or "inf",
            "audio": {"output": {"format": self.config.output_format.to_json(), "voice": self.config.voice}},
            "metadata": self.metadata,
            "usage": None
            if self.status == "in_progress"
            else {  # estimated: the upstream's token counts are not streamed back by every server
                "total_tokens": input_tokens + output_tokens,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "input_token_details": {"text_tokens": input_tokens, "audio_tokens": 0, "cached_tokens": 0},
                "output_token_details": {"text_tokens": output_tokens, "audio_tokens": 0},
            },
        }

    def _ids(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": item["id"], "output_index": self.output.index(item)}

    async def _add_item(self, item: dict[str, Any]) -> None:
        self.output.append(item)
        await self.send(
            server_event(
                "response.output_item.added",
                response_id=self.id,
                output_index=len(self.output) - 1,
                item=item,
            )
        )
        if self.keep:
            previous = self.conversation.add(item)
            await self.send(server_event("conversation.item.added", previous_item_id=previous, item=item))

    async def _done_item(self, item: dict[str, Any], status: str) -> None:
        item["status"] = status
        await self.send(
            server_event(
                "response.output_item.done",
                response_id=self.id,
                output_index=self.output.index(item),
                item=item,
            )
        )
        if self.keep:
            await self.send(server_event("conversation.item.done", item=item))

    # -- running -----------------------------------------------------------------------------------------
    async def run(self) -> None:
        await self.send(server_event("response.created", response=self.to_json()))
        player: asyncio.Task[None] | None = None
        try:
            messages = await self.conversation.messages(self.config.instructions, self.audio_input)
            self.input_chars = sum(len(str(m.get("content") or "")) for m in messages)
            session = None
            if self.audio:
                session = await self.voice.open(self.spec)
                player = asyncio.create_task(self._play())
            options = ChatOptions(
                tools=chat_tools(self.config.tools),
                tool_choice=chat_tool_choice(self.config.tool_choice),
                temperature=self.config.temperature,
                max_tokens=self.config.max_output_tokens,
            )
            async for piece in self.llm.events(messages, options):
                self.pieces += 1
                if self.timing.first_token is None:
                    self.timing.first_token = time.perf_counter()
                if isinstance(piece, ToolCallDelta):
                    await self._call(piece)
                    continue
                await self._open_message()
                if session is not None:
                    await session.feed(piece)
                else:
                    self.spoken.append(piece)
                    await self.send(server_event("response.output_text.delta", **self._part(), delta=piece))
            if session is not None and player is not None:
                await session.flush()
                await player
            await self._close_items("completed")
            self.status = "completed"
        except Exception as exc:  # said in-band like any failure after the response started
            if not isinstance(exc, PolyvoxError):
                log.exception("realtime_response_failed", response=self.id)
                exc = PolyvoxError(f"the response failed: {type(exc).__name__}")
            await self.send(
                server_event(
                    "error",
                    error={
                        "type": "server_error",
                        "code": exc.code,
                        "message": exc.message,
                        "param": exc.param,
                        "event_id": None,
                    },
                )
            )
            await self._close_items("incomplete")
            self.status = "failed"
            self.status_details = {"type": "failed", "error": {"type": exc.code, "code": exc.code}}
        finally:
            if player is not None:
                await cancel_and_wait(player)
        await self._finish()

    async def _finish(self) -> None:
        self.finished = True
        await asyncio.shield(self.send(server_event("response.done", response=self.to_json())))
        log.info("realtime_response_done", response=self.id, status=self.status)

    def _part(self) -> dict[str, Any]:
        assert self.message is not None
        return self._ids(self.message) | {"content_index": 0}

    async def _open_message(self) -> None:
        if self.message is not None:
            return
        self.message = {
            "id": new_id("item"),
            "type": "message",
            "object": "realtime.item",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        await self._add_item(self.message)
        part = {"type": "audio", "transcript": ""} if self.audio else {"type": "text", "text": ""}
        # The part events name the kind "audio"/"text"; the item's content "output_audio"/"output_text".
        await self.send(server_event("response.content_part.added", **self._part(), part=part))

    async def _play(self) -> None:
        """Send the utterance's audio as it renders, with each sentence's words as its audio starts."""
        while True:
            event = await self.voice.next()
            if isinstance(event, SegmentAudio):
                if event.first:
                    await self._words(event.text)
                fmt = self.config.output_format
                samples, step = event.chunk.samples, max(1, int(DELTA_SECONDS * fmt.rate))
                for start in range(0, len(samples), step):
                    delta = encode_audio(np.asarray(samples[start : start + step]), fmt)
                    if self.timing.first_audio is None:
                        self.timing.first_audio = time.perf_counter()
                    await self.send(server_event("response.output_audio.delta", **self._part(), delta=delta))
            elif isinstance(event, SegmentEnd):
                if event.error is not None and event.seconds == 0:  # text-only fallback: the words still go
                    if not self._engine_error_sent:
                        self._engine_error_sent = True
                        error = {
                            "type": "server_error",
                            "code": event.error.code,
                            "message": event.error.message,
                            "param": None,
                            "event_id": None,
                        }
                        await self.send(server_event("error", error=error))
                    await self._words(event.text)
            else:
                return

    async def _words(self, text: str) -> None:
        delta = (" " if self.spoken else "") + text
        self.spoken.append(delta)
        await self.send(server_event("response.output_audio_transcript.delta", **self._part(), delta=delta))

    async def _call(self, piece: ToolCallDelta) -> None:
        item = self.calls.get(piece.index)
        if item is None:
            item = {
                "id": new_id("item"),
                "type": "function_call",
                "object": "realtime.item",
                "status": "in_progress",
                "call_id": piece.call_id or new_id("call"),
                "name": piece.name or "",
                "arguments": "",
            }
            self.calls[piece.index] = item
            await self._add_item(item)
        if piece.name and not item["name"]:
            item["name"] = piece.name
        if piece.arguments:
            item["arguments"] += piece.arguments
            await self.send(
                server_event(
                    "response.function_call_arguments.delta",
                    **self._ids(item),
                    call_id=item["call_id"],
                    delta=piece.arguments,
                )
            )

    async def _close_items(self, status: str) -> None:
        if self.message is not None and self.message["status"] == "in_progress":
            text = "".join(self.spoken)
            if self.audio:
                part = {"type": "output_audio", "transcript": text}
                await self.send(server_event("response.output_audio.done", **self._part()))
                await self.send(
                    server_event("response.output_audio_transcript.done", **self._part(), transcript=text)
                )
            else:
                part = {"type": "output_text", "text": text}
                await self.send(server_event("response.output_text.done", **self._part(), text=text))
            self.message["content"] = [part]
            event_part = {**part, "type": "audio" if self.audio else "text"}
            await self.send(server_event("response.content_part.done", **self._part(), part=event_part))
            await self._done_item(self.message, status)
        for item in self.calls.values():
            if item["status"] == "in_progress":
                await self.send(
                    server_event(
                        "response.function_call_arguments.done",
                        **self._ids(item),
                        call_id=item["call_id"],
                        name=item["name"],
                        arguments=item["arguments"],
                    )
                )
                await self._done_item(item, "completed" if status == "completed" else status)

    async def cancelled(self, reason: str) -> None:
        """After the task was cancelled: stop the speech, keep what was heard, say ``response.done``."""
        if self.finished:
            return
        if self.audio:
            _, heard = await self.voice.cancel()
            self.spoken = [heard]
        self.status = "cancelled"
        self.status_details = {"type": "cancelled", "reason": reason}
        await self._close_items("incomplete")
        await self._finish()
