"""Where each neural engine's published weights are: repository, pinned revision, files, size and licence.

``polyvox models pull ENGINE`` (:mod:`polyvox.engines.neural.pull`) fetches exactly these files from the
Hugging Face hub (or the mirror ``HF_ENDPOINT`` names) into the engine's folder. Revisions are pinned so a
pull gets the files this version of Polyvox was written for; each file is verified against the size and hash
the hub announces for it. Nothing here is used while serving: serving never downloads.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True, slots=True)
class HubFile:
    """One file of a hub repository, and the name it gets in the engine's folder."""

    repo: str
    revision: str
    path: str
    name: str = ""
    """Its name in the engine's folder (default: the file name of ``path``)."""

    @property
    def local_name(self) -> str:
        return self.name or self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Licence:
    """The weights' licence, and whether a user must accept it before a pull (restricted use)."""

    name: str
    url: str
    must_accept: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class WeightsSource:
    """An engine's published weights."""

    engine: str
    files: tuple[HubFile, ...]
    licence: Licence
    size_bytes: int
    """The approximate download, for people deciding (the exact sizes come from the hub at pull time)."""
    gated: bool = False
    """A repository that asks users to accept its terms on the hub first (then ``HF_TOKEN`` is needed)."""
    finish: Callable[[Path], None] | None = field(default=None, compare=False)
    """Writes files the engine reads that no repository holds (Pocket's ``config.yaml``), into the staged
    folder before it is moved into place."""
    into_voices: bool = False
    """Voice files: they go to the voices folder (``POLYVOX_VOICES_DIR``), not an engine's folder."""
    asr_model: str = ""
    """A Whisper model for speech recognition: its files go to ``asr.models_dir`` in a folder of this name."""


def _pocket_config(folder: Path) -> None:
    """Pocket's ``config.yaml``: the package's ``english.yaml``, naming the pulled files by relative path."""
    shipped = importlib.resources.files("pocket_tts") / "config" / "english.yaml"
    config = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    config.pop("weights_path_without_voice_cloning", None)
    config["weights_path"] = "model.safetensors"
    config["flow_lm"]["lookup_table"]["tokenizer_path"] = "tokenizer.json"
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


_XTTS = "coqui/XTTS-v2"
_XTTS_REVISION = "v2.0.2"
_CHATTERBOX = "ResembleAI/chatterbox"
_CHATTERBOX_REVISION = "5bb1f6ee58e50c3b8d408bc82a6d3740c2db6e18"
_MIT = Licence("MIT", "https://huggingface.co/ResembleAI/chatterbox")

SOURCES: dict[str, WeightsSource] = {
    "xtts": WeightsSource(
        "xtts",
        tuple(
            HubFile(_XTTS, _XTTS_REVISION, name)
            for name in ("config.json", "model.pth", "vocab.json", "speakers_xtts.pth")
        ),
        Licence(
            "Coqui Public Model License 1.0.0",
            "https://coqui.ai/cpml",
            must_accept=True,
            note="non-commercial use only",
        ),
        size_bytes=1_900_000_000,
    ),
    "chatterbox": WeightsSource(
        "chatterbox",
        tuple(
            HubFile(_CHATTERBOX, _CHATTERBOX_REVISION, name)
            for name in (
                "ve.safetensors",
                "t3_cfg.safetensors",
                "s3gen.safetensors",
                "tokenizer.json",
                "conds.pt",
            )
        ),
        _MIT,
        size_bytes=3_200_000_000,
    ),
    "chatterbox-multilingual": WeightsSource(
        "chatterbox-multilingual",
        tuple(
            HubFile(_CHATTERBOX, _CHATTERBOX_REVISION, name)
            for name in (
                "t3_mtl23ls_v3.safetensors",
                "grapheme_mtl_merged_expanded_v1.json",
                "Cangjie5_TC.json",
                "ve.safetensors",
                "s3gen.safetensors",
                "conds.pt",
            )
        ),
        _MIT,
        size_bytes=3_300_000_000,
    ),
    "pocket": WeightsSource(
        "pocket",
        (
            # The revisions pocket-tts 4.0.1's english.yaml names.
            HubFile(
                "kyutai/pocket-tts",
                "db04f0e653473e5c7333c69686ac92b7460b0c1d",
                "languages/english/model.safetensors",
            ),
            HubFile(
                "kyutai/pocket-tts-without-voice-cloning",
                "00eac05ed3d16bdc3f6b5d598874019c34a89214",
                "languages/english/tokenizer.json",
            ),
        ),
        Licence(
            "CC BY 4.0",
            "https://huggingface.co/kyutai/pocket-tts",
            note="Kyutai's terms forbid cloning a voice without its owner's consent",
        ),
        size_bytes=240_000_000,
        gated=True,
        finish=_pocket_config,
    ),
}
"""The engines a pull knows. StyleTTS2 is not among them: its release needs files of the StyleTTS2 project's
source repository (``Utils/``) besides the hub's, which stay a manual step (README, StyleTTS2)."""


