"""Tiny, randomly initialised checkpoints of the REAL neural architectures, in the layout users put on disk.

These make contract tests possible without weights (none may be downloaded): the same loader a user's folder
goes through reads them. They say nothing about quality; the audio they produce is noise.

* XTTS v2: ``XttsArgs``/``XttsConfig`` with a 1-layer, 64-channel, 2-head GPT (``decoder_input_dim`` =
  channels), a BPE ``vocab.json`` built with ``tokenizers``, ``gpt_max_audio_tokens`` capped (a random GPT
  never emits its stop token), ``model.pth`` as coqui saves it, and ``speakers_xtts.pth`` with two speakers.
  The HiFi-GAN decoder and speaker encoder keep their real sizes (~90 MB).
* Pocket TTS: the wheel's English YAML with small sizes, a sentencepiece tokenizer trained on the spot,
  ``model.safetensors`` of the randomly initialised model and a ``config.yaml`` naming both, plus one
  built-in voice in ``voices/``.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import numpy as np

from polyvox.engines.neural.compat import tolerate_torchaudio_without_native
from polyvox.engines.neural.runtime import go_offline

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "hello world this is a tiny test model",
    "speech synthesis contract tests use random weights",
    "one two three four five six seven eight nine ten",
    "she sells sea shells by the sea shore",
]
XTTS_SPEAKERS = ("Ada Random", "Bob Random")
XTTS_MAX_AUDIO_TOKENS = 26
"""A random GPT never emits its stop token: this caps each sentence (two streamed pieces of 20 tokens)."""
XTTS_LANGUAGES = ["en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh-cn", "hu", "ko",
                  "ja", "hi"]  # fmt: skip


XTTS_TINY: dict[str, Any] = {
    "gpt_layers": 1, "gpt_n_model_channels": 64, "gpt_n_heads": 2, "decoder_input_dim": 64,
    "gpt_max_audio_tokens": XTTS_MAX_AUDIO_TOKENS, "gpt_max_text_tokens": 200,
}  # fmt: skip
"""The sizes the tests shrink (``XttsArgs``' own defaults are the published v2 sizes)."""
XTTS_V2: dict[str, Any] = {
    "gpt_max_prompt_tokens": 70, "gpt_num_audio_tokens": 1026, "gpt_start_audio_token": 1024,
    "gpt_stop_audio_token": 1025, "gpt_use_masking_gt_prompt_approach": True,
    "gpt_use_perceiver_resampler": True,
}  # fmt: skip
"""Where coqui/XTTS-v2's config.json departs from ``XttsArgs``' defaults (its 1026-code DVAE, perceiver)."""


def _bpe_vocab(path: Path, size: int | None = None) -> None:
    """A BPE vocabulary with XTTS's special tokens (padded with unused added tokens up to ``size``)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]", *(f"[{code}]" for code in XTTS_LANGUAGES)]
    trainer = trainers.BpeTrainer(vocab_size=256, special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator([*TEXTS, "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"], trainer)
    if size is not None:  # the published vocab.json's length sizes the GPT's text embedding
        tokenizer.add_tokens([f"[unused{i}]" for i in range(size - tokenizer.get_vocab_size())])
    tokenizer.save(str(path))


def build_xtts(
    folder: Path, seed: int = 0, *, sizes: dict[str, Any] = XTTS_TINY, vocab_size: int | None = None
) -> Path:
    """Write config.json, model.pth, vocab.json and speakers_xtts.pth of an XTTS v2 into ``folder``: tiny
    unless ``sizes`` says otherwise (``{}``: ``XttsArgs``' defaults, the published size)."""
    go_offline()
    tolerate_torchaudio_without_native()
    import torch
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    _bpe_vocab(folder / "vocab.json", vocab_size)
    args = XttsArgs(**{**XTTS_V2, **sizes})
    config = XttsConfig(model_args=args, languages=XTTS_LANGUAGES)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(folder / "vocab.json"))
    model.init_models()
    model.eval()
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    speakers: dict[str, Any] = {}
    generator = np.random.default_rng(seed)
    for name in XTTS_SPEAKERS:
        audio = torch.from_numpy(generator.standard_normal(22_050 * 3).astype(np.float32) * 0.1).unsqueeze(0)
        with torch.inference_mode():
            gpt = model.get_gpt_cond_latents(audio, 22_050, length=3, chunk_length=3)
            speaker = model.get_speaker_embedding(audio, 22_050)
        speakers[name] = {"gpt_cond_latent": gpt.clone(), "speaker_embedding": speaker.clone()}
    torch.save(speakers, folder / "speakers_xtts.pth")
    return folder


def _sentencepiece(path_prefix: Path) -> int:
    import sentencepiece

    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(TEXTS * 20),
        model_prefix=str(path_prefix),
        vocab_size=64,
        model_type="bpe",
        character_coverage=1.0,
        minloglevel=2,
    )
    return 64


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def build_pocket(folder: Path, seed: int = 0, *, full_size: bool = False) -> Path:
    """Write config.yaml, model.safetensors, tokenizer.model and voices/random.wav of a tiny Pocket TTS, or
    with ``full_size`` the wheel's ``english.yaml`` as it is, with a 4,000-entry ``tokenizer.json``."""
    go_offline()
    import importlib.resources

    import safetensors.torch
    import torch
    import yaml
    from pocket_tts import TTSModel

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shipped = importlib.resources.files("pocket_tts") / "config" / "english.yaml"
    config = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    for key in ("weights_path", "weights_path_without_voice_cloning"):
        config.pop(key, None)
    flow_lm = config["flow_lm"]
    if full_size:  # the published tokenizer.json's format and length (english.yaml's n_bins)
        _bpe_vocab(folder / "tokenizer.json", flow_lm["lookup_table"]["n_bins"])
        flow_lm["lookup_table"].update(tokenizer="tokenizers", tokenizer_path="tokenizer.json")
    else:
        n_bins = _sentencepiece(folder / "tokenizer")
        flow_lm["lookup_table"].update(tokenizer="sentencepiece", tokenizer_path="tokenizer.model")
        flow_lm["flow"] = {"depth": 1, "dim": 32}
        flow_lm["transformer"].update(d_model=64, num_heads=2, num_layers=1, hidden_scale=2)
        flow_lm["lookup_table"].update(dim=64, n_bins=n_bins)
        mimi = config["mimi"]
        mimi["seanet"].update(n_filters=8)
        mimi["transformer"].update(num_heads=2, num_layers=1, dim_feedforward=64)
    scratch = folder / "build.yaml"
    resolved = yaml.safe_load(yaml.safe_dump(config))
    table = resolved["flow_lm"]["lookup_table"]
    table["tokenizer_path"] = str(folder / table["tokenizer_path"])
    scratch.write_text(yaml.safe_dump(resolved), encoding="utf-8")
    model = TTSModel.load_model(config=scratch)
    scratch.unlink()
    state = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, str(folder / "model.safetensors"))
    config["weights_path"] = "model.safetensors"
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    voices = folder / "voices"
    voices.mkdir(exist_ok=True)
    tone = 0.3 * np.sin(2 * np.pi * 180 * np.arange(24_000 * 2) / 24_000).astype(np.float32)
    (voices / "random.wav").write_bytes(_wav_bytes(tone, 24_000))
    return folder


