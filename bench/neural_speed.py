"""``bench_neural.py --full-size``: each neural engine at its published size, on this machine.

For each engine, one process builds it (``tests/neural_full_size.py``: published configuration, random
weights, the files the loader reads) into a temporary data dir, then another process loads it through the
user's path (the registry's engine class reading ``DATA_DIR/models/<engine>/``) and speaks one sentence with
a cloned library voice. Separate processes, one engine at a time, so the peak RSS is that engine's alone.

Random weights never emit their stop token, so generation is capped at ``--max-tokens`` tokens of the
autoregressive model (XTTS's GPT, Chatterbox's T3, Pocket's flow LM; counted on its output head) and every
figure is over what was generated: ms per token is the engine's whole time (model steps and vocoder) over the
tokens, RTF its time over the audio's length. StyleTTS2 is not autoregressive: the whole sentence, RTF only.
The voice's conditioning is computed once before the timed run (it is cached per voice when serving).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
THREADS = 2
SENTENCE = "The weather is nice today, and we are going to the park with our friends."
WARM_UP = "Hello."
ENGINES = ("xtts", "chatterbox", "styletts2", "pocket")
HEADS: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "xtts": lambda model: (model.gpt.mel_head, model.gpt.gpt_inference),
    "chatterbox": lambda model: (model.t3.speech_head, model.t3.tfmr),
}
"""Per autoregressive model: the module it runs once per generated token, and its whole step (timed)."""
FRAME_SAMPLES = {"pocket": 1920}
"""Pocket's flow LM runs ahead of its decoder in another thread: its tokens are the 80 ms frames yielded."""
EXTRA: dict[str, dict[str, float]] = {"pocket": {"eos_threshold": 20.0}}
"""A random Pocket may end after a frame or two: its end-of-speech threshold is set out of reach."""


@dataclass
class Figures:
    engine: str
    params: int = 0
    device: str = "-"
    load_seconds: float = 0.0
    loaded_rss: int = 0
    peak_rss: int = 0
    gpu_peak: int = 0
    tokens: int = 0
    synthesis_seconds: float = 0.0
    synthesis_cpu_seconds: float = 0.0
    """CPU seconds of the process (all threads) over the same run: steadier than wall time when shared."""
    audio_seconds: float = 0.0
    step_seconds: float = 0.0
    """Seconds inside the autoregressive model's steps (the rest: vocoder, sampling, conditioning glue)."""
    load_average: str = "-"
    error: str = ""

    @property
    def ms_per_token(self) -> float | None:
        return 1000 * self.synthesis_seconds / self.tokens if self.tokens else None

    @property
    def step_ms(self) -> float | None:
        return 1000 * self.step_seconds / self.tokens if self.tokens and self.step_seconds else None

    @property
    def rtf(self) -> float | None:
        return self.synthesis_seconds / self.audio_seconds if self.audio_seconds else None

    @property
    def cpu_rtf(self) -> float | None:
        return self.synthesis_cpu_seconds / self.audio_seconds if self.audio_seconds else None


class TokenCounter:
    """Counts the calls of a model's output head (one per generated token) and times its steps."""

    def __init__(self, head: Any, step: Any) -> None:
        self.calls = 0
        self.step_seconds = 0.0
        self._started = 0.0
        head.register_forward_hook(self._count)
        step.register_forward_pre_hook(self._start)
        step.register_forward_hook(self._stop)

    def reset(self) -> None:
        self.calls, self.step_seconds = 0, 0.0

    def _count(self, *_: Any) -> None:
        self.calls += 1

    def _start(self, *_: Any) -> None:
        self._started = time.perf_counter()

    def _stop(self, *_: Any) -> None:
        self.step_seconds += time.perf_counter() - self._started


def parameters(model: Any) -> int:
    """Parameters of the torch modules a loaded engine holds (the model, or its parts one level down)."""
    import torch

    found: dict[int, int] = {}
    pending = [model]
    for depth in range(3):
        nested = []
        for item in pending:
            if isinstance(item, torch.nn.Module):
                found.update((id(p), p.numel()) for p in item.parameters())
            elif isinstance(item, dict) or hasattr(item, "__dict__"):
                nested += list((item if isinstance(item, dict) else vars(item)).values())
        pending = nested if depth < 2 else []
    return sum(found.values())


def _speak(engine: Any, text: str, voice: Any, counter: TokenCounter | None, cap: int) -> tuple[float, int]:
    """Seconds of audio and tokens ``engine`` yields for ``text``, stopping at ``cap`` tokens."""
    from polyvox.engines.base import SynthesisParams

    name = engine.info.name
    extra: dict[str, Any] = {"seed": 1, **EXTRA.get(name, {})}
    samples = tokens = 0
    stream = engine.synthesize(text, voice, SynthesisParams(extra=extra, language="en-us"))
    with contextlib.closing(stream):
        for chunk in stream:
            samples += len(chunk.samples)
            tokens = counter.calls if counter is not None else samples // FRAME_SAMPLES.get(name, 2**62)
            if tokens >= cap:
                break
    return samples / engine.info.sample_rate, min(tokens, cap)


