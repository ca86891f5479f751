"""espeak-ng: formant synthesis in 100+ languages, through the library shipped in ``espeakng_loader``.

espeak-ng keeps all its state in process globals and is not thread-safe, so the library is opened and
initialized once per process and every call into it holds ``_LOCK``. kokoro-onnx's phonemizer loads its
own *copy* of the same library from a temporary directory (``phonemizer`` does that on purpose), so the two
never share state.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import Capabilities, EngineInfo, Param, SynthesisParams, Voice
from polyvox.errors import EngineFailedError, InvalidParameterError, VoiceNotFoundError

if TYPE_CHECKING:
    from polyvox.config import Settings

SAMPLE_RATE = 22050
DEFAULT_RATE = 175
"""espeak's words per minute at speed 1.0."""
MIN_RATE, MAX_RATE = 80, 450

# espeak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_SSML = 0x10
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH = 1, 2, 3
_EE_OK = 0
_GENDERS = {1: "male", 2: "female"}


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # priority byte + string, repeated, ended by a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True, slots=True)
class _VoiceEntry:
    voice: Voice
    identifier: str
    """What ``espeak_SetVoiceByName`` is given: the voice file path such as ``gmw/en-US``."""


class _Library:
    """The process's one initialized espeak-ng. Use only while holding ``_LOCK``."""

    def __init__(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))

        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if rate <= 0:
            raise EngineFailedError("espeak-ng failed to initialize")
        self.sample_rate = int(rate)
        self._lib = lib
        self._pcm: list[bytes] = []
        # Keep the callback object referenced for the life of the process: espeak holds its address.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, num_samples: int, _events: Any) -> int:
        if wav and num_samples > 0:
            self._pcm.append(ctypes.string_at(wav, num_samples * 2))
        return 0  # 0: go on synthesizing

    def list_voices(self) -> list[_VoiceEntry]:
        entries: list[_VoiceEntry] = []
        seen: set[str] = set()
        array = self._lib.espeak_ListVoices(None)
        i = 0
        while array[i]:
            raw = array[i].contents
            i += 1
            identifier = (raw.identifier or b"").decode()
            name = (raw.name or b"").decode()
            languages = _languages(raw.languages)
            if not identifier or not languages:
                continue
            # The voice file's name is espeak's own short id (`espeak-ng -v fr`): "en", "en-us", "fr".
            voice_id = identifier.rsplit("/", 1)[-1].lower()
            if voice_id in seen:
                continue
            seen.add(voice_id)
            voice = Voice(
                id=voice_id,
                name=name,
                engine="espeak",
                language=languages[0],
                gender=_GENDERS.get(raw.gender),
                languages=tuple(languages[1:]),
            )
            entries.append(_VoiceEntry(voice=voice, identifier=identifier))
        return entries

    def synthesize(self, text: str, identifier: str, rate: int, pitch: int, ssml: bool) -> bytes:
        if self._lib.espeak_SetVoiceByName(identifier.encode()) != _EE_OK:
            raise EngineFailedError(f"espeak-ng could not select voice {identifier!r}")
        # Parameters are global state: set every one on every call so no request inherits another's.
        self._lib.espeak_SetParameter(_ESPEAK_RATE, rate, 0)
        self._lib.espeak_SetParameter(_ESPEAK_PITCH, pitch, 0)
        self._lib.espeak_SetParameter(_ESPEAK_VOLUME, 100, 0)
        data = text.encode("utf-8") + b"\0"
        buffer = ctypes.create_string_buffer(data, len(data))
        flags = _ESPEAK_CHARS_UTF8 | (_ESPEAK_SSML if ssml else 0)
        self._pcm = []
        try:
            status = self._lib.espeak_Synth(buffer, len(data), 0, _POS_CHARACTER, 0, flags, None, None)
            if status != _EE_OK:
                raise EngineFailedError(f"espeak-ng synthesis failed (status {status})")
            self._lib.espeak_Synchronize()
            return b"".join(self._pcm)
        finally:
            self._pcm = []


