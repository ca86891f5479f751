"""Resemble AI's Chatterbox (English) through chatterbox-light, from the folder the user filled.

Folder (``DATA_DIR/models/chatterbox/`` or ``engines.model_dirs.chatterbox``), as in the ResembleAI/chatterbox
model repository: ``ve.safetensors`` (voice encoder), ``t3_cfg.safetensors`` (the T3 text-to-speech-token
model), ``s3gen.safetensors`` (speech tokens to 24 kHz audio), ``tokenizer.json``; optionally ``conds.pt``
(the built-in voice ``default``; without it only library voices speak) and ``t3_config.json``.

``t3_config.json`` describes a T3 that is not the stock 520M Llama (a fine-tune with another depth, or the
tests' tiny checkpoint): ``{"llama": {...LlamaConfig fields...}, <T3Config field>: value, ...}``. The Llama
fields override chatterbox's ``Llama_520M`` config under a name derived from their content (chatterbox
builds its backbone from a named config), the other keys override ``T3Config`` attributes.

A library voice is cloned natively: its reference becomes chatterbox ``Conditionals`` (S3Gen reference
embedding, T3 speaker embedding and prompt tokens) once per reference content (cached by
:class:`~polyvox.engines.neural.engine.NeuralEngine`). Each segment is generated whole (T3 samples every
speech token before S3Gen decodes), so audio streams sentence by sentence through the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from polyvox.audio.chunk import AudioChunk, FloatArray
from polyvox.engines.base import Capabilities, EngineInfo, Param, SynthesisParams, Voice
from polyvox.engines.neural.compat import tolerate_torchaudio_without_native
from polyvox.engines.neural.conditioning import Reference
from polyvox.engines.neural.engine import SEED_PARAM, NeuralEngine
from polyvox.engines.neural.runtime import Placement, go_offline, weights_to_come
from polyvox.engines.neural.weights import WeightsSpec
from polyvox.engines.readiness import PackageSpec
from polyvox.errors import VoiceNotFoundError

if TYPE_CHECKING:
    from polyvox.config import Settings

SAMPLE_RATE = 24_000
"""S3Gen's output rate (and the rate it embeds references at)."""
TOKENIZER_RATE = 16_000
"""The S3 speech tokenizer and the voice encoder read 16 kHz audio."""
ENCODER_SECONDS = 6
"""Seconds of the reference the T3 prompt tokens come from (chatterbox's ``ENC_COND_LEN``)."""
DECODER_SECONDS = 10
"""Seconds of the reference S3Gen is conditioned on (chatterbox's ``DEC_COND_LEN``)."""
BUILTIN_CONDS = "conds.pt"
T3_CONFIG_FILE = "t3_config.json"
DEFAULT_VOICE = "default"
LANGUAGES = ("en-us", "en-gb", "en")

EXAGGERATION = Param(
    "exaggeration", 0.25, 2.0, 0.5, description="Emotion exaggeration (0.5 neutral; higher is more intense)."
)
CFG_WEIGHT = Param(
    "cfg_weight", 0.0, 1.0, 0.5, description="Classifier-free guidance weight (lower: slower, calmer pacing)."
)
TEMPERATURE = Param("temperature", 0.05, 5.0, 0.8, description="Sampling temperature of T3.")
FLOW_STEPS = Param(
    "flow_steps",
    1,
    10,
    10,
    integer=True,
    description="S3Gen flow-matching steps (fewer: faster decoding, coarser audio; chatterbox uses 10).",
)
MAX_SPEECH_TOKENS = 1000
"""T3 stops at its stop token or after this many speech tokens (40 s), as chatterbox's ``generate``."""
REPETITION_PENALTY, MIN_P, TOP_P = 1.2, 0.05, 1.0
"""chatterbox's ``generate`` defaults for the T3 sampler."""


