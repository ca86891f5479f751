"""One voice turn: Whisper transcript → streamed LLM reply → the shared speaking path, with its metrics.

``Conversation`` keeps the bounded history of one connection. ``run_turn`` is cancellable at any await:
cancelling it (barge-in) closes the reply's :class:`Speaker`, which stops the synthesis in flight, and the
words already produced stay in the history so the model knows where it was interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from polyvox.asr import Transcriber
from polyvox.audio.chunk import FloatArray
from polyvox.realtime.llm import ChatClient, LLMError
from polyvox.realtime.protocol import error_message, ms
from polyvox.realtime.settings import LLMSettings, RealtimeSettings
from polyvox.realtime.speaker import Sender, Speaker, VoiceConfig
from polyvox.synthesis import Synthesizer


class Conversation:
    """History and turn handling of one ``/v1/ws/converse`` connection."""

    def __init__(
        self,
        *,
        config: VoiceConfig,
        synthesizer: Synthesizer,
        sender: Sender,
        llm: ChatClient,
        llm_settings: LLMSettings,
        limits: RealtimeSettings,
        transcriber: Callable[[], Transcriber],
        system_prompt: str | None = None,
    ) -> None:
        self.config = config
        self.synthesizer = synthesizer
        self.sender = sender
        self.llm = llm
        self.limits = limits
        self.transcriber = transcriber
        self.system_prompt = system_prompt or llm_settings.system_prompt
        self.max_history = 2 * llm_settings.history_turns
        self.history: list[dict[str, str]] = []
        self.turns = 0

    def messages(self, user_text: str) -> list[dict[str, str]]:
        """System prompt, the last exchanges, then the new user message."""
        recent = self.history[-self.max_history :] if self.max_history else []
        return [
            {"role": "system", "content": self.system_prompt},
            *recent,
            {"role": "user", "content": user_text},
        ]

    def _remember(self, user_text: str, reply: str) -> None:
        self.history += [{"role": "user", "content": user_text}, {"role": "assistant", "content": reply}]
        del self.history[: max(0, len(self.history) - self.max_history)]

    async def run_turn(self, audio: FloatArray, ended_at: float) -> None:
        """Transcribe, ask the model, speak its reply; sends ``transcript``, chunks and ``turn_done``."""
        self.turns += 1
        turn_id = self.turns
        transcript = await asyncio.to_thread(self.transcriber().transcribe, audio, 16_000)
        asr_done = time.perf_counter()
        user_text = transcript.text.strip()
        await self.sender.send({"type": "transcript", "turn_id": turn_id, "text": user_text})
        metrics: dict[str, Any] = {"asr_ms": ms(asr_done - ended_at), "llm_first_token_ms": None}
        if not user_text:
            await self.sender.send(
                error_message("no_speech", "no speech was heard in this turn", turn_id=turn_id)
            )
            await self._done(turn_id, metrics, ended_at, None)
            return
        speaker = Speaker(
            f"turn-{turn_id}",
            self.config,
            self.synthesizer,
            self.sender,
            transcriber=self.transcriber,
            max_chars=self.limits.max_segment_chars,
        )
        reply: list[str] = []
        try:
            try:
                async for piece in self.llm.stream(self.messages(user_text)):
                    if metrics["llm_first_token_ms"] is None:
                        metrics["llm_first_token_ms"] = ms(time.perf_counter() - asr_done)
                    reply.append(piece)
                    await speaker.feed(piece)
            except LLMError as exc:
                await self.sender.send(error_message(exc.code, exc.message, turn_id=turn_id))
            stats = await speaker.finish()
        finally:
            # Also on barge-in (cancellation): what was said so far becomes history.
            if reply:
                self._remember(user_text, "".join(reply).strip())
            with contextlib.suppress(Exception):
                await speaker.aclose()
        await self._done(turn_id, metrics, ended_at, stats.first_audio_at, audio_seconds=stats.audio_seconds)

    async def _done(
        self,
        turn_id: int,
        metrics: dict[str, Any],
        ended_at: float,
        first_audio_at: float | None,
        audio_seconds: float = 0.0,
    ) -> None:
        await self.sender.send(
            {
                "type": "turn_done",
                "turn_id": turn_id,
                **metrics,
                "ttfa_ms": ms(None if first_audio_at is None else first_audio_at - ended_at),
                "total_ms": ms(time.perf_counter() - ended_at),
                "audio_seconds": round(audio_seconds, 3),
            }
        )


def pcm_to_float(pcm: bytes) -> FloatArray:
    """s16le bytes to float32 in [-1, 1] (an odd trailing byte is dropped)."""
    usable = len(pcm) - len(pcm) % 2
    return np.frombuffer(pcm[:usable], dtype="<i2").astype(np.float32) / 32768.0