STYLETTS2_MODEL_PARAMS: dict[str, Any] = {
    "multispeaker": True, "dim_in": 8, "hidden_dim": 512, "max_conv_dim": 16, "n_layer": 1, "n_mels": 80,
    "n_token": 178, "max_dur": 4, "style_dim": 16, "dropout": 0.2,
    "decoder": {
        "type": "hifigan", "resblock_kernel_sizes": [3], "upsample_rates": [10, 5, 3, 2],
        "upsample_initial_channel": 512, "resblock_dilation_sizes": [[1, 3, 5]],
        "upsample_kernel_sizes": [20, 10, 6, 4],
    },
    "slm": {"model": "microsoft/wavlm-base-plus", "sr": 16000, "hidden": 16, "nlayers": 1,
            "initial_channel": 8},
    "diffusion": {
        "embedding_mask_proba": 0.1,
        "transformer": {"num_layers": 1, "num_heads": 2, "head_features": 8, "multiplier": 2},
        "dist": {"sigma_data": 0.2, "estimate_sigma_data": True, "mean": -3.0, "std": 1.0},
    },
}  # fmt: skip
"""The LibriTTS config.yml's model_params, shrunk (the HiFi-GAN decoder needs hidden_dim and
upsample_initial_channel 512; max_dur 4 keeps a random duration predictor near 2 frames, 25 ms, a phoneme)."""
STYLETTS2_PLBERT: dict[str, Any] = {
    "vocab_size": 178, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32,
    "max_position_embeddings": 512, "num_hidden_layers": 1, "embedding_size": 16, "dropout": 0.1,
}  # fmt: skip
STYLETTS2_ASR = {"input_dim": 80, "hidden_dim": 16, "n_token": 178, "token_embedding_dim": 16}
STYLETTS2_CHECKPOINT = "epochs_2nd_00020.pth"


