"""The contract every engine implements.

An engine is a class registered under the ``polyvox.engines`` entry-point group. The registry constructs it
with the process settings (cheap: no model is read), calls ``load()`` in a worker thread on first use, then
``synthesize()`` from worker threads, and ``unload()`` when it has been idle for the configured TTL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from polyvox.audio.chunk import AudioChunk

if TYPE_CHECKING:
    from polyvox.config import Settings


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine can do, so front doors can refuse clearly what it cannot."""

    streaming: bool = True
    """Yields audio sentence by sentence rather than all at the end."""
    cloning: bool = False
    """Speaks with the voice of a reference recording."""
    phonemes: bool = False
    """Accepts phoneme input: ``[[ phonemes ]]`` blocks in the text, which text preparation then keeps."""
    ssml: bool = False
    """Accepts SSML markup."""
    blending: bool = False
    """Its voices can be mixed: a voice id written as a blend (``a(2)+b(1)``, polyvox.engines.blend)."""


@dataclass(frozen=True, slots=True)
class Param:
    """One engine-specific parameter and the range the pipeline enforces before any synthesis.

    Ranges bound what a request can make an engine do (a duration scale of 250 would render minutes of
    audio from one word), so they are checked by the pipeline, not left to the engine being sensible.
    """

    name: str
    low: float
    high: float
    default: float | None = None
    integer: bool = False
    """Whole numbers only (``top_k``, ``seed``, ``diffusion_steps``)."""
    description: str = ""
    aliases: tuple[str, ...] = ()
    """Other names accepted for the same parameter (piper's ``noise_w_scale`` for ``noise_w``)."""


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """Static facts about an engine, known without loading it."""

    name: str
    label: str
    description: str
    languages: tuple[str, ...]
    """Language codes the engine speaks (BCP-47-ish, lower case: ``en-us``, ``ja``, ``fr``)."""
    sample_rate: int
    """Native output rate in Hz."""
    capabilities: Capabilities = field(default_factory=Capabilities)
    speed_range: tuple[float, float] = (0.25, 4.0)
    """Speeds the engine renders natively; the pipeline time-stretches the rest."""
    parameters: tuple[Param, ...] = ()
    """Engine-specific parameters accepted in ``SynthesisParams.extra``, with their ranges."""
    takes_instructions: bool = False
    """The engine reads ``extra["instructions"]``, a free-text style prompt (OpenAI's ``instructions``); for
    the others the OpenAI route drops it and says so in ``X-Polyvox-Ignored``."""
    batch_chars: int = 0
    """After the first sentence, join sentences into segments of up to this many characters (0: never).

    Engines with a high fixed cost per call (Kokoro) are faster on fewer, longer segments; the first
    segment stays one sentence so the first audio is not delayed.
    """
    phrase_first: bool = False
    """A listener's long first sentence is rendered as its first phrase, then the rest (polyvox.text.phrases):
    for engines that render a sentence whole before any of it can be heard (piper, Kokoro), where first
    audio then comes in a phrase's time. Engines that stream within a sentence need not."""
    isolation: str = "thread"
    """Where the engine runs unless ``engines.isolation`` says otherwise: ``thread`` (this process's worker
    pool; ONNX engines release the GIL) or ``process`` (a worker process of its own; torch engines)."""
    for_tests: bool = False
    """A test engine (``tone``): listed only with ``engines.enable_test_engines``, never self-tested."""

    @property
    def parameter_names(self) -> frozenset[str]:
        """Every accepted parameter name, aliases included."""
        return frozenset(n for p in self.parameters for n in (p.name, *p.aliases))

    def parameter(self, name: str) -> Param | None:
        """The parameter called ``name`` (or one of its aliases), if the engine takes it."""
        for param in self.parameters:
            if name == param.name or name in param.aliases:
                return param
        return None


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice an engine can speak with."""

    id: str
    name: str
    engine: str
    language: str
    """Primary language code of the voice."""
    gender: str | None = None
    speakers: tuple[str, ...] = ()
    """Speaker names of a multi-speaker voice (empty for single-speaker voices)."""
    languages: tuple[str, ...] = ()
    """Other languages the voice can speak (for engines whose voices are language-independent)."""


@dataclass(frozen=True, slots=True)
class ClonedVoice(Voice):
    """An engine voice standing in for a library voice (polyvox.voice_router builds it): the engine speaks as
    ``id``, then it is converted, or, when ``native``, clones ``reference`` itself."""

    target: str = ""
    """The library voice id to sound like."""
    reference: Path | None = None
    """The target's normalized reference recording (for engines that clone natively)."""
    native: bool = False
    """The engine clones from ``reference`` itself; no conversion afterwards."""
    transcript: str = ""
    """What is said in ``reference`` (engines that condition on it: XTTS ignores it, others use it)."""


@dataclass(frozen=True, slots=True)
class SynthesisParams:
    """Per-request knobs. Engines ignore what they do not support; the pipeline validated the ranges."""

    speed: float = 1.0
    """Speed factor already limited to the engine's ``speed_range``."""
    language: str | None = None
    speaker: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Engine-specific parameters (``noise_scale``, ``noise_w``, ``pitch``...), validated by the engine."""
    request_id: str = ""
    segment_index: int = 0
    """Index of this segment within its request (lets the tone engine inject faults deterministically)."""


@runtime_checkable
class Engine(Protocol):
    """A speech engine. ``synthesize`` is blocking and runs in a worker thread."""

    info: ClassVar[EngineInfo]

    def load(self) -> None:
        """Read models into memory. Called once before the first synthesis, in a worker thread."""

    def unload(self) -> None:
        """Drop every reference to model memory."""

    def voices(self) -> list[Voice]:
        """Every voice available now (may rescan the voices directory; cheap, no model load)."""
        ...

    def default_voice(self) -> str:
        """The voice id used when a request names none."""
        ...

    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        """Speak ``text`` (one sentence or a few) and yield audio as it is produced."""
        ...


class EngineFactory(Protocol):
    """What an entry point must load: a callable taking the settings and returning an engine."""

    info: ClassVar[EngineInfo]

    def __call__(self, settings: Settings) -> Engine: ...
