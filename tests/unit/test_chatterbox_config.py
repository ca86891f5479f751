"""Chatterbox's folder options and the pieces around it that need no weights loaded.

The engine itself is tested on a tiny real checkpoint through a server (tests/e2e/test_cloning_engines.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import make_settings

from polyvox.bounds import check_extra
from polyvox.engines.neural.chatterbox import ChatterboxEngine, t3_hparams
from polyvox.engines.neural.chatterbox_mtl import LANGUAGE_IDS, ChatterboxMultilingualEngine, language_id
from polyvox.engines.piper import PiperEngine
from polyvox.errors import InvalidParameterError
from polyvox.voices.convert import ConverterRegistry


def test_t3_config_overrides_the_backbone_and_hparams(tmp_path: Path) -> None:
    assert t3_hparams(tmp_path).llama_config_name == "Llama_520M"  # no file: the stock model
    from chatterbox.models.t3.llama_configs import (
        LLAMA_CONFIGS,
    )  # (after the engine made torchaudio importable)

    (tmp_path / "t3_config.json").write_text(
        json.dumps({"llama": {"num_hidden_layers": 2}, "speech_cond_prompt_len": 40})
    )
    hp = t3_hparams(tmp_path)
    backbone = LLAMA_CONFIGS[hp.llama_config_name]
    assert backbone["num_hidden_layers"] == 2 and backbone["hidden_size"] == 1024
    assert hp.speech_cond_prompt_len == 40
    assert LLAMA_CONFIGS["Llama_520M"]["num_hidden_layers"] == 30  # the stock config is untouched
    assert t3_hparams(tmp_path).llama_config_name == hp.llama_config_name  # same content, same name


@pytest.mark.parametrize("content", ['{"no_such_field": 1}', '{"llama": 3}', "[1, 2]", "{not json"])
def test_t3_config_mistakes_are_errors(tmp_path: Path, content: str) -> None:
    (tmp_path / "t3_config.json").write_text(content)
    with pytest.raises(ValueError):
        t3_hparams(tmp_path)


def test_engine_parameters_are_checked_against_their_declared_ranges() -> None:
    info = ChatterboxEngine.info
    check_extra(info, {"exaggeration": 1.0, "cfg_weight": 0.0, "seed": 42, "flow_steps": 2})
    check_extra(info, {"noise_scale": 99})  # not a chatterbox parameter: left to the engine
    for extra, param in [
        ({"exaggeration": 2.5}, "exaggeration"),
        ({"temperature": float("nan")}, "temperature"),
        ({"seed": 1.5}, "seed"),
        ({"flow_steps": 0}, "flow_steps"),
        ({"cfg_weight": "high"}, "cfg_weight"),
    ]:
        with pytest.raises(InvalidParameterError) as caught:
            check_extra(info, extra)
        assert caught.value.param == param
    with pytest.raises(InvalidParameterError):
        check_extra(PiperEngine.info, {"length_scale": 10.0})


def test_auto_converter_is_chatterbox_only_with_its_weights(tmp_path: Path) -> None:
    folder = tmp_path / "chatterbox"
    settings = make_settings(tmp_path, engines={"model_dirs": {"chatterbox": str(folder)}})
    assert ConverterRegistry(settings).get().name == "world"
    folder.mkdir()
    (folder / "s3gen.safetensors").write_bytes(b"weights")
    registry = ConverterRegistry(settings)
    assert registry.get().name == "chatterbox"
    assert registry.get(live=True).name == "world"  # converting streamed speech keeps WORLD's latency
    assert registry.get("world").name == "world"


def test_multilingual_folder_takes_either_file_of_each_pair(tmp_path: Path) -> None:
    folder = tmp_path / "mtl"
    settings = make_settings(tmp_path, engines={"model_dirs": {"chatterbox-multilingual": str(folder)}})
    status = ChatterboxMultilingualEngine.weights_status(settings)
    assert status.folder == folder and status.state == "needs_weights"
    assert status.missing == (
        "grapheme_mtl_merged_expanded_v1.json",
        "Cangjie5_TC.json",
        "t3_mtl23ls_v2.safetensors or t3_mtl23ls_v3.safetensors",
        "ve.pt or ve.safetensors",
        "s3gen.pt or s3gen.safetensors",
    )
    folder.mkdir()
    for name in ("grapheme_mtl_merged_expanded_v1.json", "Cangjie5_TC.json", "t3_mtl23ls_v3.safetensors",
                 "ve.safetensors", "s3gen.pt"):  # fmt: skip
        (folder / name).write_bytes(b"x")
    assert ChatterboxMultilingualEngine.weights_status(settings).ready
    (folder / "ve.safetensors").write_bytes(b"")  # an empty file is not a file of weights
    assert ChatterboxMultilingualEngine.weights_status(settings).missing == ("ve.pt or ve.safetensors",)


def test_multilingual_languages_are_chatterboxs() -> None:
    from chatterbox.mtl_tts import SUPPORTED_LANGUAGES

    assert set(LANGUAGE_IDS) == set(SUPPORTED_LANGUAGES)
    assert {"en-us", *LANGUAGE_IDS} <= set(ChatterboxMultilingualEngine.info.languages)
    assert language_id("fr-FR", "en-us") == "fr" and language_id("PT_br", None) == "pt"
    assert language_id(None, "de") == "de"  # no request language: the voice's
    assert language_id(None, "cs") == "en" and language_id(None, None) == "en"