def t3_hparams(folder: Path, *, multilingual: bool = False) -> Any:
    """The ``T3Config`` of ``folder``: chatterbox's English (or multilingual) defaults, overridden by
    ``t3_config.json``."""
    tolerate_torchaudio_without_native()  # importing chatterbox imports torchaudio
    from chatterbox.models.t3.llama_configs import LLAMA_CONFIGS
    from chatterbox.models.t3.modules.t3_config import T3Config

    hp = T3Config.multilingual() if multilingual else T3Config.english_only()
    path = folder / T3_CONFIG_FILE
    if not path.is_file():
        return hp
    overrides = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(overrides, dict):
        raise ValueError(f"{path} must hold a JSON object")
    llama = overrides.pop("llama", None)
    if llama is not None:
        if not isinstance(llama, dict):
            raise ValueError(f"{path}: 'llama' must be an object of LlamaConfig fields")
        config = {**LLAMA_CONFIGS[hp.llama_config_name], **llama}
        name = "polyvox-" + hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        LLAMA_CONFIGS.setdefault(name, config)  # chatterbox builds T3's backbone from a named config
        hp.llama_config_name = name
    for key, value in overrides.items():
        if key.startswith("_") or not hasattr(hp, key):
            raise ValueError(f"{path}: {key!r} is not a T3Config field")
        setattr(hp, key, value)
    return hp


def read_state(path: Path) -> Any:
    """The tensors of a ``.safetensors`` file, or of a ``.pt`` state dict (read with ``weights_only``)."""
    if path.suffix == ".pt":
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    from safetensors.torch import load_file

    return load_file(path)


def load_s3gen(path: Path) -> Any:
    """Chatterbox's S3Gen with the weights of ``path`` (on the CPU, in eval mode)."""
    go_offline()
    tolerate_torchaudio_without_native()
    from chatterbox.models.s3gen import S3Gen

    with weights_to_come():  # every tensor but the two rebuilt below is checked to come from the file
        s3gen = S3Gen()
    # chatterbox loads S3Gen non-strictly (the tokenizer's mel filters and window are rebuilt), so check
    # what strict=False would let through: a file of another model must not load as random weights.
    result = s3gen.load_state_dict(read_state(path), strict=False)
    rebuilt = ("tokenizer._mel_filters", "tokenizer.window")
    missing = [key for key in result.missing_keys if key not in rebuilt]
    if missing or result.unexpected_keys:
        example = (missing or result.unexpected_keys)[0]
        raise ValueError(
            f"{path.name} does not match chatterbox's S3Gen ({len(missing)} missing, "
            f"{len(result.unexpected_keys)} unexpected tensors, e.g. {example})"
        )
    return s3gen.eval()


def load_parts(
    folder: Path,
    files: tuple[Path, Path, Path],
    conditionals: Any,
    device: str,
    *,
    multilingual: bool = False,
) -> tuple[Any, Any, Any, Any]:
    """Chatterbox's voice encoder, T3 and S3Gen from ``files`` (in that order) and the folder's built-in
    conditionals (``conditionals``: the model's ``Conditionals`` class) if it has them, on ``device`` in
    eval mode: the English and the multilingual engine assemble their model from the same parts."""
    import torch
    from chatterbox.models.t3 import T3
    from chatterbox.models.voice_encoder import VoiceEncoder

    ve_file, t3_file, s3gen_file = files
    with weights_to_come():  # both are loaded strictly below
        voice_encoder = VoiceEncoder()
        t3 = T3(t3_hparams(folder, multilingual=multilingual))
    voice_encoder.load_state_dict(read_state(ve_file))
    state = read_state(t3_file)
    t3.load_state_dict(state["model"][0] if "model" in state else state)
    s3gen = load_s3gen(s3gen_file)
    conds = None
    if (folder / BUILTIN_CONDS).is_file():
        conds = conditionals.load(folder / BUILTIN_CONDS, map_location=torch.device("cpu")).to(device)
    for module in (voice_encoder, t3, s3gen):
        module.to(device).eval()
    return voice_encoder, t3, s3gen, conds


def load_chatterbox(folder: Path, device: str) -> Any:
    """A ``ChatterboxTTS`` from ``folder`` (the layout of the module docstring) on ``device``."""
    go_offline()
    tolerate_torchaudio_without_native()
    os.environ.setdefault("TQDM_DISABLE", "1")  # T3 draws a progress bar per sentence otherwise
    from chatterbox.models.tokenizers import EnTokenizer
    from chatterbox.tts import ChatterboxTTS, Conditionals

    files = (folder / "ve.safetensors", folder / "t3_cfg.safetensors", folder / "s3gen.safetensors")
    voice_encoder, t3, s3gen, conds = load_parts(folder, files, Conditionals, device)
    tokenizer = EnTokenizer(str(folder / "tokenizer.json"))
    return ChatterboxTTS(t3, s3gen, voice_encoder, tokenizer, device, conds=conds)


