"""XTTS v2 (coqui-tts ``Xtts``) from the folder the user filled: native cloning, streamed generation.

Folder (``DATA_DIR/models/xtts/`` or ``engines.model_dirs.xtts``): ``config.json``, ``model.pth``,
``vocab.json`` and optionally ``speakers_xtts.pth`` (the built-in speakers; without it only library voices
speak). A library voice is cloned from its reference: speaker latents computed once per reference content
and ``gpt_cond_len`` (cached). Generation streams through ``inference_stream``: audio every
``stream_chunk_size`` GPT tokens, before the sentence is finished.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Capabilities, EngineInfo, Param, SynthesisParams, Voice
from polyvox.engines.neural.compat import tolerate_torchaudio_without_native
from polyvox.engines.neural.conditioning import Reference
from polyvox.engines.neural.engine import SEED_PARAM, NeuralEngine
from polyvox.engines.neural.runtime import Placement, go_offline, weights_to_come
from polyvox.engines.neural.weights import WeightsSpec
from polyvox.engines.readiness import PackageSpec
from polyvox.errors import LanguageNotSupportedError, VoiceNotFoundError
from polyvox.language import Match, best_match

if TYPE_CHECKING:
    import torch

SAMPLE_RATE = 24_000
CONDITIONING_RATE = 22_050
"""XTTS computes speaker latents from 22.05 kHz audio."""
SPEAKERS_FILE = "speakers_xtts.pth"
STREAM_CHUNK_TOKENS = 20
"""GPT tokens per streamed piece (coqui's default: about 0.2 s of audio each)."""

# XTTS v2's languages; our codes -> the model's.
LANGUAGES = {
    "en-us": "en", "en-gb": "en", "en": "en", "es": "es", "fr": "fr", "de": "de", "it": "it", "pt": "pt",
    "pl": "pl", "tr": "tr", "ru": "ru", "nl": "nl", "cs": "cs", "ar": "ar", "zh-cn": "zh-cn", "zh": "zh-cn",
    "ja": "ja", "hu": "hu", "ko": "ko", "hi": "hi",
}  # fmt: skip

TEMPERATURE = Param("temperature", 0.01, 2.0, 0.75, description="Sampling temperature of the GPT.")
TOP_K = Param("top_k", 1, 500, 50, integer=True, description="Sample among the k likeliest tokens.")
TOP_P = Param("top_p", 0.01, 1.0, 0.85, description="Nucleus sampling mass.")
REPETITION_PENALTY = Param("repetition_penalty", 1.0, 50.0, 10.0, description="Penalty on repeated tokens.")
LENGTH_PENALTY = Param("length_penalty", -10.0, 10.0, 1.0, description="Length penalty of the GPT search.")
GPT_COND_LEN = Param(
    "gpt_cond_len", 1, 30, 6, integer=True, description="Seconds of the reference used for the GPT latents."
)


@dataclass(frozen=True, slots=True)
class SpeakerLatents:
    """What XTTS speaks with: GPT conditioning latents and the HiFi-GAN speaker embedding."""

    gpt_cond_latent: torch.Tensor
    speaker_embedding: torch.Tensor


def xtts_language(code: str | None) -> str:
    """The model's language code for one of ours (``en-us`` -> ``en``)."""
    found = best_match(code or "en-us", LANGUAGES, least=Match.BARE)
    if found is None:
        raise LanguageNotSupportedError(f"xtts does not speak {code!r}", param="language")
    return LANGUAGES[found]


def speaker_id(name: str) -> str:
    """A voice id for a built-in speaker name (``Claribel Dervla`` -> ``claribel-dervla``)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "speaker"


class XttsEngine(NeuralEngine[Any, SpeakerLatents]):
    """Coqui XTTS v2 through coqui-tts, loading ``config.json``/``model.pth``/``vocab.json`` from disk."""

    info: ClassVar[EngineInfo] = EngineInfo(
        name="xtts",
        label="XTTS v2",
        description="Coqui XTTS v2: multilingual zero-shot cloning from a few seconds of reference, "
        "streamed. Weights are the user's (Coqui Public Model License: non-commercial).",
        languages=tuple(LANGUAGES),
        sample_rate=SAMPLE_RATE,
        capabilities=Capabilities(streaming=True, cloning=True),
        speed_range=(0.5, 2.0),
        parameters=(TEMPERATURE, TOP_K, TOP_P, REPETITION_PENALTY, LENGTH_PENALTY, GPT_COND_LEN, SEED_PARAM),
        isolation="process",
    )
    requires: ClassVar[PackageSpec] = PackageSpec(("torch", "TTS", "transformers"), "xtts")
    weights: ClassVar[WeightsSpec] = WeightsSpec(
        required=("config.json", "model.pth", "vocab.json"),
        optional=(SPEAKERS_FILE,),
        source="the files of the coqui/XTTS-v2 model repository",
    )
    supports_half: ClassVar[bool] = False
    """coqui's XTTS inference is written for fp32 (its mel statistics and vocoder are float32)."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._speakers: tuple[float, dict[str, str]] | None = None  # (mtime, id -> speaker name)
        self._speakers_lock = threading.Lock()

    # -- voices --------------------------------------------------------------------------------------
    def voices(self) -> list[Voice]:
        return [
            Voice(id=vid, name=name, engine="xtts", language="en-us", languages=tuple(LANGUAGES))
            for vid, name in self._speaker_names().items()
        ]

    def _speaker_names(self) -> dict[str, str]:
        """Built-in speakers of ``speakers_xtts.pth`` (read once per file version; no model needed)."""
        path = self.folder / SPEAKERS_FILE
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return {}
        with self._speakers_lock:
            if self._speakers is None or self._speakers[0] != mtime:
                import torch

                try:
                    names = list(torch.load(path, map_location="cpu", weights_only=True))
                except Exception:  # unreadable: the load reports it; listings must not fail
                    names = []
                self._speakers = (mtime, {speaker_id(str(n)): str(n) for n in names})
            return self._speakers[1]

    # -- model ---------------------------------------------------------------------------------------
    def _load_model(self, folder: Path, placement: Placement) -> Any:
        go_offline()
        tolerate_torchaudio_without_native()
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts

        config = XttsConfig()
        config.load_json(str(folder / "config.json"))
        with weights_to_come():  # load_checkpoint loads every tensor strictly
            model = Xtts(config)
            model.load_checkpoint(config, checkpoint_dir=str(folder), eval=True, use_deepspeed=False)
        return model.to(placement.device)

    def _variant(self, params: SynthesisParams) -> str:
        return f"gpt_cond_len={self.extra(params, GPT_COND_LEN)}"

    def _condition(self, model: Any, reference: Reference, params: SynthesisParams) -> SpeakerLatents:
        import soxr
        import torch

        seconds = int(self.extra(params, GPT_COND_LEN))
        audio = soxr.resample(reference.samples, reference.sample_rate, CONDITIONING_RATE)
        tensor = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).unsqueeze(0).to(model.device)
        with torch.inference_mode():
            gpt = model.get_gpt_cond_latents(
                tensor, CONDITIONING_RATE, length=seconds, chunk_length=min(seconds, 6)
            )
            speaker = model.get_speaker_embedding(tensor, CONDITIONING_RATE)
        return SpeakerLatents(gpt, speaker)

    def _builtin(self, model: Any, voice: Voice) -> SpeakerLatents:
        name = self._speaker_names().get(voice.id)
        manager = getattr(model, "speaker_manager", None)
        if name is None or manager is None or name not in manager.speakers:
            raise VoiceNotFoundError(
                f"xtts has no built-in speaker {voice.id!r} ({SPEAKERS_FILE} lacks it): use a library voice",
                param="voice",
            )
        latents = manager.speakers[name]
        return SpeakerLatents(latents["gpt_cond_latent"], latents["speaker_embedding"])

    def _generate(
        self,
        model: Any,
        text: str,
        voice: Voice,
        conditioning: SpeakerLatents,
        params: SynthesisParams,
    ) -> Iterator[AudioChunk]:
        import torch

        latents = conditioning
        language = xtts_language(params.language or voice.language)
        options = {
            "temperature": self.extra(params, TEMPERATURE),
            "top_k": self.extra(params, TOP_K),
            "top_p": self.extra(params, TOP_P),
            "repetition_penalty": self.extra(params, REPETITION_PENALTY),
            "length_penalty": self.extra(params, LENGTH_PENALTY),
        }
        with torch.inference_mode():
            pieces = model.inference_stream(
                text,
                language,
                latents.gpt_cond_latent.to(model.device),
                latents.speaker_embedding.to(model.device),
                stream_chunk_size=STREAM_CHUNK_TOKENS,
                speed=params.speed,
                enable_text_splitting=False,
                **options,
            )
            for piece in pieces:
                samples = piece.detach().float().cpu().numpy().reshape(-1).astype(np.float32)
                if samples.size:
                    yield AudioChunk(samples=np.clip(samples, -1.0, 1.0), sample_rate=SAMPLE_RATE, text=text)
