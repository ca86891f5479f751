"""The conversation of one Realtime connection: its items (GA JSON shape) and the chat messages they make.

Items are kept as OpenAI describes them (``message`` with content parts, ``function_call``,
``function_call_output``), newest last, at most ``limit`` of them (older ones are forgotten, as the chat
history of ``/v1/ws/converse`` is). A user audio item's text is its transcript, awaited when a response
needs it; with ``llm.audio_input`` the model gets the audio itself instead.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import OrderedDict
from typing import Any

from polyvox.audio.chunk import FloatArray
from polyvox.realtime.conversation import audio_content
from polyvox.realtime.openai_events import InvalidAudioError, ItemNotFoundError, RealtimeError, new_id

ROLES = ("user", "assistant", "system")
TEXT_PARTS = ("input_text", "output_text", "text")


class Conversation:
    """Items in order, plus what a user audio item needs for the model (its audio, its transcript)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.audio: dict[str, FloatArray] = {}
        """16 kHz audio of user audio items (audio-native mode sends it to the model)."""
        self.transcripts: dict[str, asyncio.Task[str]] = {}

    @property
    def last_id(self) -> str | None:
        return next(reversed(self.items), None)

    def add(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        """Append ``item`` (after ``previous_item_id`` when given); returns the id of the item before it."""
        if previous_item_id not in (None, "root") and previous_item_id not in self.items:
            raise ItemNotFoundError(
                f"no item {previous_item_id!r} in the conversation", param="previous_item_id"
            )
        before = self.last_id if previous_item_id is None else previous_item_id
        self.items[item["id"]] = item
        if previous_item_id is not None:  # insert: move every later item behind it
            order = list(self.items)
            order.remove(item["id"])
            at = 0 if previous_item_id == "root" else order.index(previous_item_id) + 1
            order.insert(at, item["id"])
            self.items = OrderedDict((key, self.items[key]) for key in order)
        while len(self.items) > self.limit:
            self.delete(next(iter(self.items)))
        return None if before == "root" else before

    def get(self, item_id: Any) -> dict[str, Any]:
        if not isinstance(item_id, str) or item_id not in self.items:
            raise ItemNotFoundError(f"no item {item_id!r} in the conversation", param="item_id")
        return self.items[item_id]

    def delete(self, item_id: str) -> None:
        self.items.pop(item_id, None)
        self.audio.pop(item_id, None)
        task = self.transcripts.pop(item_id, None)
        if task is not None and not task.done():
            task.cancel()

    async def messages(self, instructions: str, audio_input: bool) -> list[dict[str, Any]]:
        """The chat-completions messages: the instructions, then every item."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}]
        for item_id, item in list(self.items.items()):
            kind = item.get("type")
            if kind == "function_call":
                call = {
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments") or ""},
                }
                last = messages[-1]
                if last["role"] == "assistant" and "tool_calls" in last:
                    last["tool_calls"].append(call)
                else:
                    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif kind == "function_call_output":
                messages.append(
                    {"role": "tool", "tool_call_id": item["call_id"], "content": item.get("output", "")}
                )
            elif item_id in self.audio and audio_input:
                messages.append({"role": "user", "content": audio_content(self.audio[item_id])})
            else:
                text = await self._text(item_id, item)
                if text:
                    messages.append({"role": item.get("role", "user"), "content": text})
        return messages

    async def _text(self, item_id: str, item: dict[str, Any]) -> str:
        if item_id in self.transcripts:
            try:
                return await asyncio.shield(self.transcripts[item_id])
            except Exception:  # its failure was reported when it happened
                return ""
        parts = []
        for part in item.get("content") or []:
            text = part.get("text") if part.get("type") in TEXT_PARTS else part.get("transcript")
            if text:
                parts.append(text)
        return " ".join(parts)


def client_item(raw: Any) -> tuple[dict[str, Any], bytes | None]:
    """A ``conversation.item.create`` item in GA shape, and the raw pcm of its ``input_audio`` part if any."""
    if not isinstance(raw, dict):
        raise RealtimeError("'item' must be an object", param="item")
    kind = raw.get("type", "message")
    item_id = raw.get("id") if isinstance(raw.get("id"), str) else new_id("item")
    if kind == "function_call_output":
        if not isinstance(raw.get("call_id"), str) or not isinstance(raw.get("output"), str):
            raise RealtimeError("a function_call_output needs call_id and output strings", param="item")
        return {
            "id": item_id,
            "type": kind,
            "object": "realtime.item",
            "status": "completed",
            "call_id": raw["call_id"],
            "output": raw["output"],
        }, None
    if kind == "function_call":
        if not isinstance(raw.get("call_id"), str) or not isinstance(raw.get("name"), str):
            raise RealtimeError("a function_call needs call_id and name strings", param="item")
        return {
            "id": item_id,
            "type": kind,
            "object": "realtime.item",
            "status": "completed",
            "call_id": raw["call_id"],
            "name": raw["name"],
            "arguments": str(raw.get("arguments") or ""),
        }, None
    if kind != "message" or raw.get("role") not in ROLES or not isinstance(raw.get("content"), list):
        raise RealtimeError(
            "an item must be a message (role and content list), function_call or function_call_output",
            param="item",
        )
    content, audio = [], None
    for part in raw["content"]:
        if not isinstance(part, dict):
            raise RealtimeError("content parts must be objects", param="item.content")
        if part.get("type") in TEXT_PARTS:
            content.append({"type": part["type"], "text": str(part.get("text") or "")})
        elif part.get("type") in ("input_audio", "audio", "output_audio"):
            if isinstance(part.get("audio"), str):
                audio = decode_base64(part["audio"], "item.content.audio")
            content.append({"type": part["type"], "transcript": part.get("transcript")})
        else:
            raise RealtimeError(f"unknown content part type {part.get('type')!r}", param="item.content.type")
    item = {
        "id": item_id,
        "type": "message",
        "object": "realtime.item",
        "status": "completed",
        "role": raw["role"],
        "content": content,
    }
    return item, audio


def decode_base64(data: str, param: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAudioError("audio must be base64", param=param) from None
