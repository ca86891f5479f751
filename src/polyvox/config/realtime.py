"""Settings of the WebSocket front doors (``POLYVOX_REALTIME__*``) and their LLM (``POLYVOX_LLM__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat completions endpoint (Ollama, vLLM, llama.cpp's server, ...)."""

    base_url: str = Field(
        "http://127.0.0.1:11434/v1", description="Base URL; '/chat/completions' is appended to it."
    )
    model: str = Field("llama3.2", description="Model name sent with every request.")
    api_key: str | None = Field(None, description="Sent as 'Authorization: Bearer ...' when set.")
    timeout: float = Field(30.0, gt=0, description="Seconds to connect, and at most between two tokens.")
    system_prompt: str = Field(
        "You are a helpful voice assistant. Answer briefly, in plain sentences without markup.",
        description="First message of every conversation.",
    )
    history_turns: int = Field(8, ge=0, description="User/assistant exchanges kept per connection.")
    max_tokens: int | None = Field(
        None, ge=1, description="Upper bound on tokens per reply (None: no bound)."
    )
    audio_input: bool = Field(
        False,
        description="Audio-native turns: send the user's audio to the model as an 'input_audio' content "
        "part (base64 WAV, what Voxtral on vLLM accepts) instead of transcribing it first.",
    )


class RealtimeSettings(BaseModel):
    """Limits and timing of ``/v1/ws/tts`` and ``/v1/ws/converse``."""

    max_wait: float = Field(
        2.0,
        ge=0,
        description="Seconds buffered text may wait for more text before it is spoken anyway (0: no limit).",
    )
    max_segment_chars: int = Field(
        250, ge=20, description="Buffered text without a sentence end is spoken once it is this long."
    )
    max_message_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest message (text, or binary audio on /v1/ws/converse) a client may send; a larger "
        "one is answered with a `message_too_large` error and dropped, the socket stays open.",
    )
    max_event_bytes: int = Field(
        8 * 2**20,
        ge=64 * 1024,
        le=16 * 2**20,
        description="Largest client event on /v1/realtime: clients append whole utterances of base64 audio "
        "in one `input_audio_buffer.append` (the Agents SDK does); a larger one is answered with a "
        "`message_too_large` error and dropped. Audio kept per turn is bounded by `max_turn_seconds` anyway.",
    )
    idle_timeout: float = Field(
        300.0,
        ge=0,
        description="Seconds a socket may go without a frame in either direction before it is closed "
        "(error `idle_timeout`, close code 1001; 0: never).",
    )
    max_contexts: int = Field(8, ge=1, description="Contexts (context_id) one socket may have open.")
    max_queued_chars: int = Field(
        100_000,
        ge=1000,
        description="Text (characters) one context may hold not yet spoken; a fragment beyond it is refused "
        "in-band (error `text_queue_full`) and dropped, the socket stays open.",
    )
    max_turn_seconds: float = Field(60.0, gt=0, description="Longest user turn of microphone audio.")
    vad_silence_ms: int = Field(
        700, ge=100, description="Server VAD ends a turn after this much silence following speech."
    )
    vad_threshold: float = Field(0.5, gt=0, lt=1, description="Silero VAD speech probability threshold.")
