"""Input audio transcription of a Realtime turn: the recognizer's segments go out as they are decoded.

Each segment becomes a ``conversation.item.input_audio_transcription.delta`` while the rest of the turn is
still being decoded, then ``...completed`` carries the whole transcript (``...failed`` if the recognizer
failed). The recognizer runs in a thread under its own slots; a voice turn waits for a slot, never gets 429.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from polyvox.audio.chunk import FloatArray
from polyvox.errors import PolyvoxError
from polyvox.realtime.openai_events import server_event
from polyvox.realtime.vad import VAD_RATE
from polyvox.stt.base import TranscribeOptions
from polyvox.stt.recognizer import SpeechRecognizer

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def transcribe_turn(
    asr: SpeechRecognizer,
    audio: FloatArray,
    item: dict[str, Any],
    settings: dict[str, Any],
    send: Send | None,
) -> str:
    """The transcript of ``item``'s 16 kHz ``audio`` (also written into the item); events go to ``send``
    (None: the client did not ask for transcription events)."""
    model = settings.get("model") if settings.get("model") in asr.models() else None
    language, prompt = settings.get("language"), settings.get("prompt")
    options = TranscribeOptions(
        model=model,
        language=language if isinstance(language, str) else None,
        prompt=prompt if isinstance(prompt, str) else None,
    )
    ids = {"item_id": item["id"], "content_index": 0}
    pieces: list[str] = []
    try:
        async with asr.slot(queued=False):
            _, segments = await asyncio.to_thread(asr.stream, audio, VAD_RATE, options)
            while (segment := await asyncio.to_thread(next, segments, None)) is not None:
                text = segment.text.strip()
                if not text:
                    continue
                pieces.append((" " if pieces else "") + text)
                if send is not None:
                    delta = server_event(
                        "conversation.item.input_audio_transcription.delta", **ids, delta=pieces[-1]
                    )
                    await send(delta)
    except PolyvoxError as exc:
        if send is not None:
            error = {"type": "transcription_error", "code": exc.code, "message": exc.message, "param": None}
            await send(server_event("conversation.item.input_audio_transcription.failed", **ids, error=error))
        raise
    transcript = "".join(pieces)
    item["content"][0]["transcript"] = transcript
    if send is not None:
        usage = {"type": "duration", "seconds": round(len(audio) / VAD_RATE, 3)}
        done = "conversation.item.input_audio_transcription.completed"
        await send(server_event(done, **ids, transcript=transcript, usage=usage))
    return transcript
