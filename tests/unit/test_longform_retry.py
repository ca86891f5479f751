"""What a long-form retry asks a stochastic engine for: a different seed, or it would say the same again."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from polyvox.audio.chunk import AudioChunk
from polyvox.config import Settings
from polyvox.engines.base import EngineInfo, Param
from polyvox.longform import LongformJob
from polyvox.request import SynthesisRequest
from polyvox.text.chunks import Chunk

SEED = Param("seed", 0, 9, integer=True)
TEMPERATURE = Param("temperature", 0.05, 2.0)


class _Opened:
    async def __aenter__(self) -> _Opened:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def render(self, index: int, due: float | None = None) -> AudioChunk:
        return AudioChunk.from_int16(b"\0\0", 24_000)


class _Synthesizer:
    """Records every request a retry opens; the engine is stochastic (it takes a temperature)."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir)
        info = EngineInfo("neural", "Neural", "", ("en-us",), 24_000, parameters=(TEMPERATURE, SEED))
        self.registry = SimpleNamespace(info=lambda name: info)
        self.opened: list[SynthesisRequest] = []

    async def open(self, request: SynthesisRequest, **_: Any) -> _Opened:
        self.opened.append(request)
        return _Opened()


async def test_a_seeded_retry_samples_with_another_seed(tmp_path: Path) -> None:
    synthesizer = _Synthesizer(tmp_path)
    request = SynthesisRequest(text="Hello there.", engine="neural", voice="v", extra={"seed": 9})
    job = LongformJob(synthesizer, request, validate=True)  # type: ignore[arg-type]
    stream: Any = SimpleNamespace(engine_name="neural", sample_rate=24_000, voice=SimpleNamespace(id="v"))
    _, engine = await job._render(stream, Chunk(0, "Hello there.", True), attempt=1)
    assert engine == "neural"  # stochastic: re-sampled by itself, not the fallback
    assert synthesizer.opened[0].extra["seed"] == 0  # 9 + 1, wrapped into the engine's range
