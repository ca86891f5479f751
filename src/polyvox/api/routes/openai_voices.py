"""OpenAI's custom voices: ``/v1/audio/voice_consents`` and ``POST /v1/audio/voices`` (openapi.yaml 2.3.0).

A consent recording is stored first (polyvox.voices.consents); a voice is then made from an audio sample that
names the consent, and stored in the voice library under OpenAI's id shape ``voice_<hex>``, marked with its
consent. From there it is a library voice like any other: ``{"voice": {"id": "voice_..."}}`` (or the id as a
string) speaks with it on every engine, natively on engines that clone and through voice conversion on the
others (polyvox.voice_router). Uploads are read under ``voices.max_upload_bytes`` and decoded in a thread, as
``POST /v1/voices`` does. A consent that a voice still uses cannot be deleted (409 ``consent_in_use``; the
spec is silent, and removing a user's voice as a side effect would be worse).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile

from polyvox.api.deps import SettingsDep, SynthesizerDep, require_json
from polyvox.api.routes.common import VALIDATION_RESPONSE, _error
from polyvox.api.routes.voices_library import _text, decode_upload, read_form
from polyvox.config import Settings
from polyvox.errors import InvalidParameterError, UnsupportedMediaError, VoiceNotFoundError
from polyvox.voices.consents import Consent, check_name
from polyvox.voices.library import LibraryVoice, VoiceLibrary

router = APIRouter(tags=["OpenAI custom voices"], responses=VALIDATION_RESPONSE)

OPENAI_MARK = "openai"
"""The key of ``LibraryVoice.extra`` that marks a voice made here: ``{"type", "consent"}``."""
_AUDIO_PARTS = ("application/octet-stream", "video/mp4", "video/webm", "")
RESPONSES: dict[int | str, dict[str, object]] = {
    404: _error("Unknown consent or voice (`consent_not_found`, `voice_not_found`)."),
    409: _error("The consent is used by a voice (`consent_in_use`)."),
    413: _error("Upload over `voices.max_upload_bytes` or too long a recording (`payload_too_large`)."),
    415: _error("Not multipart, or the file is not audio (`unsupported_media`)."),
    422: _error(
        "Bad field (`invalid_parameter`, `voice_type_unsupported`), bad audio (`undecodable_audio`)."
    ),
}


class VoiceTypeUnsupportedError(InvalidParameterError):
    code = "voice_type_unsupported"


class ConsentUpdate(BaseModel):
    name: str = Field(..., min_length=1, description="The new label of the consent recording.")


async def _audio(form: FormData, field: str, settings: Settings) -> Any:
    """The decoded upload of ``field`` (mono, 24 kHz); 415 for a part that declares a non-audio type."""
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        raise InvalidParameterError(f"{field} (an audio file) is required", param=field)
    kind = (upload.content_type or "").split(";")[0].strip().lower()
    if not kind.startswith("audio/") and kind not in _AUDIO_PARTS:
        raise UnsupportedMediaError(f"{field} must be audio, not {kind!r}", param=field)
    # A little slack over the limit so trimming silence can bring a reference under it (as /v1/voices).
    return await decode_upload(
        await upload.read(), settings, settings.voices.max_reference_seconds * 2, field
    )


def voices_of(library: VoiceLibrary, consent_id: str) -> list[str]:
    """The ids of the library voices made from ``consent_id``."""
    return [v.id for v in library.list() if (v.extra.get(OPENAI_MARK) or {}).get("consent") == consent_id]


def _voice_object(voice: LibraryVoice) -> dict[str, Any]:
    mark = voice.extra.get(OPENAI_MARK) or {}
    return {
        "object": "audio.voice",
        "id": voice.id,
        "name": voice.name,
        "created_at": int(voice.created),
        "type": mark.get("type", "audio_sample"),
    }


@router.post("/v1/audio/voice_consents", summary="Upload a voice consent recording", responses=RESPONSES)
async def create_consent(
    request: Request, synthesizer: SynthesizerDep, settings: SettingsDep
) -> dict[str, Any]:
    """Multipart: `name`, `language` (a BCP 47 tag such as `en-US`) and `recording` (the consent audio)."""
    form = await read_form(request, settings)
    try:
        name, language = check_name(_text(form, "name")), _text(form, "language")
        if not language:
            raise InvalidParameterError("language is required", param="language")
        recording = await _audio(form, "recording", settings)
    finally:
        await form.close()
    store = synthesizer.voices.consents
    consent: Consent = await asyncio.to_thread(store.add, name, language, recording)
    return consent.to_openai()


@router.get("/v1/audio/voice_consents", summary="List voice consent recordings")
async def list_consents(
    synthesizer: SynthesizerDep,
    after: Annotated[str | None, Query(description="The id the previous page ended with.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1 to 100).")] = 20,
) -> dict[str, Any]:
    """Newest first, in pages: `data`, `first_id`, `last_id`, `has_more`."""
    consents = await asyncio.to_thread(synthesizer.voices.consents.list)
    start = 0
    if after:
        ids = [c.id for c in consents]
        if after not in ids:
            raise InvalidParameterError(f"after names no voice consent: {after!r}", param="after")
        start = ids.index(after) + 1
    page = consents[start : start + limit]
    return {
        "object": "list",
        "data": [c.to_openai() for c in page],
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
        "has_more": start + limit < len(consents),
    }


@router.get("/v1/audio/voice_consents/{consent_id}", summary="One voice consent", responses=RESPONSES)
async def get_consent(consent_id: str, synthesizer: SynthesizerDep) -> dict[str, Any]:
    """The consent's `id`, `name`, `language` and `created_at`."""
    consent = await asyncio.to_thread(synthesizer.voices.consents.get, consent_id)
    return consent.to_openai()


