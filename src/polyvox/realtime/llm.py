"""A streaming client for OpenAI-compatible chat completions (Ollama, vLLM, llama.cpp's server, ...).

``ChatClient.stream(messages)`` posts ``{"model", "messages", "stream": true}`` to
``BASE_URL/chat/completions`` and yields the content of each server-sent ``data:`` event's
``choices[0].delta`` until ``data: [DONE]``. ``events(messages, options)`` also passes ``tools``,
``tool_choice`` and ``temperature`` through and yields the model's tool-call deltas
(``choices[0].delta.tool_calls[...]``) as :class:`ToolCallDelta` besides the text.
Transport failures, HTTP errors and error events all become :class:`LLMError` subclasses, so the voice
pipeline can report them in-band and keep the connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from polyvox.config import LLMSettings
from polyvox.errors import PolyvoxError


class LLMError(PolyvoxError):
    """The language model answered with an error or a malformed stream."""

    status = 502
    code = "llm_failed"


class LLMUnavailableError(LLMError):
    """The language model could not be reached or did not answer in time."""

    status = 503
    code = "llm_unavailable"


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of one tool call: its id and name come in the first piece, its arguments in pieces."""

    index: int
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """Per-request fields beyond the messages (None: not sent, the upstream's default)."""

    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class ChatClient:
    """One connection's client; close it with :meth:`aclose`."""

    def __init__(self, settings: LLMSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout), headers=headers, trust_env=False
        )

    @property
    def url(self) -> str:
        return self.settings.base_url.rstrip("/") + "/chat/completions"

    def _body(self, messages: Sequence[dict[str, Any]], options: ChatOptions) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.settings.model, "messages": list(messages), "stream": True}
        max_tokens = options.max_tokens if options.max_tokens is not None else self.settings.max_tokens
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if options.tools:
            body["tools"] = options.tools
            if options.tool_choice is not None:
                body["tool_choice"] = options.tool_choice
        if options.temperature is not None:
            body["temperature"] = options.temperature
        return body

    async def stream(self, messages: Sequence[dict[str, Any]]) -> AsyncIterator[str]:
        """The reply's text pieces as the model produces them."""
        async for piece in self.events(messages):
            if isinstance(piece, str):
                yield piece

    async def events(
        self, messages: Sequence[dict[str, Any]], options: ChatOptions | None = None
    ) -> AsyncIterator[str | ToolCallDelta]:
        """The reply's text pieces and tool-call pieces as the model produces them."""
        body = self._body(messages, options or ChatOptions())
        try:
            async with self._client.stream("POST", self.url, json=body) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode(errors="replace")[:300]
                    raise LLMError(f"language model answered HTTP {response.status_code}: {detail}")
                async for line in response.aiter_lines():
                    delta = _delta(line)
                    if delta is None:
                        return
                    content = delta.get("content")
                    if isinstance(content, str) and content:
                        yield content
                    for call in _tool_calls(delta):
                        yield call
        except httpx.TimeoutException as exc:
            raise LLMUnavailableError(f"language model at {self.url} timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise LLMUnavailableError(f"language model at {self.url} is unreachable: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _delta(line: str) -> dict[str, Any] | None:
    """The ``choices[0].delta`` of one SSE line ({} for comments and other fields; None at [DONE])."""
    if not line.startswith("data:"):
        return {}
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except ValueError:
        raise LLMError(f"language model sent a malformed event: {data[:200]!r}") from None
    if not isinstance(event, dict):
        raise LLMError("language model sent a malformed event")
    if "error" in event:
        raise LLMError(f"language model reported an error: {json.dumps(event['error'])[:300]}")
    choices = event.get("choices") or [{}]
    delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
    return delta if isinstance(delta, dict) else {}


def _tool_calls(delta: dict[str, Any]) -> list[ToolCallDelta]:
    calls = delta.get("tool_calls")
    if not isinstance(calls, list):
        return []
    pieces: list[ToolCallDelta] = []
    for position, call in enumerate(calls):
        if not isinstance(call, dict):
            raise LLMError("language model sent a malformed tool call")
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        index = call.get("index", position)
        arguments = function.get("arguments")
        pieces.append(
            ToolCallDelta(
                index=index if isinstance(index, int) else position,
                call_id=call.get("id") if isinstance(call.get("id"), str) else None,
                name=function.get("name") if isinstance(function.get("name"), str) else None,
                arguments=arguments if isinstance(arguments, str) else "",
            )
        )
    return pieces