_PIPER_VOICES = ("rhasspy/piper-voices", "main")
_KOKORO_VOICES = ("onnx-community/Kokoro-82M-v1.0-ONNX", "main")
KOKORO_ENGLISH = (
    "af_heart", "af_bella", "af_nicole", "af_sarah", "af_sky", "am_adam", "am_michael", "am_eric",
    "bf_emma", "bf_isabella", "bm_george", "bm_lewis",
)  # fmt: skip
"""Kokoro's English voices (``kokoro/english``): enough for OpenAI's names to map to distinct voices."""


def voice_source(spec: str) -> WeightsSource | None:
    """Voice files for ``piper/<voice id>`` (e.g. ``piper/en_GB-alan-medium``), ``kokoro/<voice>`` (a raw
    float32 ``.bin`` style vector, e.g. ``kokoro/af_heart``) or ``kokoro/english`` (its English voices)."""
    engine, _, name = spec.partition("/")
    if engine == "piper" and name.count("-") == 2:
        locale, speaker, quality = name.split("-")
        folder = f"{locale.split('_')[0]}/{locale}/{speaker}/{quality}/{name}"
        files = tuple(HubFile(*_PIPER_VOICES, f"{folder}{suffix}") for suffix in (".onnx", ".onnx.json"))
        licence = Licence("per voice (its MODEL_CARD)", f"https://huggingface.co/{_PIPER_VOICES[0]}")
        return WeightsSource(spec, files, licence, size_bytes=63_000_000, into_voices=True)
    if engine == "kokoro" and name:
        names = KOKORO_ENGLISH if name == "english" else (name,)
        files = tuple(HubFile(*_KOKORO_VOICES, f"voices/{voice}.bin") for voice in names)
        licence = Licence("Apache-2.0", f"https://huggingface.co/{_KOKORO_VOICES[0]}")
        return WeightsSource(spec, files, licence, size_bytes=522_240 * len(names), into_voices=True)
    return None


WHISPER_SIZES = {"tiny": 75_000_000, "base": 145_000_000, "small": 484_000_000, "medium": 1_530_000_000}
"""Multilingual Whisper models as CTranslate2 files (Systran's conversions) and their download sizes."""


def whisper_source(spec: str) -> WeightsSource | None:
    """``whisper/<size>``: the multilingual Whisper model that translations (and other languages) need.

    Pinned to the repositories' ``main`` as the voice files are; each file is still verified against the
    hash the hub announces."""
    kind, _, size = spec.partition("/")
    if kind != "whisper" or size not in WHISPER_SIZES:
        return None
    repo = f"Systran/faster-whisper-{size}"
    names = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
    files = tuple(HubFile(repo, "main", name) for name in names)
    licence = Licence("MIT", f"https://huggingface.co/{repo}")
    return WeightsSource(spec, files, licence, size_bytes=WHISPER_SIZES[size], asr_model=size)


def source_of(name: str) -> WeightsSource | None:
    """An engine's weights (``xtts``), voice files (``piper/<id>``, ``kokoro/<voice>``) or a Whisper model
    (``whisper/base``)."""
    return SOURCES.get(name) or voice_source(name) or whisper_source(name)
