"""StyleTTS2 from the folder the user filled, laid out as the official LibriTTS release is.

Folder (``DATA_DIR/models/styletts2/`` or ``engines.model_dirs.styletts2``): ``config.yml`` and the
second-stage checkpoint (the ``*.pth`` next to it, e.g. ``epochs_2nd_00020.pth``; the last by name when there
are several), plus what the config names, relative to the folder: ``ASR_config``/``ASR_path``, ``F0_path`` and
``PLBERT_dir`` (its ``config.yml`` and ``step_*.t7``). Paths leaving the folder are refused.

Only the ``styletts2`` package's model classes are used (``styletts2.models`` and its diffusion sampler):
never its ``tts.py``, which downloads. Text becomes espeak-ng IPA (what the LibriTTS checkpoint was trained
on), the reference's style comes from its mel spectrogram, and the style diffusion mixes it with the predicted
one (``alpha`` timbre, ``beta`` prosody).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import yaml

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Capabilities, EngineInfo, Param, SynthesisParams, Voice
from polyvox.engines.neural.conditioning import Reference
from polyvox.engines.neural.engine import SEED_PARAM, NeuralEngine
from polyvox.engines.neural.runtime import Placement
from polyvox.engines.neural.weights import WeightsSpec, WeightsStatus, missing_files, model_dir
from polyvox.engines.readiness import PackageSpec
from polyvox.errors import EngineUnavailableError, VoiceNotFoundError

if TYPE_CHECKING:
    from polyvox.config import Settings

SAMPLE_RATE = 24_000
CONFIG_FILE = "config.yml"
_TAIL_SAMPLES = 50
"""The decoder's last samples are a click (the release's own inference drops them too)."""
_MEL_MEAN, _MEL_STD = -4.0, 4.0
"""The log-mel normalisation StyleTTS2 was trained with."""

ALPHA = Param("alpha", 0.0, 1.0, 0.3, description="Timbre: 0 = the reference's, 1 = the predicted style.")
BETA = Param("beta", 0.0, 1.0, 0.7, description="Prosody: 0 = the reference's, 1 = the predicted style.")
DIFFUSION_STEPS = Param("diffusion_steps", 1, 50, 5, integer=True, description="Style diffusion steps.")
EMBEDDING_SCALE = Param("embedding_scale", 0.0, 10.0, 1.0, description="Classifier-free guidance scale.")

_PUNCTUATION = ';:,.!?¡¿—…"«»“”'
_WORDS = re.compile(f"[^\\s{_PUNCTUATION}]+|[{_PUNCTUATION}]")
_INFERENCE_MODULES = (
    "bert",
    "bert_encoder",
    "predictor",
    "decoder",
    "text_encoder",
    "predictor_encoder",
    "style_encoder",
    "diffusion",
)


@dataclass
class StyleModel:
    """The built networks and what inference needs from the config."""

    nets: Any
    sampler: Any
    to_mel: Any
    symbols: dict[str, int]
    hifigan: bool
    max_tokens: int
    device: str
    phonemizer: Any


def _inside(folder: Path, name: object) -> Path | None:
    """``folder / name`` when the name stays inside ``folder`` (no absolute path, no ``..`` out of it),
    else None; symbolic links the user made inside the folder are followed."""
    path = Path(os.path.normpath(folder / str(name)))
    return path if path.is_relative_to(Path(os.path.normpath(folder))) else None


def _plbert_checkpoint(plbert: Path) -> Path | None:
    steps = [p for p in plbert.glob("step_*.t7") if p.is_file()]
    return max(steps, key=lambda p: int(re.sub(r"\D", "", p.stem) or 0)) if steps else None


def _checkpoint(folder: Path) -> Path | None:
    files = sorted(p for p in folder.glob("*.pth") if p.is_file())
    return files[-1] if files else None


def _named_paths(folder: Path, config: dict[str, Any]) -> tuple[dict[str, Path], list[str]]:
    """The files the config names (resolved inside ``folder``) and what is missing or refused."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key in ("ASR_config", "ASR_path", "F0_path", "PLBERT_dir"):
        name = config.get(key)
        path = _inside(folder, name) if name else None
        if not name:
            missing.append(f"{CONFIG_FILE} naming {key}")
        elif path is None:
            missing.append(f"{name} (outside the folder: refused)")
        elif not (path.is_dir() if key == "PLBERT_dir" else path.is_file()):
            missing.append(str(name))
        else:
            found[key] = path
    plbert = found.get("PLBERT_dir")
    if plbert is not None:
        if not (plbert / CONFIG_FILE).is_file():
            missing.append(f"{config['PLBERT_dir']}/{CONFIG_FILE}")
        step = _plbert_checkpoint(plbert)
        if step is None:
            missing.append(f"{config['PLBERT_dir']}/step_*.t7")
        else:
            found["PLBERT_checkpoint"] = step
    checkpoint = _checkpoint(folder)
    if checkpoint is None:
        missing.append("the checkpoint *.pth")
    else:
        found["checkpoint"] = checkpoint
    return found, missing


