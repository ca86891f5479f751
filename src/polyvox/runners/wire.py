"""The messages between the server and an engine worker process: msgpack maps over the worker's pipes.

msgpack is self-delimiting, so a stream of packed maps needs no framing of its own: the reader is an
``msgpack.Unpacker`` over the pipe. Every message is a map with an ``op``; calls carry an ``id`` that
their answers repeat, so one worker serves several calls at once.

Server to worker: ``init`` (engine name and settings), ``load``, ``synth`` (text, voice, params),
``cancel`` (id), ``status``, ``exit``. Worker to server: ``chunk`` (float32 samples as bytes and their
rate), ``done`` (with figures), ``error`` (a ``PolyvoxError``'s class, message and param).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import ClonedVoice, SynthesisParams, Voice
from polyvox.errors import EngineFailedError, PolyvoxError


def voice_to_wire(voice: Voice) -> dict[str, Any]:
    # A library voice travels as what it is (its reference recording's path included): engines that
    # clone natively read the reference in the worker.
    data = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(voice).items()}
    data["cloned"] = isinstance(voice, ClonedVoice)
    return data


def voice_from_wire(data: dict[str, Any]) -> Voice:
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    if not fields.pop("cloned", False):
        return Voice(**fields)
    if fields.get("reference") is not None:
        fields["reference"] = Path(fields["reference"])
    return ClonedVoice(**fields)


def params_to_wire(params: SynthesisParams) -> dict[str, Any]:
    return {
        "speed": params.speed,
        "language": params.language,
        "speaker": params.speaker,
        "extra": dict(params.extra),
        "request_id": params.request_id,
        "segment_index": params.segment_index,
    }


def params_from_wire(data: dict[str, Any]) -> SynthesisParams:
    return SynthesisParams(**data)


def chunk_to_wire(call_id: int, chunk: AudioChunk, seconds: float = 0.0) -> dict[str, Any]:
    """``seconds``: the engine's time on this chunk (since the previous one), measured in the worker."""
    samples = np.ascontiguousarray(chunk.samples, dtype=np.float32)
    pcm = samples.tobytes()
    return {"op": "chunk", "id": call_id, "pcm": pcm, "rate": chunk.sample_rate, "seconds": seconds}


def chunk_from_wire(message: dict[str, Any]) -> AudioChunk:
    return AudioChunk(np.frombuffer(message["pcm"], dtype=np.float32), int(message["rate"]))


def error_to_wire(call_id: int, exc: BaseException) -> dict[str, Any]:
    """An error as a message; anything that is not a ``PolyvoxError`` travels as ``engine_failed``."""
    if isinstance(exc, PolyvoxError):
        kind = f"{type(exc).__module__}:{type(exc).__qualname__}"
        return {"op": "error", "id": call_id, "type": kind, "message": exc.message, "param": exc.param}
    message = f"{type(exc).__name__}: {exc}"
    kind = f"{EngineFailedError.__module__}:{EngineFailedError.__qualname__}"
    return {"op": "error", "id": call_id, "type": kind, "message": message, "param": None}


def error_from_wire(message: dict[str, Any]) -> PolyvoxError:
    """The same typed error the worker raised (an unknown or odd class becomes ``engine_failed``)."""
    module, _, name = str(message.get("type", "")).partition(":")
    text, param = str(message.get("message", "")), message.get("param")
    try:
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, PolyvoxError):
            return cls(text, param=param)
    except (ImportError, AttributeError, ValueError, TypeError):
        pass
    return EngineFailedError(text, param=param)
