"""Text preparation before segmentation: pronunciation lexicon, normalization, inline overrides.

Order matters: lexicon words are replaced first (a lexicon entry for "No." must win over the rule), then
English normalization rewrites numbers and abbreviations (it never touches phoneme blocks or inline
overrides), and last inline ``[word](/phonemes/)`` overrides become phoneme blocks or plain words.
"""

from __future__ import annotations

from typing import Protocol

from polyvox.text.lexicon import Lexicon, apply_inline
from polyvox.text.normalize import normalize_text


def prepare_text(
    text: str,
    language: str | None,
    *,
    normalize: bool,
    lexicon: Lexicon | None = None,
    phonemes_ok: bool = False,
) -> str:
    """What the engine should read for ``text``."""
    if lexicon is not None:
        text = lexicon.apply(text, language, phonemes_ok)
    if normalize:
        text = normalize_text(text, language)
    return apply_inline(text, phonemes_ok)


class DeclaresPhonemes(Protocol):
    """An engine's ``Capabilities`` as text preparation reads them (polyvox.engines.base is a layer up)."""

    @property
    def phonemes(self) -> bool: ...


def takes_phoneme_blocks(capabilities: DeclaresPhonemes) -> bool:
    """Whether the engine reads ``[[ phonemes ]]`` blocks: it declares ``Capabilities.phonemes`` (the others
    get respellings or the word)."""
    return capabilities.phonemes
