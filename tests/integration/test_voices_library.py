"""``POST /v1/voices`` with a blend: made with the engine that declares ``Capabilities.blending``, whatever
its name; a clear error when no engine blends."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from tests.conftest import make_settings

from polyvox.api.app import create_app
from polyvox.engines.base import EngineFactory, EngineInfo
from polyvox.engines.kokoro import KokoroEngine
from polyvox.engines.piper import PiperEngine
from polyvox.engines.tone import ToneEngine


class Mixer(KokoroEngine):
    """Kokoro under another name."""

    info: ClassVar[EngineInfo] = dataclasses.replace(KokoroEngine.info, name="mixer")


BLEND = {"name": "Alpha Kumo", "blend": "jf_alpha(2)+jm_kumo(1)"}


async def _post_blend(tmp_path: Path, factories: dict[str, EngineFactory]) -> httpx.Response:
    settings = make_settings(tmp_path, engines={"default": "tone", "onnx_threads": 2})
    app = create_app(settings, factories)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client,
    ):
        return await client.post("/v1/voices", data=BLEND, timeout=120)


@pytest.mark.slow
async def test_a_blend_is_made_with_the_blending_engine_under_any_name(tmp_path: Path) -> None:
    response = await _post_blend(tmp_path, {"tone": ToneEngine, "piper": PiperEngine, "mixer": Mixer})
    assert response.status_code == 201, response.text
    voice = response.json()
    assert voice["blend"] == "jf_alpha(0.6667)+jm_kumo(0.3333)"
    assert voice["analysis"]["seconds"] > 3  # the blending engine read a few sentences in the mix


async def test_without_a_blending_engine_a_blend_is_a_clear_error(tmp_path: Path) -> None:
    response = await _post_blend(tmp_path, {"tone": ToneEngine, "piper": PiperEngine})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["param"] == "blend"
    assert "blends voices" in error["message"]
