"""A streaming client for OpenAI-compatible chat completions (Ollama, vLLM, llama.cpp's server, ...).

``ChatClient.stream(messages)`` posts ``{"model", "messages", "stream": true}`` to
``BASE_URL/chat/completions`` and yields the content of each server-sent ``data:`` event's
``choices[0].delta`` until ``data: [DONE]``.
Transport failures, HTTP errors and error events all become :class:`LLMError` subclasses, so the voice
pipeline can report them in-band and keep the connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
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

    def _body(self, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.settings.model, "messages": list(messages), "stream": True}
        if self.settings.max_tokens is not None:
            body["max_tokens"] = self.settings.max_tokens
        return body

    async def stream(self, messages: Sequence[dict[str, Any]]) -> AsyncIterator[str]:
        """The reply's text pieces as the model produces them."""
        try:
            async with self._client.stream("POST", self.url, json=self._body(messages)) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode(errors="replace")[:300]
                    raise LLMError(f"language model answered HTTP {response.status_code}: {detail}")
                async for line in response.aiter_lines():
                    piece = _content(line)
                    if piece is None:
                        return
                    if piece:
                        yield piece
        except httpx.TimeoutException as exc:
            raise LLMUnavailableError(f"language model at {self.url} timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise LLMUnavailableError(f"language model at {self.url} is unreachable: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _content(line: str) -> str | None:
    """The text of one SSE line ("" for comments, other fields and empty deltas; None at [DONE])."""
    if not line.startswith("data:"):
        return ""
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
    delta = choices[0].get("delta") or {}
    content = delta.get("content")
    return content if isinstance(content, str) else ""
