"""Making coqui-tts import next to the CPU torch 2.13 wheel, without touching the installed packages.

* No torchaudio 2.13 exists; PyPI's 2.11.1 ships native libraries linked against CUDA, which fail to load on
  the CPU wheel. coqui-tts only uses torchaudio's pure-Python parts (``functional.resample``,
  ``transforms.MelSpectrogram``), which work without them: :func:`tolerate_torchaudio_without_native` makes a
  native library that cannot load count as absent (torchaudio's own behaviour when the file is missing).
* coqui-tts refuses to import on torch >= 2.9 unless the ``torchcodec`` package is installed; it is, and it is
  never imported: Polyvox hands XTTS audio it decoded itself (soundfile/PyAV), never a file to decode.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

_UTILS = "torchaudio._extension.utils"


class _TolerantNativeLoader(importlib.abc.MetaPathFinder):
    """Finds ``torchaudio._extension.utils`` as usual, then wraps its ``_load_lib`` after it runs."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _UTILS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader: Any = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            module._load_lib = _tolerant(module._load_lib)  # type: ignore[attr-defined]

        loader.exec_module = exec_module
        return spec


def _tolerant(load: Callable[[str], bool]) -> Callable[[str], bool]:
    def load_lib(lib: str) -> bool:
        try:
            return load(lib)
        except OSError:  # linked against libraries this host lacks (CUDA): the pure-Python parts remain
            return False

    return load_lib


def tolerate_torchaudio_without_native() -> None:
    """Install the finder once, before torchaudio is first imported (no effect once it is)."""
    if _UTILS in sys.modules or any(isinstance(f, _TolerantNativeLoader) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TolerantNativeLoader())
