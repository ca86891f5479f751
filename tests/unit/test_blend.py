"""Kokoro blends: parsing, weight normalization, style mixing and voice resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import make_settings

from polyvox.engines.blend import blend_styles, canonical, is_blend, parse_blend
from polyvox.errors import InvalidParameterError, VoiceNotFoundError
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox


def test_parse_normalizes_weights() -> None:
    assert parse_blend("jf_alpha(2)+jm_kumo(1)") == [("jf_alpha", 2 / 3), ("jm_kumo", 1 / 3)]
    assert parse_blend(" jf_alpha + jm_kumo ") == [("jf_alpha", 0.5), ("jm_kumo", 0.5)]
    assert parse_blend("a(1)+b(1)+a(2)") == [("a", 0.75), ("b", 0.25)]
    assert parse_blend("a(0.5e1)+b(5)") == [("a", 0.5), ("b", 0.5)]


@pytest.mark.parametrize(
    "spec", ["a(0)+b", "a(-1)+b", "a()+b", "a+", "(2)", "a(x)+b", "+".join("abcdefghij")]
)
def test_bad_blends(spec: str) -> None:
    with pytest.raises(InvalidParameterError):
        parse_blend(spec)


def test_canonical_and_detection() -> None:
    assert canonical(parse_blend("jf_alpha(2)+jm_kumo(1)")) == "jf_alpha(0.6667)+jm_kumo(0.3333)"
    assert parse_blend(canonical(parse_blend("jf_alpha(2)+jm_kumo(1)")))[0][1] == pytest.approx(2 / 3, 1e-3)
    assert is_blend("a+b") and is_blend("a(2)") and not is_blend("jf_alpha") and not is_blend(None)


def test_styles_are_weighted_and_cut_to_the_shortest() -> None:
    styles = {"a": np.ones((4, 1, 256), np.float32), "b": np.full((3, 1, 256), 4.0, np.float32)}
    mixed = blend_styles(parse_blend("a(3)+b(1)"), styles.__getitem__)
    assert mixed.shape == (3, 1, 256) and mixed.dtype == np.float32
    np.testing.assert_allclose(mixed, 0.75 * 1 + 0.25 * 4)


async def test_synthesizer_resolves_blends(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path)) as polyvox:
        synthesizer = polyvox.synthesizer
        _, voice = synthesizer.validate(
            SynthesisRequest("hi", engine="kokoro", voice="jf_alpha(2)+jm_kumo(1)")
        )
        assert voice.id == "jf_alpha(0.6667)+jm_kumo(0.3333)" and voice.gender == "female"
        with pytest.raises(VoiceNotFoundError):  # every part must exist
            synthesizer.validate(SynthesisRequest("hi", engine="kokoro", voice="jf_alpha+nobody"))
        # Which engines blend is what they declare (Capabilities.blending): of the registered ones, Kokoro.
        with pytest.raises(VoiceNotFoundError, match=r"cannot blend voices; blends work on kokoro$"):
            synthesizer.validate(SynthesisRequest("hi", engine="piper", voice="joe(1)+joe(2)"))


@pytest.mark.slow
async def test_kokoro_speaks_a_blend(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, engines={"onnx_threads": 2})
    async with Polyvox(settings) as polyvox:
        text = "こんにちは。"
        results = {}
        for voice in ("jf_alpha", "jm_kumo", "jf_alpha(1)+jm_kumo(1)"):
            _, chunks = await polyvox.synthesizer.synthesize(
                SynthesisRequest(text, engine="kokoro", voice=voice)
            )
            results[voice] = np.concatenate([c.samples for c in chunks])
        blended = results["jf_alpha(1)+jm_kumo(1)"]
        assert len(blended) > 4800
        for voice in ("jf_alpha", "jm_kumo"):
            assert len(results[voice]) != len(blended) or not np.allclose(results[voice], blended)
