"""A tiny random Chatterbox checkpoint of the real architecture, laid out as the real English files.

Contract tests only: the weights are random, so the audio is noise shaped by the reference; it proves
loading, conditioning, parameters, seeding and errors, nothing about quality.

* T3 keeps chatterbox's architecture with a one-layer Llama backbone (``t3_config.json``, the engine's own
  override file; the hidden size stays 1024, which the perceiver requires).
* A random T3 never samples its stop token, so ``generate`` would run its 1,000 tokens. The weights make it
  stop: one hidden dimension is constant in every speech-token embedding, another grows with the speech
  position, and the speech head's stop row compares them, so the stop token wins after ``STOP_AFTER``
  tokens; the rows of the non-speech tokens (>= 6561) are pushed down so every sampled token is speech.
* S3Gen and the voice encoder cannot shrink: they are the real modules, randomly initialised (1.06 GB).

The multilingual set (``--multilingual MTL_FOLDER``, the files of ``ChatterboxMultilingualTTS``): the same
tiny T3 over ``T3Config.multilingual()`` as ``t3_mtl23ls_v2.safetensors``, a character-level
``grapheme_mtl_merged_expanded_v1.json`` with chatterbox's language tags (``[fr]``...) and the combining
accents NFKD leaves, a two-entry ``Cangjie5_TC.json``, the voice encoder as ``ve.pt`` (the ``.pt`` path) and
``s3gen.safetensors`` linked to the English one (S3Gen is the same module; a second 1 GB copy buys nothing).

Run as ``python -m tests.e2e.chatterbox_checkpoint FOLDER [--conds] [--multilingual MTL_FOLDER]`` (a
subprocess: building S3Gen peaks near 3 GB, which the test process should not keep).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

STOP_AFTER = 10
"""Speech tokens before the stop token wins (25 per second: about 0.4 s of audio per segment)."""
TINY_LLAMA = {"num_hidden_layers": 1, "intermediate_size": 64}
SPEECH_VOCAB = 6561
_CONSTANT_DIM, _RAMP_DIM, _LEVEL = 0, 1, 10.0


CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()"
ACCENTS = "".join(chr(c) for c in range(0x300, 0x370))
"""The combining marks NFKD splits accented letters into (the multilingual tokenizer decomposes)."""


def write_tokenizer(path: Path, chars: str = CHARS, tags: tuple[str, ...] = ()) -> None:
    """A character-level tokenizer with chatterbox's special tokens ([START] 255, [STOP] 0) and ``tags``."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split

    specials = ["[STOP]", "[UNK]", "[SPACE]", "[PAD]", "[SEP]", "[CLS]", "[MASK]", *tags]
    vocab = {token: i for i, token in enumerate(specials)}
    vocab.update({c: len(specials) + i for i, c in enumerate(chars)})
    vocab["[START]"] = 255
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Split("", behavior="isolated")
    tokenizer.add_special_tokens([*specials, "[START]"])
    tokenizer.save(str(path))


def rig_stop(t3: object) -> None:
    """Make the random T3 end after about ``STOP_AFTER`` tokens and sample only speech tokens."""
    import torch

    with torch.no_grad():
        speech_emb = t3.speech_emb.weight  # type: ignore[attr-defined]
        speech_emb.normal_(0.0, 0.02)
        speech_emb[:, _CONSTANT_DIM] = _LEVEL
        positions = t3.speech_pos_emb.emb.weight  # type: ignore[attr-defined]
        positions.normal_(0.0, 0.02)
        positions[:, _RAMP_DIM] = _LEVEL * torch.arange(positions.shape[0]) / STOP_AFTER
        head = t3.speech_head.weight  # type: ignore[attr-defined]
        head.normal_(0.0, 0.02)
        stop = t3.hp.stop_speech_token  # type: ignore[attr-defined]
        head[SPEECH_VOCAB:, _CONSTANT_DIM] = -20.0  # start/stop/padding rows: never sampled...
        head[stop, :] = 0.0
        head[stop, _RAMP_DIM] = 20.0  # ...except stop, once the ramp passes the constant
        head[stop, _CONSTANT_DIM] = -20.0