def _languages(pointer: int | None) -> list[str]:
    """Decode espeak's ``languages`` field: (priority byte, NUL-terminated name) pairs up to a 0 byte."""
    out: list[str] = []
    if not pointer:
        return out
    offset = 0
    while ctypes.string_at(pointer + offset, 1) != b"\0":
        name = ctypes.string_at(pointer + offset + 1)
        out.append(name.decode().lower())
        offset += len(name) + 2
    return out


_LOCK = threading.Lock()
_library: _Library | None = None


def _installed_voice_ids() -> tuple[str, ...]:
    """The voice ids, from the names of the voice files alone (no library call, so import stays cheap)."""
    try:
        import espeakng_loader

        root = Path(espeakng_loader.get_data_path()) / "lang"
    except (ImportError, RuntimeError):
        return ()
    return tuple(sorted({path.name.lower() for path in root.rglob("*") if path.is_file()}))


def _get_library() -> _Library:
    """The process-wide library, initialized on first use. Call with ``_LOCK`` held."""
    global _library
    if _library is None:
        _library = _Library()
    return _library


class EspeakEngine:
    """espeak-ng voices, named like espeak's own ``-v`` option (``en``, ``en-us``, ``fr``, ``de``...).

    ``SynthesisParams.extra`` accepts ``pitch`` (0-100, default 50). Text starting with ``<speak`` is read
    as SSML.
    """

    info: ClassVar[EngineInfo] = EngineInfo(
        name="espeak",
        label="eSpeak NG",
        description="Compact formant synthesis in more than 100 languages; robotic but tiny and instant.",
        languages=_installed_voice_ids(),
        sample_rate=SAMPLE_RATE,
        # streaming: each call is rendered in one espeak_Synth call and yielded as one chunk; the pipeline
        # feeds it one sentence at a time and espeak renders a sentence in milliseconds.
        capabilities=Capabilities(streaming=True, ssml=True),
        speed_range=(MIN_RATE / DEFAULT_RATE, MAX_RATE / DEFAULT_RATE),
        parameters=(Param("pitch", 0, 100, 50, description="Base pitch."),),
    )

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._entries: dict[str, _VoiceEntry] | None = None

    def load(self) -> None:
        """Initialize espeak-ng (once per process) and read the voice list."""
        with _LOCK:
            library = _get_library()
            self._entries = {entry.voice.id: entry for entry in library.list_voices()}

    def unload(self) -> None:
        """Forget the voice list. The library stays initialized: it is process-global, a few MB, and
        ctypes cannot unload it safely."""
        self._entries = None

    def _voice_entries(self) -> dict[str, _VoiceEntry]:
        entries = self._entries
        if entries is None:
            self.load()
            entries = self._entries
            assert entries is not None
        return entries

    def voices(self) -> list[Voice]:
        """Every installed espeak-ng voice (140 with the bundled data)."""
        return [entry.voice for entry in self._voice_entries().values()]

    def default_voice(self) -> str:
        """``en-us``."""
        return "en-us"

    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        """Yield the whole of ``text`` as one chunk at 22050 Hz."""
        entry = self._voice_entries().get(voice.id)
        if entry is None:
            raise VoiceNotFoundError(f"espeak has no voice {voice.id!r}", param="voice")
        pitch = _pitch(params.extra.get("pitch"))
        rate = round(min(max(DEFAULT_RATE * params.speed, MIN_RATE), MAX_RATE))
        ssml = text.lstrip().startswith("<speak")
        with _LOCK:
            library = _get_library()
            pcm = library.synthesize(text, entry.identifier, rate, pitch, ssml)
            sample_rate = library.sample_rate
        yield AudioChunk.from_int16(pcm, sample_rate, text)


def _pitch(value: Any) -> int:
    if value is None:
        return 50
    try:
        pitch = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError("pitch must be a number from 0 to 100", param="pitch") from None
    if not 0 <= pitch <= 100:
        raise InvalidParameterError("pitch must be a number from 0 to 100", param="pitch")
    return round(pitch)
