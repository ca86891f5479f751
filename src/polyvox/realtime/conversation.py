"""One voice turn: transcript (or the audio itself) → streamed LLM reply → the shared speaking path.

With ``llm.audio_input`` the turn's audio goes to the model as an ``input_audio`` content part (a base64
16 kHz WAV: what Voxtral on vLLM, and OpenAI's audio models, accept) and no ASR runs; otherwise the configured
ASR back end transcribes it and the model gets text. Either way the reply is spoken as it streams.

``Conversation`` keeps the bounded history of one connection. ``run_turn`` is cancellable at any await:
cancelling it (barge-in) closes the reply's :class:`Speaker`, which stops the synthesis in flight, and the
words already produced stay in the history so the model knows where it was interrupted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable
from typing import Any

from polyvox.audio.chunk import FloatArray
from polyvox.audio.pcm import int16_to_float
from polyvox.config import LLMSettings, RealtimeSettings
from polyvox.realtime.llm import ChatClient, LLMError
from polyvox.realtime.protocol import error_message, ms
from polyvox.realtime.speaker import Sender, Speaker, VoiceConfig
from polyvox.stt.base import ASR_RATE
from polyvox.stt.recognizer import SpeechRecognizer
from polyvox.stt.remote import wav_bytes
from polyvox.synthesis import Synthesizer

MIN_AUDIO_SECONDS = 0.1
"""A shorter audio-native turn is answered ``no_speech`` without asking the model."""


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
        transcriber: Callable[[], SpeechRecognizer],
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
        self.audio_input = llm_settings.audio_input
        self.history: list[dict[str, Any]] = []
        self.turns = 0

    def messages(self, user: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """System prompt, the last exchanges, then the new user message (text, or content parts)."""
        recent = self.history[-self.max_history :] if self.max_history else []
        return [
            {"role": "system", "content": self.system_prompt},
            *recent,
            {"role": "user", "content": user},
        ]

    def _remember(self, user: str | list[dict[str, Any]], reply: str) -> None:
        self.history += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        del self.history[: max(0, len(self.history) - self.max_history)]

    async def _hear(self, turn_id: int, audio: FloatArray) -> str | list[dict[str, Any]]:
        """The user message: the audio as a content part, or the ASR transcript (sent as ``transcript``)."""
        if self.audio_input:
            if len(audio) < MIN_AUDIO_SECONDS * ASR_RATE:
                return ""
            return await asyncio.to_thread(audio_content, audio)
        transcript = await self.transcriber().listen(audio, ASR_RATE)
        user_text = transcript.text.strip()
        await self.sender.send({"type": "transcript", "turn_id": turn_id, "text": user_text})
        return user_text

    async def run_turn(self, audio: FloatArray, ended_at: float) -> None:
        """Transcribe (or not), ask the model, speak its reply; sends transcript, chunks, turn_done."""
        self.turns += 1
        turn_id = self.turns
        user = await self._hear(turn_id, audio)
        asr_done = time.perf_counter()
        asr_ms = None if self.audio_input else ms(asr_done - ended_at)
        metrics: dict[str, Any] = {"asr_ms": asr_ms, "llm_first_token_ms": None}
        if not user:
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
                async for piece in self.llm.stream(self.messages(user)):
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
                self._remember(user, "".join(reply).strip())
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


def audio_content(audio: FloatArray) -> list[dict[str, Any]]:
    """16 kHz mono audio as the OpenAI chat content part ``input_audio`` (base64 WAV)."""
    data = base64.b64encode(wav_bytes(audio, ASR_RATE)).decode("ascii")
    return [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]


def pcm_to_float(pcm: bytes) -> FloatArray:
    """s16le bytes to float32 in [-1, 1] (an odd trailing byte is dropped)."""
    usable = len(pcm) - len(pcm) % 2
    return int16_to_float(pcm[:usable])