def conditionals_from(model: Any, samples: np.ndarray, rate: int) -> Any:
    """Chatterbox ``Conditionals`` of a reference recording (``samples`` float32 mono at ``rate``)."""
    import soxr
    import torch
    from chatterbox.models.t3.modules.cond_enc import T3Cond
    from chatterbox.tts import Conditionals

    at_24k = soxr.resample(samples, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else samples
    at_16k = soxr.resample(at_24k, SAMPLE_RATE, TOKENIZER_RATE)
    at_24k = np.ascontiguousarray(at_24k[: DECODER_SECONDS * SAMPLE_RATE], dtype=np.float32)
    at_16k = np.ascontiguousarray(at_16k, dtype=np.float32)
    with torch.inference_mode():
        s3gen_ref = model.s3gen.embed_ref(at_24k, SAMPLE_RATE, device=model.device)
        prompt = None
        if length := model.t3.hp.speech_cond_prompt_len:
            tokens, _ = model.s3gen.tokenizer.forward(
                [at_16k[: ENCODER_SECONDS * TOKENIZER_RATE]], max_len=length
            )
            prompt = tokens.reshape(1, -1).to(model.device)
        embedding = model.ve.embeds_from_wavs([at_16k], sample_rate=TOKENIZER_RATE)
        speaker = torch.from_numpy(embedding).mean(dim=0, keepdim=True).to(model.device)
    t3_cond = T3Cond(
        speaker_emb=speaker, cond_prompt_speech_tokens=prompt, emotion_adv=0.5 * torch.ones(1, 1, 1)
    )
    return Conditionals(t3_cond.to(device=model.device), s3gen_ref)


@dataclass(frozen=True, slots=True)
class Options:
    """One request's generation settings."""

    exaggeration: float = 0.5
    cfg_weight: float = 0.5
    temperature: float = 0.8
    flow_steps: int = 10


def speak(model: Any, conds: Any, text: str, options: Options, language_id: str | None = None) -> FloatArray:
    """Chatterbox's generation: T3 samples speech tokens, S3Gen turns them into 24 kHz audio.

    The steps of ``ChatterboxTTS.generate`` (same normalization, guidance, sampling settings and token
    limit), with the conditioning passed in rather than kept on the model and S3Gen's flow-matching steps
    as an option. With ``language_id`` (the multilingual model), those of
    ``ChatterboxMultilingualTTS.generate``: its normalization, its tokenizer's language tag and
    per-language preprocessing, and the last speech token's audio dropped (chatterbox: ~40 ms of noise).
    """
    import torch
    import torch.nn.functional as F
    from chatterbox.models.s3tokenizer import S3_TOKEN_RATE, SPEECH_VOCAB_SIZE
    from chatterbox.models.t3.modules.cond_enc import T3Cond

    if language_id is None:
        from chatterbox.tts import punc_norm

        tokens = model.tokenizer.text_to_tokens(punc_norm(text))
    else:
        from chatterbox.mtl_tts import punc_norm as mtl_punc_norm

        tokens = model.tokenizer.text_to_tokens(mtl_punc_norm(text), language_id=language_id)

    hp = model.t3.hp
    t3_cond = T3Cond(
        speaker_emb=conds.t3.speaker_emb,
        cond_prompt_speech_tokens=conds.t3.cond_prompt_speech_tokens,
        emotion_adv=options.exaggeration * torch.ones(1, 1, 1),
    ).to(device=model.device)
    tokens = tokens.to(model.device)
    # T3's sampler always runs a guided pair (its start embedding is batched by two), so the pair is built
    # for cfg_weight 0 too, where the unconditioned row simply has no weight.
    tokens = torch.cat([tokens, tokens], dim=0)
    tokens = F.pad(F.pad(tokens, (1, 0), value=hp.start_text_token), (0, 1), value=hp.stop_text_token)
    with torch.inference_mode():
        speech = model.t3.inference(
            t3_cond=t3_cond,
            text_tokens=tokens,
            max_new_tokens=MAX_SPEECH_TOKENS,
            temperature=options.temperature,
            cfg_weight=options.cfg_weight,
            repetition_penalty=REPETITION_PENALTY,
            min_p=MIN_P,
            top_p=TOP_P,
        )[0]
        speech = speech[speech < SPEECH_VOCAB_SIZE].to(model.device)  # drop start/stop tokens
        if speech.numel() == 0:
            return np.zeros(0, dtype=np.float32)
        wav, _ = model.s3gen.inference(
            speech_tokens=speech, ref_dict=dict(conds.gen), n_cfm_timesteps=options.flow_steps
        )
    samples = audio_samples(wav)
    if language_id is not None:
        samples = samples[: max(1, speech.numel() - 1) * (SAMPLE_RATE // S3_TOKEN_RATE)]
    return samples


def audio_samples(wav: Any) -> FloatArray:
    """S3Gen's output tensor as float32 samples in [-1, 1] (random or broken weights can give NaN)."""
    samples = np.nan_to_num(wav.detach().float().cpu().numpy().reshape(-1))
    clipped: FloatArray = np.clip(samples, -1.0, 1.0).astype(np.float32)
    return clipped


class ChatterboxEngine(NeuralEngine[Any, Any]):
    """Chatterbox (English): zero-shot cloning from a library voice, emotion exaggeration, CFG pacing."""

    info: ClassVar[EngineInfo] = EngineInfo(
        name="chatterbox",
        label="Chatterbox",
        description="Resemble AI's Chatterbox: English zero-shot cloning with emotion exaggeration. "
        "Weights are the user's (MIT).",
        languages=LANGUAGES,
        sample_rate=SAMPLE_RATE,
        capabilities=Capabilities(streaming=True, cloning=True),
        speed_range=(1.0, 1.0),
        parameters=(EXAGGERATION, CFG_WEIGHT, TEMPERATURE, FLOW_STEPS, SEED_PARAM),
        isolation="process",
    )
    requires: ClassVar[PackageSpec] = PackageSpec(
        ("torch", "chatterbox", "transformers", "safetensors"), "chatterbox"
    )
    weights: ClassVar[WeightsSpec] = WeightsSpec(
        required=("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json"),
        optional=(BUILTIN_CONDS, T3_CONFIG_FILE),
        source="the English files of the ResembleAI/chatterbox model repository",
    )
    supports_half: ClassVar[bool] = False
    """chatterbox's T3 sampling and S3Gen run in float32 (its references are cast to the model's dtype)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)

    def voices(self) -> list[Voice]:
        if not (self.folder / BUILTIN_CONDS).is_file():
            return []
        return [Voice(id=DEFAULT_VOICE, name="Chatterbox default", engine="chatterbox", language="en-us")]

    def _load_model(self, folder: Path, placement: Placement) -> Any:
        return load_chatterbox(folder, placement.device)

    def _condition(self, model: Any, reference: Reference, params: SynthesisParams) -> Any:
        return conditionals_from(model, reference.samples, reference.sample_rate)

    def _builtin(self, model: Any, voice: Voice) -> Any:
        if model.conds is None or voice.id != DEFAULT_VOICE:
            raise VoiceNotFoundError(
                f"{self.info.name} has no built-in voice {voice.id!r} (its folder has no {BUILTIN_CONDS}): "
                "use a library voice",
                param="voice",
            )
        return model.conds

    def _generate(
        self, model: Any, text: str, voice: Voice, conditioning: Any, params: SynthesisParams
    ) -> Iterator[AudioChunk]:
        options = Options(
            exaggeration=self.extra(params, EXAGGERATION),
            cfg_weight=self.extra(params, CFG_WEIGHT),
            temperature=self.extra(params, TEMPERATURE),
            flow_steps=self.extra(params, FLOW_STEPS),
        )
        samples = speak(model, conditioning, text, options, self._language_id(params, voice))
        if samples.size:
            yield AudioChunk(samples=samples, sample_rate=SAMPLE_RATE, text=text)

    def _language_id(self, params: SynthesisParams, voice: Voice) -> str | None:
        """chatterbox's ``language_id`` of a request (None: the English model, which has none)."""
        return None