def build(folder: Path, *, conds: bool = False, llama: dict[str, int] | None = TINY_LLAMA) -> Path:
    """Write ve/t3_cfg/s3gen safetensors, tokenizer.json, t3_config.json (and conds.pt) into ``folder``.

    ``llama=None``: the stock ``Llama_520M`` T3 (the published size, no ``t3_config.json``), left unrigged
    (whoever runs it caps its tokens)."""
    from polyvox.engines.neural.compat import tolerate_torchaudio_without_native

    tolerate_torchaudio_without_native()  # before chatterbox imports torchaudio
    import torch
    from chatterbox.models.s3gen import S3Gen
    from chatterbox.models.t3 import T3
    from chatterbox.models.tokenizers import EnTokenizer
    from chatterbox.models.voice_encoder import VoiceEncoder
    from chatterbox.tts import ChatterboxTTS
    from safetensors.torch import save_file

    from polyvox.engines.neural.chatterbox import conditionals_from, t3_hparams

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    write_tokenizer(folder / "tokenizer.json")
    if llama is not None:
        (folder / "t3_config.json").write_text(json.dumps({"llama": llama}), encoding="utf-8")
    t3 = T3(t3_hparams(folder))  # the engine's own reading of t3_config.json
    if llama is not None:
        rig_stop(t3)
    voice_encoder = VoiceEncoder()
    s3gen = S3Gen()
    for name, module in (("t3_cfg", t3), ("ve", voice_encoder), ("s3gen", s3gen)):
        state = {k: v.contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(folder / f"{name}.safetensors"))
    if conds:
        model = ChatterboxTTS(
            t3.eval(), s3gen.eval(), voice_encoder.eval(), EnTokenizer(str(folder / "tokenizer.json")), "cpu"
        )
        conditionals_from(model, reference_tone(220.0), 24_000).save(folder / "conds.pt")
    return folder


def build_multilingual(folder: Path, english: Path) -> Path:
    """The multilingual set (module docstring) in ``folder``, beside the English checkpoint ``english``."""
    from polyvox.engines.neural.compat import tolerate_torchaudio_without_native

    tolerate_torchaudio_without_native()
    import torch
    from chatterbox.models.t3 import T3
    from chatterbox.models.voice_encoder import VoiceEncoder
    from safetensors.torch import load_file, save_file

    from polyvox.engines.neural.chatterbox import t3_hparams
    from polyvox.engines.neural.chatterbox_mtl import LANGUAGE_IDS

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1)
    chars = CHARS.lower() + ACCENTS + "中文"
    write_tokenizer(
        folder / "grapheme_mtl_merged_expanded_v1.json", chars, tuple(f"[{code}]" for code in LANGUAGE_IDS)
    )
    (folder / "Cangjie5_TC.json").write_text(json.dumps(["中\tl", "文\tyk"]), encoding="utf-8")
    (folder / "t3_config.json").write_text(json.dumps({"llama": TINY_LLAMA}), encoding="utf-8")
    t3 = T3(t3_hparams(folder, multilingual=True))
    rig_stop(t3)
    state = {k: v.contiguous() for k, v in t3.state_dict().items()}
    save_file(state, str(folder / "t3_mtl23ls_v2.safetensors"))
    voice_encoder = VoiceEncoder()
    voice_encoder.load_state_dict(load_file(english / "ve.safetensors"))
    torch.save(voice_encoder.state_dict(), folder / "ve.pt")
    # Relative, so the pair can be built elsewhere and moved into place together (tests/weights_cache.py).
    (folder / "s3gen.safetensors").symlink_to(os.path.relpath(english / "s3gen.safetensors", folder))
    return folder


def reference_tone(pitch: float, seconds: float = 3.0, rate: int = 24_000) -> np.ndarray:
    """A voiced, vowel-like reference (harmonics of ``pitch`` with a slow vibrato)."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * pitch * (t + 0.002 * np.sin(2 * np.pi * 5 * t))
    wave = np.sum([np.sin(k * phase) / k for k in range(1, 12)], axis=0)
    return np.asarray(0.3 * wave / np.max(np.abs(wave)), dtype=np.float32)


if __name__ == "__main__":
    english = build(Path(sys.argv[1]), conds="--conds" in sys.argv[2:])
    if "--multilingual" in sys.argv:
        build_multilingual(Path(sys.argv[sys.argv.index("--multilingual") + 1]), english)
