"""What every torch engine needs around its model: no hub access, a device, and reproducible sampling.

* :func:`go_offline` sets the hubs' offline switches before any hub library is imported, so a missing file
  is an error instead of a download (nothing may reach the network at run time).
* :func:`choose_device` honours ``engines.device[<engine>]`` (``auto``: CUDA when torch sees a GPU, else the
  CPU) and says whether to run in fp16 (CUDA only, where the model supports it). On the CPU it gives torch
  the threads the ONNX engines get (cores / ``engines.workers``): torch's own default, one per core for each
  of the worker's concurrent calls, made two calls on two cores stall on each other (4x slower).
* :func:`seeded` makes a ``seed`` parameter reproducible: same seed, same samples.
* :func:`weights_to_come` builds a model's modules without drawing the random initial weights that its
  checkpoint replaces right after (for Chatterbox's real T3 and S3Gen, most of the CPU time of a load).
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyvox.engines.onnx import cores_per_call
from polyvox.errors import EngineUnavailableError

if TYPE_CHECKING:
    from polyvox.config import Settings

OFFLINE_SWITCHES = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "TRAINER_TELEMETRY": "0",
}
"""Environment switches of huggingface_hub, transformers, datasets and coqui-tts's trainer stack."""

MAX_SEED = 2**31 - 1

_rng_lock = threading.Lock()
MODEL_BUILDING = threading.RLock()
"""Held while a torch engine builds its model: :func:`weights_to_come` patches torch for the whole process,
so no other engine may build modules meanwhile (and expect their random initial weights)."""


def go_offline() -> None:
    """Set the hub libraries' offline switches (idempotent; call before importing them)."""
    for name, value in OFFLINE_SWITCHES.items():
        os.environ[name] = value


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a model runs: a torch device string and whether its weights are cast to fp16."""

    device: str
    half: bool = False

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def choose_device(settings: Settings, engine: str, *, supports_half: bool = True) -> Placement:
    """The placement of ``engine``'s model (imports torch: call it from ``load``)."""
    import torch

    wanted = settings.engines.device.get(engine, "auto").strip().lower() or "auto"
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise EngineUnavailableError(
            f"engine {engine!r} is set to run on {wanted!r} but torch sees no CUDA device "
            f"(set engines.device to 'cpu' or 'auto')"
        )
    if wanted != "cpu" and not wanted.startswith("cuda"):
        raise EngineUnavailableError(
            f"engine {engine!r}: unknown device {wanted!r} (auto, cpu, cuda, cuda:N)"
        )
    if wanted == "cpu":
        torch.set_num_threads(cores_per_call(settings))
    half = wanted.startswith("cuda") and supports_half and settings.engines.half_precision
    return Placement(wanted, half)


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed Python's, numpy's and torch's generators for the block (nothing changes when ``seed`` is None).

    The generators are process-wide, so seeded blocks run one at a time: two requests with the same seed
    get the same samples even when they run at once.
    """
    if seed is None:
        yield
        return
    import numpy as np
    import torch

    with _rng_lock:
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)
        yield


@contextmanager
def weights_to_come() -> Iterator[None]:
    """Make ``torch.nn.init``'s in-place initialisers no-ops while the block builds modules.

    Only for modules whose every parameter the caller then loads from a checkpoint and checks (a strict
    load, or a non-strict one whose missing keys are inspected): a parameter left out would hold whatever
    the memory held. Buffers computed in constructors (filters, windows) are built as usual. The patch is
    process-wide: it holds :data:`MODEL_BUILDING`, which every torch engine's load holds too.
    """
    import torch

    init = torch.nn.init
    names = [name for name in vars(init) if name.endswith("_") and not name.startswith("_")]
    with MODEL_BUILDING:
        saved = {name: getattr(init, name) for name in names}
        for name in names:
            setattr(init, name, _unchanged)
        try:
            yield
        finally:
            for name, function in saved.items():
                setattr(init, name, function)


def _unchanged(tensor: object, *args: object, **kwargs: object) -> object:
    return tensor
