"""Pocket TTS (Kyutai's ``pocket-tts``) from the folder the user filled: native cloning, streamed generation.

Folder (``DATA_DIR/models/pocket/`` or ``engines.model_dirs.pocket``): ``config.yaml`` (the package's YAML
layout) whose weight and tokenizer paths (``weights_path``, or ``flow_lm.weights_path`` with
``mimi.weights_path``, and ``flow_lm.lookup_table.tokenizer_path``) name files in that folder, relative to
it; remote paths (``hf://``, ``https://``) are refused, nothing is downloaded. Optional ``voices/*.wav`` or
``voices/*.safetensors`` (exported voice states) are the built-in voices; a library voice's reference becomes
a voice state once per reference content (cached).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import yaml

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Capabilities, EngineInfo, Param, SynthesisParams, Voice
from polyvox.engines.neural.conditioning import Reference
from polyvox.engines.neural.engine import SEED_PARAM, NeuralEngine
from polyvox.engines.neural.runtime import Placement, go_offline
from polyvox.engines.neural.weights import WeightsSpec, WeightsStatus, missing_files, model_dir
from polyvox.engines.readiness import PackageSpec
from polyvox.errors import EngineUnavailableError, VoiceNotFoundError

if TYPE_CHECKING:
    from polyvox.config import Settings

SAMPLE_RATE = 24_000
CONFIG_FILE = "config.yaml"
VOICES_FOLDER = "voices"
_VOICE_SUFFIXES = (".wav", ".safetensors")

TEMPERATURE = Param("temperature", 0.0, 2.0, None, description="Sampling temperature (the YAML's default).")
EOS_THRESHOLD = Param(
    "eos_threshold", -20.0, 20.0, None, description="End-of-speech logit threshold (the YAML's default)."
)


def _named_files(config: dict[str, Any]) -> list[str]:
    """The weight and tokenizer paths a Pocket YAML names."""
    flow_lm = config.get("flow_lm") or {}
    mimi = config.get("mimi") or {}
    names = [config.get("weights_path"), flow_lm.get("weights_path"), mimi.get("weights_path")]
    names.append((flow_lm.get("lookup_table") or {}).get("tokenizer_path"))
    return [str(name) for name in names if name]


def _is_remote(name: str) -> bool:
    return "://" in name


class PocketEngine(NeuralEngine[Any, Any]):
    """Kyutai Pocket TTS through pocket-tts's ``TTSModel``, from a local YAML and its files."""

    info: ClassVar[EngineInfo] = EngineInfo(
        name="pocket",
        label="Pocket TTS",
        description="Kyutai Pocket TTS: a 100M-parameter streaming model fast on a CPU, with voice cloning "
        "from a reference. Weights are the user's.",
        languages=("en-us", "en-gb"),
        sample_rate=SAMPLE_RATE,
        capabilities=Capabilities(streaming=True, cloning=True),
        speed_range=(1.0, 1.0),
        parameters=(TEMPERATURE, EOS_THRESHOLD, SEED_PARAM),
        isolation="process",
    )
    requires: ClassVar[PackageSpec] = PackageSpec(
        ("torch", "pocket_tts", "sentencepiece", "safetensors"), "pocket"
    )
    weights: ClassVar[WeightsSpec] = WeightsSpec(
        required=(CONFIG_FILE,),
        optional=(VOICES_FOLDER,),
        source="a config.yaml in pocket-tts's layout naming model.safetensors and tokenizer.json from the "
        "kyutai/pocket-tts model repository",
    )
    supports_half: ClassVar[bool] = False
    """pocket-tts picks its own dtype per module from the YAML (``dtype``)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._states: dict[str, Any] = {}
        self._states_lock = threading.Lock()
        self._defaults: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def weights_status(cls, settings: Settings) -> WeightsStatus:
        """``config.yaml`` and every file it names (a remote path counts as missing: nothing downloads)."""
        folder = model_dir(settings, cls.info.name)
        missing = list(missing_files(folder, (CONFIG_FILE,)))
        if not missing:
            try:
                config = yaml.safe_load((folder / CONFIG_FILE).read_text(encoding="utf-8")) or {}
                named = _named_files(config) if isinstance(config, dict) else []
            except (OSError, yaml.YAMLError):
                named = []
            if not named:
                missing.append(f"{CONFIG_FILE} naming its weights_path and tokenizer_path")
            missing += [n for n in named if _is_remote(n)]
            missing += missing_files(folder, tuple(n for n in named if not _is_remote(n)))
        return WeightsStatus(cls.info.name, folder, tuple(dict.fromkeys(missing)), cls.weights.source)

    # -- voices --------------------------------------------------------------------------------------
    def voices(self) -> list[Voice]:
        return [
            Voice(id=path.stem, name=path.stem, engine="pocket", language="en-us")
            for path in self._voice_files().values()
        ]

    def _voice_files(self) -> dict[str, Path]:
        folder = self.folder / VOICES_FOLDER
        if not folder.is_dir():
            return {}
        return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in _VOICE_SUFFIXES and p.is_file()}

    # -- model ---------------------------------------------------------------------------------------
    def _load_model(self, folder: Path, placement: Placement) -> Any:
        go_offline()
        from pocket_tts import TTSModel

        config = yaml.safe_load((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        resolved = _resolve_paths(config, folder)
        with tempfile.TemporaryDirectory(prefix="polyvox-pocket-") as scratch:
            path = Path(scratch) / CONFIG_FILE
            path.write_text(yaml.safe_dump(resolved), encoding="utf-8")
            model = TTSModel.load_model(config=path)
        model = model.to(placement.device)
        # One frame per decoder call: batching whatever frames are queued depends on thread timing, and
        # so would the float rounding of the samples (same seed must give identical samples).
        model.max_decoder_frames_per_call = 1
        self._defaults = (float(model.temp), float(model.eos_threshold))
        with self._states_lock:
            self._states.clear()
        return model

    def _condition(self, model: Any, reference: Reference, params: SynthesisParams) -> Any:
        import torch

        audio = torch.from_numpy(np.ascontiguousarray(reference.samples, dtype=np.float32)).unsqueeze(0)
        if reference.sample_rate != model.sample_rate:
            import soxr

            audio = torch.from_numpy(
                soxr.resample(reference.samples, reference.sample_rate, model.sample_rate)
            )
            audio = audio.float().unsqueeze(0)
        return model.get_state_for_audio_prompt(audio)

    def _builtin(self, model: Any, voice: Voice) -> Any:
        path = self._voice_files().get(voice.id)
        if path is None:
            raise VoiceNotFoundError(
                f"pocket has no voice {voice.id!r} in {self.folder / VOICES_FOLDER}: use a library voice",
                param="voice",
            )
        with self._states_lock:
            if voice.id not in self._states:
                self._states[voice.id] = model.get_state_for_audio_prompt(path)
            return self._states[voice.id]

    def _generate(
        self, model: Any, text: str, voice: Voice, conditioning: Any, params: SynthesisParams
    ) -> Iterator[AudioChunk]:
        state = conditioning
        temperature = self.extra(params, TEMPERATURE)
        eos = self.extra(params, EOS_THRESHOLD)
        model.temp = self._defaults[0] if temperature is None else temperature
        model.eos_threshold = self._defaults[1] if eos is None else eos
        for piece in model.generate_audio_stream(state, text, copy_state=True):
            samples = piece.detach().float().cpu().numpy().reshape(-1).astype(np.float32)
            if samples.size:
                yield AudioChunk(samples=np.clip(samples, -1.0, 1.0), sample_rate=SAMPLE_RATE, text=text)


def _resolve_paths(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The YAML with its file names made absolute within ``folder`` (remote names refused)."""

    def local(name: object) -> str:
        text = str(name)
        if _is_remote(text):
            raise EngineUnavailableError(
                f"pocket's {CONFIG_FILE} names a remote file {text!r}: nothing downloads"
            )
        return str((folder / text).resolve())

    resolved = dict(config)
    for key in ("weights_path", "weights_path_without_voice_cloning"):
        if resolved.get(key):
            resolved[key] = local(resolved[key]) if key == "weights_path" else None
    flow_lm = dict(resolved.get("flow_lm") or {})
    if flow_lm.get("weights_path"):
        flow_lm["weights_path"] = local(flow_lm["weights_path"])
    table = dict(flow_lm.get("lookup_table") or {})
    if table.get("tokenizer_path"):
        table["tokenizer_path"] = local(table["tokenizer_path"])
    flow_lm["lookup_table"] = table
    resolved["flow_lm"] = flow_lm
    mimi = dict(resolved.get("mimi") or {})
    if mimi.get("weights_path"):
        mimi["weights_path"] = local(mimi["weights_path"])
    resolved["mimi"] = mimi
    return resolved