@contextlib.contextmanager
def _capped(name: str, cap: int) -> Iterator[None]:
    """Chatterbox generates a segment whole: its T3 token limit is the cap (read at call time)."""
    if name != "chatterbox":
        yield
        return
    from polyvox.engines.neural import chatterbox

    saved, chatterbox.MAX_SPEECH_TOKENS = chatterbox.MAX_SPEECH_TOKENS, cap
    try:
        yield
    finally:
        chatterbox.MAX_SPEECH_TOKENS = saved


def measure(name: str, data_dir: Path, cap: int) -> Figures:
    """Load ``name`` from ``data_dir`` as a user's server would and time one capped sentence."""
    import psutil
    import torch
    from tests.e2e.chatterbox_checkpoint import reference_tone

    from polyvox.config import Settings
    from polyvox.doctor import cloned_voice
    from polyvox.engines.registry import discover_factories
    from polyvox.voices.library import VoiceLibrary

    torch.set_num_threads(THREADS)
    settings = Settings(data_dir=data_dir)
    engine: Any = discover_factories()[name](settings)
    figures = Figures(name)
    started = time.perf_counter()
    engine.load()
    figures.load_seconds = time.perf_counter() - started
    figures.loaded_rss = psutil.Process().memory_info().rss
    figures.params = parameters(engine.model)
    figures.device = engine.placement.device
    library = VoiceLibrary(Path(tempfile.mkdtemp(prefix="library-", dir=data_dir)))
    stored = library.add("reference", reference_tone(160.0, seconds=6.0), language="en-us")
    voice = cloned_voice(name, library, stored.id)
    head = HEADS.get(name)
    counter = TokenCounter(*head(engine.model)) if head else None
    with _capped(name, 1):
        _speak(engine, WARM_UP, voice, counter, 1)  # computes and caches the voice's conditioning
    if counter is not None:
        counter.reset()
    started, cpu = time.perf_counter(), time.process_time()
    with _capped(name, cap):
        figures.audio_seconds, figures.tokens = _speak(engine, SENTENCE, voice, counter, cap)
    figures.synthesis_seconds = time.perf_counter() - started
    figures.synthesis_cpu_seconds = time.process_time() - cpu
    figures.step_seconds = counter.step_seconds if counter is not None else 0.0
    if engine.placement.cuda:
        figures.gpu_peak = torch.cuda.max_memory_allocated()
    engine.unload()
    figures.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return figures


def _load_average() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _child(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    env.update(OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS), TQDM_DISABLE="1")
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def run(name: str, cap: int, timeout: float, tiny: bool = False) -> Figures:
    """Build ``name`` (published size, or the tests' tiny one) in a scratch data dir and measure it."""
    try:
        return _run(name, cap, timeout, tiny)
    except subprocess.TimeoutExpired as exc:
        return Figures(name, load_average=_load_average(), error=f"over {exc.timeout:.0f} s: stopped")


def _run(name: str, cap: int, timeout: float, tiny: bool) -> Figures:
    with tempfile.TemporaryDirectory(prefix="bench-full-size-") as scratch:
        folder = Path(scratch) / "models" / name
        built = _child(["-m", "tests.neural_full_size", name, str(folder), *(["--tiny"] * tiny)], timeout)
        if built.returncode != 0:
            return Figures(name, error="build failed: " + built.stderr.strip().splitlines()[-1])
        before = _load_average()
        done = _child([__file__, "measure", name, scratch, str(cap)], timeout)
        if done.returncode != 0:
            return Figures(name, load_average=before, error=done.stderr.strip().splitlines()[-1])
        figures = Figures(**json.loads(done.stdout.strip().splitlines()[-1]))
        figures.load_average = f"{before} → {_load_average()}"
        shutil.rmtree(folder, ignore_errors=True)
        return figures


def table(rows: list[Figures]) -> str:
    def fmt(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| engine | params | device | load s | RSS loaded GiB | peak RSS GiB | tokens | ms/token "
        "| AR step ms | audio s | RTF | CPU-s per audio s | load avg (1/5/15 min, before → after) | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        gib = 2.0**30
        device = f.device + (f" ({f.gpu_peak / gib:.2f} GiB GPU peak)" if f.gpu_peak else "")
        lines.append(
            f"| {f.engine} | {f.params / 1e6:.0f}M | {device} | {fmt(f.load_seconds, 1)} | "
            f"{fmt(f.loaded_rss / gib, 2)} | {fmt(f.peak_rss / gib, 2)} | {f.tokens or '-'} | "
            f"{fmt(f.ms_per_token, 0)} | {fmt(f.step_ms, 0)} | {fmt(f.audio_seconds, 2)} | {fmt(f.rtf, 2)} | "
            f"{fmt(f.cpu_rtf, 2)} | {f.load_average} | {f.error} |"
        )
    return "\n".join(lines)


if __name__ == "__main__" and sys.argv[1:2] == ["measure"]:
    _, _, engine_name, data, cap_text = sys.argv
    print(json.dumps(asdict(measure(engine_name, Path(data), int(cap_text)))), flush=True)
    os._exit(0)  # an abandoned stream's worker thread (Pocket's) must not abort the exit