def _read_config(path: Path) -> dict[str, Any]:
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a mapping")
    return config


def _load_state(path: Path, key: str) -> dict[str, Any]:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return dict(state[key])


def _strip_module(state: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints saved from ``DataParallel`` prefix every name with ``module.``."""
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_module(module: Any, state: dict[str, Any], what: str) -> None:
    result = module.load_state_dict(_strip_module(state), strict=False)
    if result.missing_keys:
        raise ValueError(f"{what} lacks {len(result.missing_keys)} tensors, e.g. {result.missing_keys[:3]}")


def build_networks(folder: Path) -> Any:
    """The StyleTTS2 networks described by ``folder``'s config, with the folder's weights loaded."""
    from munch import Munch
    from styletts2 import models  # the model classes only; never styletts2.tts (it downloads)
    from transformers import AlbertConfig, AlbertModel

    config = _read_config(folder / CONFIG_FILE)
    paths, missing = _named_paths(folder, config)
    if missing:
        raise EngineUnavailableError(f"styletts2's folder {folder} lacks {', '.join(missing)}")
    asr_config = _read_config(paths["ASR_config"])["model_params"]
    text_aligner = models.ASRCNN(**asr_config)
    text_aligner.load_state_dict(_load_state(paths["ASR_path"], "model"))
    pitch_extractor = models.JDCNet(num_class=1, seq_len=192)
    pitch_extractor.load_state_dict(_load_state(paths["F0_path"], "net"))
    plbert_config = _read_config(paths["PLBERT_dir"] / CONFIG_FILE)["model_params"]
    bert = AlbertModel(AlbertConfig(**plbert_config))
    encoder = {
        name.removeprefix("module.encoder."): value
        for name, value in _load_state(paths["PLBERT_checkpoint"], "net").items()
        if name.startswith("module.encoder.") and not name.endswith("position_ids")
    }
    _load_module(bert, encoder, "the PL-BERT checkpoint")
    nets = models.build_model(Munch.fromDict(config["model_params"]), text_aligner, pitch_extractor, bert)
    weights = _load_state(paths["checkpoint"], "net")
    for name in _INFERENCE_MODULES:
        if name not in weights:
            raise ValueError(f"{paths['checkpoint'].name} has no {name!r} weights")
        _load_module(nets[name], weights[name], f"{paths['checkpoint'].name}'s {name!r}")
    for name in ("mpd", "msd", "wd"):  # training-only discriminators
        nets.pop(name, None)
    for net in nets.values():
        net.eval()
    return nets, config


class StyleTTS2Engine(NeuralEngine[StyleModel, Any]):
    """StyleTTS2 (multi-speaker, zero-shot style from a reference) through the package's model classes."""

    info: ClassVar[EngineInfo] = EngineInfo(
        name="styletts2",
        label="StyleTTS2",
        description="StyleTTS2: style diffusion and adversarial training, zero-shot cloning of a "
        "reference's style. Weights are the user's.",
        languages=("en-us",),
        sample_rate=SAMPLE_RATE,
        capabilities=Capabilities(cloning=True),
        speed_range=(1.0, 1.0),
        parameters=(ALPHA, BETA, DIFFUSION_STEPS, EMBEDDING_SCALE, SEED_PARAM),
        isolation="process",
    )
    requires: ClassVar[PackageSpec] = PackageSpec(
        ("torch", "styletts2", "transformers", "munch", "einops", "phonemizer"), "styletts2"
    )
    weights: ClassVar[WeightsSpec] = WeightsSpec(
        required=(CONFIG_FILE,),
        source="the official StyleTTS2 LibriTTS release: config.yml, epochs_2nd_00020.pth and the "
        "Utils/ASR, Utils/JDC and Utils/PLBERT folders it names",
    )
    supports_half: ClassVar[bool] = False

    @classmethod
    def weights_status(cls, settings: Settings) -> WeightsStatus:
        folder = model_dir(settings, cls.info.name)
        missing = list(missing_files(folder, (CONFIG_FILE,)))
        if not missing:
            try:
                missing += _named_paths(folder, _read_config(folder / CONFIG_FILE))[1]
            except (OSError, ValueError, yaml.YAMLError):
                missing.append(f"a readable {CONFIG_FILE}")
        return WeightsStatus(cls.info.name, folder, tuple(missing), cls.weights.source)

    # -- model ---------------------------------------------------------------------------------------
    def _load_model(self, folder: Path, placement: Placement) -> StyleModel:
        from polyvox.engines.neural.compat import tolerate_torchaudio_without_native

        tolerate_torchaudio_without_native()
        import torchaudio
        from styletts2.Modules.diffusion.sampler import ADPM2Sampler, DiffusionSampler, KarrasSchedule
        from styletts2.text_utils import symbols

        nets, config = build_networks(folder)
        for net in nets.values():
            net.to(placement.device)
        spect = (config.get("preprocess_params") or {}).get("spect_params") or {}
        to_mel = torchaudio.transforms.MelSpectrogram(
            n_mels=int(config["model_params"].get("n_mels", 80)),
            n_fft=int(spect.get("n_fft", 2048)),
            win_length=int(spect.get("win_length", 1200)),
            hop_length=int(spect.get("hop_length", 300)),
        )
        sampler = DiffusionSampler(
            nets.diffusion.diffusion,
            sampler=ADPM2Sampler(),
            sigma_schedule=KarrasSchedule(sigma_min=0.0001, sigma_max=3.0, rho=9.0),
            clamp=False,
        )
        return StyleModel(
            nets=nets,
            sampler=sampler,
            to_mel=to_mel,
            symbols={s: i for i, s in enumerate(symbols)},
            hifigan=config["model_params"]["decoder"]["type"] == "hifigan",
            max_tokens=int(nets.bert.config.max_position_embeddings) - 1,
            device=placement.device,
            phonemizer=ipa_phonemizer(),
        )

    def _condition(self, model: StyleModel, reference: Reference, params: SynthesisParams) -> Any:
        """The reference's acoustic and prosodic style vectors, side by side (1 x 2·style_dim)."""
        import torch

        samples = _trim(np.asarray(reference.samples, dtype=np.float32))
        if reference.sample_rate != SAMPLE_RATE:
            import soxr

            samples = soxr.resample(samples, reference.sample_rate, SAMPLE_RATE).astype(np.float32)
        with torch.no_grad():
            mel = model.to_mel(torch.from_numpy(samples))
            mel = ((torch.log(1e-5 + mel.unsqueeze(0)) - _MEL_MEAN) / _MEL_STD).unsqueeze(1)
            mel = mel.to(model.device)
            acoustic = model.nets.style_encoder(mel)
            prosodic = model.nets.predictor_encoder(mel)
        return torch.cat([acoustic, prosodic], dim=1)

    def _builtin(self, model: StyleModel, voice: Voice) -> Any:
        raise VoiceNotFoundError(
            f"styletts2 has no built-in voice {voice.id!r}: use a library voice (its reference is the style)",
            param="voice",
        )

    def _generate(
        self, model: StyleModel, text: str, voice: Voice, conditioning: Any, params: SynthesisParams
    ) -> Iterator[AudioChunk]:
        for tokens in _token_pieces(model, phonemize(model.phonemizer, text)):
            samples = _speak(model, tokens, conditioning, params, self)
            if samples.size:
                yield AudioChunk(samples=samples, sample_rate=SAMPLE_RATE, text=text)


def ipa_phonemizer() -> Any:
    """espeak-ng (the wheel Polyvox ships) through ``phonemizer``, as the LibriTTS checkpoint was trained."""
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
    return EspeakBackend("en-us", preserve_punctuation=True, with_stress=True)


def phonemize(backend: Any, text: str) -> str:
    """IPA with stress and punctuation, words and punctuation marks separated by single spaces."""
    ipa = backend.phonemize([text], strip=True)[0]
    return " ".join(_WORDS.findall(ipa))


def _token_pieces(model: StyleModel, ipa: str) -> list[list[int]]:
    """Token ids (pad first, as in training) in pieces PL-BERT's positions can hold, split at spaces."""
    pieces: list[list[int]] = []
    current: list[int] = [0]
    for word in ipa.split(" "):
        ids = [model.symbols[c] for c in word if c in model.symbols]
        if len(current) + len(ids) + 1 > model.max_tokens and len(current) > 1:
            pieces.append(current)
            current = [0]
        current += ([model.symbols[" "]] if len(current) > 1 else []) + ids[: model.max_tokens - 1]
    if len(current) > 1:
        pieces.append(current)
    return pieces


def _speak(
    model: StyleModel, ids: list[int], reference: Any, params: SynthesisParams, engine: StyleTTS2Engine
) -> np.ndarray:
    import torch

    nets, device = model.nets, model.device
    alpha, beta = engine.extra(params, ALPHA), engine.extra(params, BETA)
    with torch.no_grad():
        tokens = torch.tensor([ids], dtype=torch.long, device=device)
        lengths = torch.tensor([len(ids)], device=device)
        mask = torch.zeros((1, len(ids)), dtype=torch.bool, device=device)  # one unpadded sequence
        t_en = nets.text_encoder(tokens, lengths, mask)
        bert = nets.bert(tokens, attention_mask=(~mask).int()).last_hidden_state
        d_en = nets.bert_encoder(bert).transpose(-1, -2)
        noise = torch.randn((1, 1, reference.shape[-1]), device=device)
        style = model.sampler(
            noise=noise,
            embedding=bert,
            embedding_scale=engine.extra(params, EMBEDDING_SCALE),
            features=reference,
            num_steps=engine.extra(params, DIFFUSION_STEPS),
        ).squeeze(1)
        half = reference.shape[-1] // 2
        timbre = alpha * style[:, :half] + (1 - alpha) * reference[:, :half]
        prosody = beta * style[:, half:] + (1 - beta) * reference[:, half:]
        d = nets.predictor.text_encoder(d_en, prosody, lengths, mask)
        x, _ = nets.predictor.lstm(d)
        durations = torch.sigmoid(nets.predictor.duration_proj(x)).sum(dim=-1)
        frames = torch.round(durations.squeeze(0)).clamp(min=1).long()
        alignment = torch.repeat_interleave(torch.eye(len(ids), device=device), frames, dim=1)
        en = d.transpose(-1, -2) @ alignment.unsqueeze(0)
        asr = t_en @ alignment.unsqueeze(0)
        if model.hifigan:  # the HiFi-GAN decoder was trained on features one frame late
            en, asr = _delay(en), _delay(asr)
        f0, n = nets.predictor.F0Ntrain(en, prosody)
        out = nets.decoder(asr, f0, n, timbre)
    samples: np.ndarray = out.squeeze().float().cpu().numpy()[:-_TAIL_SAMPLES]
    clipped: np.ndarray = np.clip(samples, -1.0, 1.0).astype(np.float32)
    return clipped


def _delay(features: Any) -> Any:
    import torch

    return torch.cat([features[:, :, :1], features[:, :, :-1]], dim=2)


def _trim(samples: np.ndarray, top_db: float = 30.0, frame: int = 2048, hop: int = 512) -> np.ndarray:
    """The reference without leading/trailing silence (frames 30 dB under the loudest)."""
    if samples.size <= frame:
        return samples
    starts = range(0, samples.size - frame + 1, hop)
    rms = np.array([np.sqrt(np.mean(samples[s : s + frame] ** 2)) for s in starts])
    loud = np.flatnonzero(20 * np.log10(np.maximum(rms, 1e-10) / max(rms.max(), 1e-10)) > -top_db)
    if loud.size == 0:
        return samples
    return samples[loud[0] * hop : loud[-1] * hop + frame]
