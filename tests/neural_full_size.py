"""The neural engines at their PUBLISHED sizes, randomly initialised, in the files their loaders read.

The tests' tiny checkpoints (``tests/neural_weights.py``, ``tests/e2e/chatterbox_checkpoint.py``) prove the
code path; these prove the loaders fit the published models and give ``bench/bench_neural.py --full-size``
something to time. Same builders, published configurations:

* XTTS v2: ``XttsArgs``' defaults (30 layers, 1024 channels, 16 heads) with coqui/XTTS-v2's config.json
  departures (``XTTS_V2``) and its 6,681-token ``vocab.json`` length.
* Chatterbox: the stock ``Llama_520M`` T3 (no ``t3_config.json``), stock S3Gen and voice encoder, conds.pt.
* StyleTTS2: the LibriTTS model of yl4579/StyleTTS2 (values below).
* Pocket TTS: the wheel's ``pocket_tts/config/english.yaml`` unchanged but for the tokenizer.

Random weights never stop on their own: whoever runs these caps the generated tokens. Each build peaks at a
few GB, so run it as its own process: ``python -m tests.neural_full_size ENGINE FOLDER [--tiny]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import neural_weights
from tests.e2e import chatterbox_checkpoint

XTTS_VOCAB_SIZE = 6681
"""Entries of coqui/XTTS-v2's vocab.json (its config.json's ``gpt_number_text_tokens``)."""

# From yl4579/StyleTTS2 Configs/config_libritts.yml (commit 60a96e3, the config of the released
# Models/LibriTTS checkpoint): model_params; Utils/PLBERT/config.yml and Utils/ASR/config.yml: model_params.
STYLETTS2_LIBRITTS: dict[str, Any] = {
    "multispeaker": True, "dim_in": 64, "hidden_dim": 512, "max_conv_dim": 512, "n_layer": 3, "n_mels": 80,
    "n_token": 178, "max_dur": 50, "style_dim": 128, "dropout": 0.2,
    "decoder": {
        "type": "hifigan", "resblock_kernel_sizes": [3, 7, 11], "upsample_rates": [10, 5, 3, 2],
        "upsample_initial_channel": 512, "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "upsample_kernel_sizes": [20, 10, 6, 4],
    },
    "slm": {"model": "microsoft/wavlm-base-plus", "sr": 16000, "hidden": 768, "nlayers": 13,
            "initial_channel": 64},
    "diffusion": {
        "embedding_mask_proba": 0.1,
        "transformer": {"num_layers": 3, "num_heads": 8, "head_features": 64, "multiplier": 2},
        "dist": {"sigma_data": 0.2, "estimate_sigma_data": True, "mean": -3.0, "std": 1.0},
    },
}  # fmt: skip
STYLETTS2_PLBERT: dict[str, Any] = {
    "vocab_size": 178, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
    "max_position_embeddings": 512, "num_hidden_layers": 12, "dropout": 0.1,
}  # fmt: skip
STYLETTS2_ASR: dict[str, Any] = {
    "input_dim": 80, "hidden_dim": 256, "n_token": 178, "token_embedding_dim": 512,
}  # fmt: skip


def build_xtts(folder: Path) -> Path:
    return neural_weights.build_xtts(folder, sizes={}, vocab_size=XTTS_VOCAB_SIZE)


def build_chatterbox(folder: Path) -> Path:
    return chatterbox_checkpoint.build(folder, conds=True, llama=None)


def build_styletts2(folder: Path) -> Path:
    return neural_weights.build_styletts2(
        folder, model_params=STYLETTS2_LIBRITTS, plbert=STYLETTS2_PLBERT, asr=STYLETTS2_ASR, settle=True
    )


def build_pocket(folder: Path) -> Path:
    return neural_weights.build_pocket(folder, full_size=True)


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "xtts": build_xtts,
    "chatterbox": build_chatterbox,
    "styletts2": build_styletts2,
    "pocket": build_pocket,
}


TINY: dict[str, Callable[[Path], Path]] = {
    "xtts": neural_weights.build_xtts,
    "chatterbox": chatterbox_checkpoint.build,
    "styletts2": neural_weights.build_styletts2,
    "pocket": neural_weights.build_pocket,
}
"""The tests' tiny checkpoints of the same engines (to check a script that runs these quickly)."""


if __name__ == "__main__":
    (TINY if "--tiny" in sys.argv[3:] else BUILDERS)[sys.argv[1]](Path(sys.argv[2]))
