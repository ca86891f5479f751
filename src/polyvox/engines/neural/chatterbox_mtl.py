"""Resemble AI's multilingual Chatterbox (23 languages) through chatterbox-light, from the user's folder.

Folder (``DATA_DIR/models/chatterbox-multilingual/`` or ``engines.model_dirs["chatterbox-multilingual"]``;
the whole ResembleAI/chatterbox model repository may be one folder for both Chatterbox engines), the files
``ChatterboxMultilingualTTS.from_pretrained`` fetches: ``t3_mtl23ls_v2.safetensors`` or
``t3_mtl23ls_v3.safetensors`` (v2 when both are there: chatterbox's default), the multilingual tokenizer
``grapheme_mtl_merged_expanded_v1.json``, ``Cangjie5_TC.json`` (Chinese characters to Cangjie codes: without
it chatterbox's tokenizer reaches for the hub), ``ve.pt`` or ``ve.safetensors``, ``s3gen.pt`` or
``s3gen.safetensors``; optionally ``conds.pt`` (the built-in voice ``default``) and ``t3_config.json`` (as
for the English engine, over ``T3Config.multilingual()``).

Why a second engine rather than one ``chatterbox`` that looks at its folder: an engine's ``EngineInfo``
(its languages) and ``WeightsSpec`` (its files) are class attributes the registry, ``/v1/engines``,
``polyvox doctor`` and the language check read without loading anything; the two models are different
checkpoints with different files, tokenizers and languages, and a user may well have both. Everything else
(library-voice cloning, parameters, seeds, streaming sentence by sentence) is the English engine's.

A request's ``language`` (``fr``, ``fr-FR``, ``en-us``...) chooses chatterbox's ``language_id`` by its
primary subtag; without one, the voice's language, else English. A language outside the table is refused
by the pipeline (422 ``language_not_supported``) from ``info.languages``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

import structlog

from polyvox.engines.base import EngineInfo, SynthesisParams, Voice
from polyvox.engines.neural.chatterbox import (
    BUILTIN_CONDS,
    DEFAULT_VOICE,
    T3_CONFIG_FILE,
    ChatterboxEngine,
    load_parts,
)
from polyvox.engines.neural.compat import tolerate_torchaudio_without_native
from polyvox.engines.neural.runtime import Placement, go_offline
from polyvox.engines.neural.weights import WeightsSpec, first_present
from polyvox.engines.readiness import PackageSpec
from polyvox.language import primary_language

log = structlog.get_logger(__name__)

NAME = "chatterbox-multilingual"
T3_FILES = ("t3_mtl23ls_v2.safetensors", "t3_mtl23ls_v3.safetensors")
VE_FILES = ("ve.pt", "ve.safetensors")
S3GEN_FILES = ("s3gen.pt", "s3gen.safetensors")
TOKENIZER_FILE = "grapheme_mtl_merged_expanded_v1.json"
CANGJIE_FILE = "Cangjie5_TC.json"
LANGUAGE_IDS = (
    "ar", "da", "de", "el", "en", "es", "fi", "fr", "he", "hi", "it", "ja",
    "ko", "ms", "nl", "no", "pl", "pt", "ru", "sv", "sw", "tr", "zh",
)  # fmt: skip
"""chatterbox's ``mtl_tts.SUPPORTED_LANGUAGES`` (chatterbox-light 1.0.2; checked against it at load)."""
LANGUAGES = ("en-us", "en-gb", *LANGUAGE_IDS)


def language_id(language: str | None, fallback: str | None) -> str:
    """chatterbox's ``language_id`` for a Polyvox language tag (its primary subtag), else for ``fallback``
    (the voice's language), else English."""
    for tag in (language, fallback):
        primary = primary_language(tag)
        if primary in LANGUAGE_IDS:
            return primary
    return "en"


def load_multilingual(folder: Path, device: str) -> Any:
    """A ``ChatterboxMultilingualTTS`` from ``folder`` (the layout of the module docstring) on ``device``.

    chatterbox's own classes, assembled as its ``from_local`` does, which cannot be called as it is: it
    reads only ``ve.pt``/``s3gen.pt`` and builds the stock 520M T3 (no ``t3_config.json``).
    """
    go_offline()
    tolerate_torchaudio_without_native()
    os.environ.setdefault("TQDM_DISABLE", "1")
    from chatterbox.models.tokenizers import MTLTokenizer
    from chatterbox.mtl_tts import SUPPORTED_LANGUAGES, ChatterboxMultilingualTTS, Conditionals

    unknown = sorted(set(LANGUAGE_IDS) - set(SUPPORTED_LANGUAGES))
    if unknown:
        raise ValueError(f"this chatterbox does not speak {', '.join(unknown)}: update polyvox's table")
    files = (
        first_present(folder, VE_FILES),
        first_present(folder, T3_FILES),
        first_present(folder, S3GEN_FILES),
    )
    voice_encoder, t3, s3gen, conds = load_parts(folder, files, Conditionals, device, multilingual=True)
    tokenizer = MTLTokenizer(str(folder / TOKENIZER_FILE))  # reads Cangjie5_TC.json beside it
    return ChatterboxMultilingualTTS(t3, s3gen, voice_encoder, tokenizer, device, conds=conds)


class ChatterboxMultilingualEngine(ChatterboxEngine):
    """Chatterbox multilingual: the English engine's cloning and parameters, in 23 languages."""

    # The English engine's facts (capabilities, parameters, isolation) with its own name and languages.
    info: ClassVar[EngineInfo] = dataclasses.replace(
        ChatterboxEngine.info,
        name=NAME,
        label="Chatterbox Multilingual",
        description="Resemble AI's multilingual Chatterbox: zero-shot cloning in 23 languages with emotion "
        "exaggeration. Weights are the user's (MIT).",
        languages=LANGUAGES,
    )
    requires: ClassVar[PackageSpec] = PackageSpec(
        ("torch", "chatterbox", "transformers", "safetensors"), "chatterbox"
    )
    weights: ClassVar[WeightsSpec] = WeightsSpec(
        required=(TOKENIZER_FILE, CANGJIE_FILE),
        one_of=(T3_FILES, VE_FILES, S3GEN_FILES),
        optional=(BUILTIN_CONDS, T3_CONFIG_FILE),
        source="the multilingual files of the ResembleAI/chatterbox model repository",
    )

    def voices(self) -> list[Voice]:
        if not (self.folder / BUILTIN_CONDS).is_file():
            return []
        default = Voice(DEFAULT_VOICE, "Chatterbox default", NAME, "en-us", languages=LANGUAGES)
        return [default]

    def _load_model(self, folder: Path, placement: Placement) -> Any:
        return load_multilingual(folder, placement.device)

    def _language_id(self, params: SynthesisParams, voice: Voice) -> str | None:
        chosen = language_id(params.language, voice.language)
        # Which language chatterbox was told, per segment: a voice's language silently taking over from
        # a missing request language shows here.
        log.info("chatterbox_language", engine=NAME, requested=params.language, language_id=chosen)
        return chosen