@router.post(
    "/v1/audio/voice_consents/{consent_id}",
    summary="Rename a voice consent",
    responses=RESPONSES,
    dependencies=[Depends(require_json)],
)
async def update_consent(
    consent_id: str, body: Annotated[ConsentUpdate, Body()], synthesizer: SynthesizerDep
) -> dict[str, Any]:
    """Metadata only: JSON `{"name": ...}`."""
    consent = await asyncio.to_thread(synthesizer.voices.consents.rename, consent_id, body.name)
    return consent.to_openai()


@router.delete("/v1/audio/voice_consents/{consent_id}", summary="Delete a voice consent", responses=RESPONSES)
async def delete_consent(consent_id: str, synthesizer: SynthesizerDep) -> dict[str, Any]:
    """Refused (409 `consent_in_use`) while a voice made from it exists."""
    library = synthesizer.voices.library
    await asyncio.to_thread(
        synthesizer.voices.consents.delete, consent_id, lambda cid: voices_of(library, cid)
    )
    return {"id": consent_id, "object": "audio.voice_consent", "deleted": True}


@router.post("/v1/audio/voices", summary="Create a custom voice from a sample", responses=RESPONSES)
async def create_custom_voice(
    request: Request, synthesizer: SynthesizerDep, settings: SettingsDep
) -> dict[str, Any]:
    """Multipart: `name`, `consent` (a `cons_...` id), `audio_sample`, optional `type` (`audio_sample`; voices
    from a text `prompt` are not supported). The voice speaks in its consent's language."""
    form = await read_form(request, settings)
    try:
        kind = _text(form, "type") or "audio_sample"
        if kind != "audio_sample":
            raise VoiceTypeUnsupportedError(
                f"voice type {kind!r} is not supported here; send type 'audio_sample'", param="type"
            )
        name, consent_id = check_name(_text(form, "name")), _text(form, "consent")
        if not consent_id:
            raise InvalidParameterError("consent (a voice consent id, cons_...) is required", param="consent")
        store = synthesizer.voices.consents
        await asyncio.to_thread(store.get, consent_id)  # an unknown consent: 404 before decoding the sample
        sample = await _audio(form, "audio_sample", settings)
    finally:
        await form.close()

    def store_voice() -> LibraryVoice:
        with store.using(consent_id) as consent:  # the consent cannot be deleted meanwhile
            return synthesizer.voices.library.add(
                name,
                sample,
                language=consent.language,
                extra={OPENAI_MARK: {"type": "audio_sample", "consent": consent.id}},
                voice_id="voice_" + uuid.uuid4().hex[:24],
            )

    return _voice_object(await asyncio.to_thread(store_voice))


@router.delete("/v1/audio/voices/{voice_id}", summary="Delete a custom voice", responses=RESPONSES)
async def delete_custom_voice(voice_id: str, synthesizer: SynthesizerDep) -> dict[str, Any]:
    """Deletes a voice made with `POST /v1/audio/voices` (its consent stays)."""
    library = synthesizer.voices.library
    voice = await asyncio.to_thread(library.get, voice_id)
    if OPENAI_MARK not in voice.extra:
        raise VoiceNotFoundError(
            f"no custom voice {voice_id!r} (see DELETE /v1/voices/{{id}})", param="voice_id"
        )
    await asyncio.to_thread(library.delete, voice_id)
    return {"id": voice_id, "object": "audio.voice.deleted", "deleted": True}