def settle_spectral_norms(module: Any, iterations: int = 30) -> None:
    """Run the power iterations training would have: a never-iterated spectral norm divides by a tiny
    sigma, and at the published width the style encoder's output overflows (NaN durations)."""
    import torch
    from torch.nn.utils.spectral_norm import SpectralNorm

    with torch.no_grad():
        for sub in module.modules():
            for hook in list(sub._forward_pre_hooks.values()):
                if isinstance(hook, SpectralNorm):
                    for _ in range(iterations):
                        hook.compute_weight(sub, do_power_iteration=True)


def build_styletts2(
    folder: Path,
    seed: int = 0,
    *,
    model_params: dict[str, Any] = STYLETTS2_MODEL_PARAMS,
    plbert: dict[str, Any] = STYLETTS2_PLBERT,
    asr: dict[str, Any] = STYLETTS2_ASR,
    settle: bool = False,
) -> Path:
    """Write a StyleTTS2 (tiny unless sizes are given) in the LibriTTS release's layout: config.yml,
    epochs_2nd_00020.pth and Utils/ASR (config.yml, epoch_00080.pth), Utils/JDC/bst.t7, Utils/PLBERT
    (config.yml, step_1000000.t7), each file holding what the release's does (state dicts under
    'net'/'model', DataParallel names)."""
    go_offline()
    tolerate_torchaudio_without_native()
    import torch
    import yaml
    from munch import Munch
    from styletts2 import models
    from transformers import AlbertConfig, AlbertModel

    torch.manual_seed(seed)
    utils = folder / "Utils"
    for sub in ("ASR", "JDC", "PLBERT"):
        (utils / sub).mkdir(parents=True, exist_ok=True)
    (utils / "ASR" / "config.yml").write_text(yaml.safe_dump({"model_params": asr}))
    aligner = models.ASRCNN(**asr)
    torch.save({"model": aligner.state_dict(), "epoch": 80}, utils / "ASR" / "epoch_00080.pth")
    pitch = models.JDCNet(num_class=1, seq_len=192)
    torch.save({"net": pitch.state_dict()}, utils / "JDC" / "bst.t7")
    (utils / "PLBERT" / "config.yml").write_text(yaml.safe_dump({"model_params": plbert}))
    bert = AlbertModel(AlbertConfig(**plbert))
    encoder = {f"module.encoder.{k}": v for k, v in bert.state_dict().items()}
    torch.save({"net": encoder, "step": 1_000_000}, utils / "PLBERT" / "step_1000000.t7")
    nets = models.build_model(Munch.fromDict(model_params), aligner, pitch, bert)
    if settle:  # published widths: keep the random model's scales those of a trained one
        for net in nets.values():
            settle_spectral_norms(net)
        with torch.no_grad():  # ~6 frames (75 ms) a phoneme, as speech, not half of max_dur
            projection = nets.predictor.duration_proj.linear_layer
            projection.weight.mul_(0.01)
            projection.bias.fill_(float(np.log(6 / (projection.out_features - 6))))
    saved = {
        name: {f"module.{k}": v for k, v in net.state_dict().items()}
        for name, net in nets.items()
        if name not in ("mpd", "msd", "wd")  # discriminators: training only, left out to keep it small
    }
    torch.save({"net": saved, "epoch": 20, "iters": 0}, folder / STYLETTS2_CHECKPOINT)
    config = {
        "log_dir": "Models/LibriTTS",
        "F0_path": "Utils/JDC/bst.t7",
        "ASR_config": "Utils/ASR/config.yml",
        "ASR_path": "Utils/ASR/epoch_00080.pth",
        "PLBERT_dir": "Utils/PLBERT/",
        "preprocess_params": {
            "sr": 24000,
            "spect_params": {"n_fft": 2048, "win_length": 1200, "hop_length": 300},
        },
        "model_params": model_params,
    }
    (folder / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder
