"""The request bodies of ``POST /v1/audio/speech`` (OpenAI's shape) and ``POST /v1/synthesize`` (the native
route), described field by field for ``/openapi.json`` and ``/docs``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from polyvox.audio.formats import supported_formats
from polyvox.request import RequestFields

_FORMATS: list[JsonValue] = list(supported_formats())
ENGINE_PARAMETERS = (
    "length_scale",
    "noise_scale",
    "noise_w",
    "temperature",
    "top_k",
    "top_p",
    "flow_steps",
    "pitch",
    "delay",
    "fail_at",
    "parts",
    "seed",
    "repetition_penalty",
    "length_penalty",
    "gpt_cond_len",
    "eos_threshold",
    "exaggeration",
    "cfg_weight",
    "alpha",
    "beta",
    "diffusion_steps",
    "embedding_scale",
    "grow_at",
    "grow_mb",
)
"""Native-route fields handed to the engine in ``SynthesisRequest.extra`` (only those that are set)."""


class CustomVoice(BaseModel):
    """OpenAI's custom voice reference, ``{"id": "voice_1234"}``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., description="A voice id, as `voice` takes it as a string.", examples=["piper/joe"])


class SpeechRequest(RequestFields):
    """OpenAI's ``POST /v1/audio/speech`` body, plus a few Polyvox extensions.

    Unknown fields are accepted (clients add their own: SillyTavern's custom parameters, Home Assistant's
    extra payload) and named in the ``X-Polyvox-Ignored`` response header.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(
        "tts-1",
        description="`tts-1`, `tts-1-hd`, `gpt-4o-mini-tts` or `gpt-4o-mini-tts-2025-12-15` use the default "
        "engine; an engine name (`piper`, `kokoro`, `espeak`) picks that engine; `engine/voice` picks both.",
        examples=["tts-1", "kokoro", "piper/joe"],
    )
    input: str = Field(..., description="The text to speak.", examples=["Hello there. How are you today?"])
    # Wider than the shared field (OpenAI's custom voice object), so kept out of to_request: see voice_name.
    voice: str | CustomVoice | None = Field(  # type: ignore[assignment]
        None,
        description="An engine voice id (`joe`, `jf_alpha`), `engine/voice`, a library voice, an OpenAI "
        "voice name (alloy, ash, ballad, coral, echo, fable, onyx, nova, sage, shimmer, verse, marin, "
        "cedar) mapped through the `openai_voices` setting, or any of these as OpenAI's custom voice object "
        "`{\"id\": ...}`. When the mapping points at another engine than the request's, that engine's "
        "default voice is used. Omitted: the engine's default voice.",
        examples=["alloy", "joe"],
    )
    response_format: str = Field(
        "mp3",
        description="Audio format: mp3, opus (Ogg), aac (ADTS), flac, wav, pcm (raw s16le mono at 24 kHz, as "
        "OpenAI's, unless `sample_rate` says otherwise; s24le with `bit_depth` 24), ulaw or alaw (raw G.711 "
        "at 8 kHz unless `sample_rate` says otherwise).",
        json_schema_extra={"enum": _FORMATS},
    )
    instructions: str | None = Field(
        None,
        description="Voice instructions, accepted with every model: applied by engines that take them, "
        "otherwise ignored and named in the `X-Polyvox-Ignored` response header.",
    )
    stream_format: Literal["audio", "sse"] = Field(
        "audio",
        description="`audio`: the encoded audio as a chunked body, sent sentence by sentence. `sse`: "
        'server-sent events `{"type":"speech.audio.delta","audio":"<base64>"}` then '
        '`{"type":"speech.audio.done","usage":{...}}`.',
    )
    sample_rate: int | None = Field(
        None,
        description="Polyvox extension: output rate in Hz (8000-48000); default the engine's native rate.",
    )
    language: str | None = Field(
        None, description="Polyvox extension: language code (`en-us`, `ja`) for multilingual voices."
    )
    engine: str | None = Field(None, description="Polyvox extension: engine name; overrides `model`.")
    bit_depth: int = Field(16, description="Polyvox extension: 16, or 24 for wav, pcm and flac.")
    voice_tags: bool | None = Field(
        None,
        description="Polyvox extension: read inline `[voice:name]` tags in `input` as voice changes (each "
        "starts a turn of a dialogue, polyvox.dialogue); default: the `dialogue.voice_tags` setting (off).",
    )

    not_request_fields: ClassVar[frozenset[str]] = frozenset({"voice"})  # resolved with `model` first

    @property
    def voice_name(self) -> str | None:
        """``voice`` as one string, whichever way it was given."""
        return self.voice.id if isinstance(self.voice, CustomVoice) else self.voice


class SynthesizeRequest(RequestFields):
    """``POST /v1/synthesize``: form fields or a JSON object."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(..., description="The text to speak.")
    speaker: str | None = Field(None, description="Speaker name of a multi-speaker voice.")
    volume: float = Field(1.0, ge=0.0, le=4.0, description="Linear gain, 0 to 4.")
    format: str = Field(
        "wav",
        description="Audio format: wav, pcm, mp3, opus, aac, flac, ulaw, alaw, wav_ulaw or wav_alaw.",
        json_schema_extra={"enum": _FORMATS},
    )
    sample_rate: int | None = Field(None, description="Output rate in Hz (8000-48000); default: native rate.")
    bit_depth: int = Field(16, description="16, or 24 for wav, pcm and flac.")
    stream: bool = Field(
        False,
        description="Send audio sentence by sentence as a chunked body. Streamed responses carry only "
        "X-Engine, X-Voice, X-Sample-Rate and X-Request-ID headers; the figures (X-Audio-Seconds...) are "
        "only known, and sent, on non-streamed responses.",
    )
    length_scale: float | None = Field(
        None, description="Piper: phoneme duration scale (>1 slower), 0.1 to 4 (see `parameter_ranges`)."
    )
    noise_scale: float | None = Field(None, description="Piper: generator noise (expressiveness), 0 to 2.")
    noise_w: float | None = Field(None, description="Piper: phoneme duration noise, 0 to 2.")
    temperature: float | None = Field(None, description="Sampling temperature, for engines that sample.")
    top_k: int | None = Field(None, description="Top-k sampling, for engines that sample.")
    top_p: float | None = Field(None, description="Nucleus sampling, for engines that sample.")
    flow_steps: int | None = Field(None, description="Chatterbox: S3Gen flow-matching steps (1-10).")
    pitch: float | None = Field(None, description="eSpeak: pitch 0-100 (default 50).")
    delay: float | None = Field(None, description="Tone test engine: seconds to sleep per sentence.")
    fail_at: int | None = Field(None, description="Tone test engine: sentence index at which to fail.")
    parts: int | None = Field(None, description="Tone test engine: chunks per sentence, each after `delay`.")
    # Neural engines (polyvox.engines.neural); each engine's ranges are listed by /v1/engines.
    seed: int | None = Field(
        None, description="Neural engines: same seed, same samples (random when absent)."
    )
    repetition_penalty: float | None = Field(None, description="XTTS: penalty on repeated GPT tokens.")
    length_penalty: float | None = Field(None, description="XTTS: length penalty of the GPT search.")
    gpt_cond_len: int | None = Field(None, description="XTTS: seconds of the reference used for its latents.")
    eos_threshold: float | None = Field(None, description="Pocket TTS: end-of-speech logit threshold.")
    exaggeration: float | None = Field(None, description="Chatterbox: emotion exaggeration.")
    cfg_weight: float | None = Field(None, description="Chatterbox: classifier-free guidance weight.")
    alpha: float | None = Field(None, description="StyleTTS2: timbre mix of reference and predicted style.")
    beta: float | None = Field(None, description="StyleTTS2: prosody mix of reference and predicted style.")
    diffusion_steps: int | None = Field(None, description="StyleTTS2: style diffusion steps.")
    embedding_scale: float | None = Field(None, description="StyleTTS2: classifier-free guidance scale.")
    grow_at: int | None = Field(None, description="Tone test engine: sentence index that grows in memory.")
    grow_mb: int | None = Field(None, description="Tone test engine: MiB that sentence holds.")
    normalize: bool | None = Field(
        None,
        description="Rewrite numbers, dates, currency, units, abbreviations, URLs into words (English "
        "only). Default: on (the `text.normalize` setting).",
    )
    validate_speech: bool = Field(
        False,
        alias="validate",
        description="Non-streamed only: transcribe every chunk with Whisper, re-synthesize chunks whose WER "
        "exceeds the threshold, and report the WER in X-WER / X-Resynthesized headers.",
    )
    input_type: Literal["text", "ssml"] | None = Field(
        None,
        description="`ssml` reads `text` as SSML (speak, break, prosody rate, say-as, sub, phoneme); "
        "default: SSML when the text starts with `<speak`, plain text otherwise.",
    )

    def engine_extra(self) -> dict[str, Any]:
        """The engine parameters that were given."""
        values = {name: getattr(self, name) for name in ENGINE_PARAMETERS}
        return {name: value for name, value in values.items() if value is not None}
