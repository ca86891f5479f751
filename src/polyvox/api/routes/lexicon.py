"""``/v1/lexicon``: read and edit the user pronunciation lexicon (word → phonemes or respelling).

Edits are written to the lexicon file atomically (a temporary file renamed into place) and apply to the next
request: the synthesizer's :class:`polyvox.text.lexicon.Lexicon` reloads the file when it changes.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from polyvox.api.deps import SynthesizerDep
from polyvox.api.routes.common import VALIDATION_RESPONSE, _error
from polyvox.errors import InvalidParameterError, NotFoundError
from polyvox.language import primary_language
from polyvox.text.lexicon import Entry

router = APIRouter(tags=["Lexicon"], responses=VALIDATION_RESPONSE)

_LANGUAGE = Path(description="Language code; regional variants share their base (`en-gb` is `en`).")
_WORD = Path(description="One word; matched case-insensitively, whole words only.")


class Pronunciation(BaseModel):
    """How to say a word: IPA phonemes (espeak-ng style, as piper reads them) and/or a respelling."""

    phonemes: str | None = Field(
        None, description="IPA phonemes, used by engines that take phoneme input (piper)."
    )
    respelling: str | None = Field(
        None, description="Words to read instead, used by every other engine (and by piper without phonemes)."
    )

    @classmethod
    def of(cls, entry: Entry) -> Pronunciation:
        return cls(phonemes=entry.phonemes, respelling=entry.say)


class LexiconEntry(Pronunciation):
    """One lexicon entry."""

    language: str = Field(..., description="Base language code (`en`).")
    word: str = Field(..., description="The word, lower case.")


class LexiconList(BaseModel):
    """The whole lexicon."""

    languages: dict[str, dict[str, Pronunciation]] = Field(
        ..., description="Language → word → pronunciation."
    )


def _language(language: str) -> str:
    key = primary_language(language)
    if not key.isalpha() or len(key) > 8:
        raise InvalidParameterError(f"{language!r} is not a language code", param="language")
    return key


@router.get("/v1/lexicon", summary="List the pronunciation lexicon", response_model=LexiconList)
async def list_lexicon(
    synthesizer: SynthesizerDep,
    language: Annotated[str | None, Query(description="Only this language.")] = None,
) -> LexiconList:
    """Every entry, per language."""
    entries = synthesizer.lexicon.all()
    if language is not None:
        key = _language(language)
        entries = {key: entries.get(key, {})}
    return LexiconList(
        languages={
            lang: {word: Pronunciation.of(entry) for word, entry in sorted(words.items())}
            for lang, words in sorted(entries.items())
        }
    )


@router.put(
    "/v1/lexicon/{language}/{word}",
    summary="Add or replace a pronunciation",
    response_model=LexiconEntry,
)
async def put_entry(
    synthesizer: SynthesizerDep,
    body: Pronunciation,
    language: Annotated[str, _LANGUAGE],
    word: Annotated[str, _WORD],
) -> LexiconEntry:
    """Set how ``word`` is said in ``language``; give ``phonemes``, ``respelling`` or both."""
    key = _language(language)
    phonemes = (body.phonemes or "").strip() or None
    respelling = (body.respelling or "").strip() or None
    if phonemes and ("[" in phonemes or "]" in phonemes):
        raise InvalidParameterError("phonemes may not contain brackets", param="phonemes")
    entry = Entry(phonemes=phonemes, say=respelling)
    # A file write (under the lexicon's lock): off the event loop.
    await asyncio.to_thread(synthesizer.lexicon.set, word, entry, key)
    return LexiconEntry(language=key, word=word.strip().lower(), phonemes=phonemes, respelling=respelling)


@router.delete(
    "/v1/lexicon/{language}/{word}",
    summary="Remove a pronunciation",
    status_code=204,
    response_class=Response,
    responses={404: _error("No such word in that language (`not_found`).")},
)
async def delete_entry(
    synthesizer: SynthesizerDep,
    language: Annotated[str, _LANGUAGE],
    word: Annotated[str, _WORD],
) -> Response:
    """Forget ``word`` in ``language``."""
    key = _language(language)
    if not await asyncio.to_thread(synthesizer.lexicon.remove, word.strip(), key):
        raise NotFoundError(f"{word!r} is not in the {key} lexicon", param="word")
    return Response(status_code=204)
