"""The base of every torch engine that loads weights the user put on disk.

A subclass declares ``info`` (with ``isolation="process"`` and its ``Param`` ranges) and ``weights`` (the
files of its folder), and implements four steps:

* ``_load_model(folder, placement)``: read the folder, return the model (errors become 503
  ``engine_unavailable`` naming the folder: a corrupt or mismatched file is the installation's problem);
* ``_condition(model, reference, params)``: a library voice's reference -> the engine's conditioning
  (cached here);
* ``_builtin(model, voice)``: the conditioning of one of the engine's own voices;
* ``_generate(model, text, voice, conditioning, params)``: yield audio, as early as the model allows.

Generation holds the engine's lock (a torch model is not shared between threads) and, when the request has
a ``seed``, the process-wide seeding lock (:func:`polyvox.engines.neural.runtime.seeded`).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import structlog

from polyvox.audio.chunk import AudioChunk
from polyvox.engines.base import EngineInfo, Param, SynthesisParams, Voice
from polyvox.engines.memory import release_memory
from polyvox.engines.neural.conditioning import ConditioningCache, Reference, reference_of
from polyvox.engines.neural.runtime import (
    MAX_SEED,
    MODEL_BUILDING,
    Placement,
    choose_device,
    go_offline,
    seeded,
)
from polyvox.engines.neural.weights import WeightsSpec, WeightsStatus, check_weights, model_dir
from polyvox.errors import EngineUnavailableError, InvalidParameterError, PolyvoxError

if TYPE_CHECKING:
    from polyvox.config import Settings

log = structlog.get_logger(__name__)

ModelT = TypeVar("ModelT")
CondT = TypeVar("CondT")

SEED_PARAM = Param(
    "seed", 0, MAX_SEED, None, integer=True, description="Same seed, same samples (random when absent)."
)


class NeuralEngine(ABC, Generic[ModelT, CondT]):
    """Shared loading, device choice, conditioning cache and seeding of the neural engines."""

    info: ClassVar[EngineInfo]
    weights: ClassVar[WeightsSpec]
    supports_half: ClassVar[bool] = True
    """Whether the model may run in fp16 on CUDA."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = model_dir(settings, self.info.name)
        self.model: ModelT | None = None
        self.placement: Placement | None = None
        self.conditioning: ConditioningCache[CondT] = ConditioningCache(self.info.name)
        self._lock = threading.Lock()

    # -- weights -------------------------------------------------------------------------------------
    @classmethod
    def weights_status(cls, settings: Settings) -> WeightsStatus:
        """Whether the engine's folder holds its files (the registry lists ``needs_weights`` otherwise)."""
        return check_weights(settings, cls.info.name, cls.weights)

    # -- lifetime ------------------------------------------------------------------------------------
    def load(self) -> None:
        status = self.weights_status(self.settings)
        if not status.ready:
            raise EngineUnavailableError(status.message)
        go_offline()
        self.placement = choose_device(self.settings, self.info.name, supports_half=self.supports_half)
        try:
            with MODEL_BUILDING:  # one model built at a time in a process (see weights_to_come)
                self.model = self._load_model(status.folder, self.placement)
        except PolyvoxError:
            raise
        except Exception as exc:  # corrupt, truncated or mismatched files: say which folder, never a 500
            raise EngineUnavailableError(
                f"engine {self.info.name!r} could not load its weights from {status.folder}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def unload(self) -> None:
        cuda = self.placement is not None and self.placement.cuda
        self.model = None
        self.conditioning.clear()
        release_memory()
        if cuda:
            import torch

            torch.cuda.empty_cache()

    # -- voices --------------------------------------------------------------------------------------
    def voices(self) -> list[Voice]:
        """The engine's built-in voices (library voices reach it as clones, not listed here)."""
        return []

    def default_voice(self) -> str:
        voices = self.voices()
        return voices[0].id if voices else "default"

    # -- synthesis -----------------------------------------------------------------------------------
    def synthesize(self, text: str, voice: Voice, params: SynthesisParams) -> Iterator[AudioChunk]:
        self.check_parameters(params)
        model = self._require_model()
        reference = reference_of(voice)
        # Conditioning is resolved before seeding: computing it must not shift the seeded samples.
        conditioning = (
            self.conditioning.get(
                reference, lambda ref: self._condition(model, ref, params), self._variant(params)
            )
            if reference is not None
            else self._builtin(model, voice)
        )
        seed = params.extra.get("seed")
        with self._lock, seeded(None if seed is None else int(seed)):
            started = time.perf_counter()
            first: float | None = None
            pieces = 0
            for chunk in self._generate(model, text, voice, conditioning, params):
                first = time.perf_counter() - started if first is None else first
                pieces += 1
                yield chunk
        # How the engine streamed this segment: pieces, and when the first one was ready.
        log.info(
            "neural_generated",
            engine=self.info.name,
            pieces=pieces,
            first_piece_seconds=None if first is None else round(first, 4),
            seconds=round(time.perf_counter() - started, 4),
        )

    def check_parameters(self, params: SynthesisParams) -> None:
        """422 ``invalid_parameter`` for a declared parameter outside its range (the pipeline checks first
        where it knows the ranges; this keeps the engine safe when called directly)."""
        for param in self.info.parameters:
            for name in (param.name, *param.aliases):
                if name not in params.extra:
                    continue
                value = params.extra[name]
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise InvalidParameterError(
                        f"{name} must be a number, got {value!r}", param=name
                    ) from None
                whole = not param.integer or number.is_integer()
                if not (param.low <= number <= param.high) or not whole:
                    kind = "a whole number" if param.integer else "a number"
                    raise InvalidParameterError(
                        f"{name} must be {kind} between {param.low:g} and {param.high:g}, got {value!r}",
                        param=name,
                    )

    def _require_model(self) -> ModelT:
        if self.model is None:
            raise EngineUnavailableError(f"engine {self.info.name!r} is not loaded")
        return self.model

    def _variant(self, params: SynthesisParams) -> str:
        """Request parameters the conditioning depends on (part of the cache key)."""
        return ""

    @staticmethod
    def extra(params: SynthesisParams, param: Param) -> Any:
        """A request's value of ``param`` (validated by the pipeline), else its default."""
        for name in (param.name, *param.aliases):
            if name in params.extra:
                value = params.extra[name]
                return int(value) if param.integer else float(value)
        return param.default

    @abstractmethod
    def _load_model(self, folder: Path, placement: Placement) -> ModelT:
        """Read the weights in ``folder`` onto ``placement``."""

    @abstractmethod
    def _condition(self, model: ModelT, reference: Reference, params: SynthesisParams) -> CondT:
        """The conditioning of a library voice's reference (may depend on the ``_variant`` parameters)."""

    @abstractmethod
    def _builtin(self, model: ModelT, voice: Voice) -> CondT:
        """The conditioning of one of the engine's own voices (``VoiceNotFoundError`` when it has none)."""

    @abstractmethod
    def _generate(
        self, model: ModelT, text: str, voice: Voice, conditioning: CondT, params: SynthesisParams
    ) -> Iterator[AudioChunk]:
        """Speak ``text`` with ``conditioning`` (a library voice's or the built-in ``voice``'s)."""
