"""Every engine the registry discovers, through the same protocol test.

The engines are enumerated from the ``polyvox.engines`` entry points (what :class:`EngineRegistry` is built
from), so an engine registered later is covered without touching this file; the Wyoming remote engine
(``engines.wyoming``, one engine per configured server) is added as the one kind configured rather than
registered, speaking to a Polyvox Wyoming server this module starts. Engines that read weights from a folder
get the tiny random checkpoints of their real architectures (``tests/neural_weights.py``,
``tests/e2e/chatterbox_checkpoint.py``): the audio is noise, but the protocol is the real one. An engine whose
folder still lacks files (a new engine nobody built weights for) is skipped with the files it lacks.

Each engine is loaded once (a module fixture per engine) and asked for as few syntheses as the checks need.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import threading
import warnings
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from tests import weights_cache
from tests.e2e.chatterbox_checkpoint import reference_tone
from tests.e2e.conftest import free_port

from polyvox.audio.chunk import AudioChunk
from polyvox.config import Settings
from polyvox.engines.base import ClonedVoice, Engine, EngineFactory, EngineInfo, SynthesisParams, Voice
from polyvox.engines.piper import PiperEngine
from polyvox.engines.readiness import weights_status
from polyvox.engines.registry import discover_factories
from polyvox.engines.wyoming_remote import wyoming_engines
from polyvox.service import Polyvox
from polyvox.voices.decode import LIBRARY_RATE
from polyvox.wyoming.server import run_wyoming

pytestmark = pytest.mark.slow

DISCOVERED = sorted(discover_factories())
REMOTE = "wyoming-remote"
"""An ``engines.wyoming`` entry: configured, not registered, so added to the discovered engines here."""
ENGINES = [*DISCOVERED, REMOTE]
TWO_SENTENCES = "Hello there. See you soon."
SHORT = "Hello there."
TRANSCRIPT = "The weather is nice today."


# -- weights ------------------------------------------------------------------------------------------
def _chatterbox(_root: Path) -> dict[str, Path]:
    """Both chatterbox checkpoints, built once in one subprocess (S3Gen peaks near 3 GB) and cached."""
    english, multilingual = weights_cache.chatterbox(conds=True)
    return {"chatterbox": english, "chatterbox-multilingual": multilingual}


def _neural(name: str) -> Callable[[Path], dict[str, Path]]:
    def build(_root: Path) -> dict[str, Path]:
        return {name: weights_cache.neural(name)}

    return build


WEIGHTS: dict[str, Callable[[Path], dict[str, Path]]] = {
    "xtts": _neural("xtts"),
    "pocket": _neural("pocket"),
    "styletts2": _neural("styletts2"),
    "chatterbox": _chatterbox,
    "chatterbox-multilingual": _chatterbox,
}
"""How the engines that read a weights folder get one: name -> builder of ``{engine: folder}``."""
SLOW = {
    "chatterbox": "its S3Gen and voice encoder keep their real sizes (1 GB random weights)",
    "chatterbox-multilingual": "it shares chatterbox's real-size S3Gen",
}
"""Engines whose tiny checkpoint still takes minutes to build, and each synthesis minutes, on two shared
cores (24 min for both here, under load 12-16): loaded only with POLYVOX_CONTRACT_ALL=1 (they passed so);
tests/e2e/test_cloning_engines.py runs them through a server by default. Their info is checked always."""
RUN_ALL = os.environ.get("POLYVOX_CONTRACT_ALL") == "1"


# -- the Wyoming server the remote engine speaks to ----------------------------------------------------
@contextlib.contextmanager
def wyoming_server(settings: Settings) -> Iterator[str]:
    """A Polyvox serving Wyoming (piper only: its 22,050 Hz is the rate a remote engine lists before any
    audio came) in a thread of its own; yields its URI."""
    uri = f"tcp://127.0.0.1:{free_port()}"
    ready, failed = threading.Event(), []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with Polyvox(settings, factories={"piper": PiperEngine}) as polyvox:
            server = asyncio.create_task(run_wyoming(polyvox, uri))
            host, port = uri.removeprefix("tcp://").split(":")
            for _ in range(500):
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection(host, int(port))
                    writer.close()
                    break
                await asyncio.sleep(0.02)
            ready.set()
            await stop.wait()
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="wyoming-server", daemon=True)
    thread.start()
    try:
        assert ready.wait(60) and not failed, failed
        yield uri
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


# -- one engine, loaded ----------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    factory: EngineFactory
    engine: Engine
    folder: Path

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.factory.info.parameters if p.default is not None}

    def speaking_voice(self) -> Voice:
        """The default voice, or (an engine of library voices only) a clone of a reference."""
        voices = self.engine.voices()
        if voices:
            wanted = self.engine.default_voice()
            return next(v for v in voices if v.id == wanted)
        assert self.factory.info.capabilities.cloning, f"{self.name} lists no voice and cannot clone"
        return self.clone()

    def clone(self) -> ClonedVoice:
        """A library voice as the voice router hands it to an engine that clones natively."""
        path = self.folder / "reference.wav"
        if not path.exists():
            samples = (reference_tone(180.0, rate=LIBRARY_RATE) * 32767).astype("<i2")
            with wave.open(str(path), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(LIBRARY_RATE)
                out.writeframes(samples.tobytes())
        language = self.factory.info.languages[0]
        return ClonedVoice(
            id="contract",
            name="Contract",
            engine=self.name,
            language=language,
            target="contract",
            reference=path,
            native=True,
            transcript=TRANSCRIPT,
        )

    def speak(self, text: str, voice: Voice | None = None, **params: object) -> list[AudioChunk]:
        produced = self.engine.synthesize(text, voice or self.speaking_voice(), SynthesisParams(**params))  # type: ignore[arg-type]
        assert isinstance(produced, Iterator), "synthesize must yield chunks as they come, not return them"
        chunks = list(produced)
        check_audio(chunks, self.factory.info.sample_rate)
        return chunks


def check_audio(chunks: list[AudioChunk], rate: int) -> None:
    """Float32 mono at the declared native rate, finite, within [-1, 1], not empty, not all zeros."""
    assert chunks, "the engine yielded no audio"
    for chunk in chunks:
        assert isinstance(chunk, AudioChunk)
        assert chunk.sample_rate == rate, (chunk.sample_rate, rate)
        assert chunk.samples.dtype == np.float32 and chunk.samples.ndim == 1
        assert np.all(np.isfinite(chunk.samples))
        assert float(np.max(np.abs(chunk.samples), initial=0.0)) <= 1.0
    samples = np.concatenate([c.samples for c in chunks])
    assert samples.size > 0 and np.any(samples != 0), "the engine yielded only silence"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-contract")


@pytest.fixture(scope="module", params=ENGINES)
def case(request: pytest.FixtureRequest, workspace: Path, data_dir: Path) -> Iterator[Case]:
    """One engine with what it needs (weights, a server), loaded once for all its checks."""
    name: str = request.param
    if name in SLOW and not RUN_ALL:
        # Not untested: tests/e2e/test_cloning_engines.py speaks, clones and seeds it through a server.
        pytest.skip(
            f"{name}: {SLOW[name]}: minutes a synthesis here; covered by "
            "tests/e2e/test_cloning_engines.py, and POLYVOX_CONTRACT_ALL=1 runs this contract on it too"
        )
    folder = workspace / name
    folder.mkdir(exist_ok=True)
    with warnings.catch_warnings():  # the model libraries' own notices while building (weight_norm, dropout)
        warnings.simplefilter("ignore")
        folders = WEIGHTS[name](workspace / "weights") if name in WEIGHTS else {}
    base = {"data_dir": data_dir, "voices_dir": folder / "voices"}
    engines = {"onnx_threads": 2, "model_dirs": {k: str(v) for k, v in folders.items()}}
    with contextlib.ExitStack() as stack:
        if name == REMOTE:
            uri = stack.enter_context(wyoming_server(Settings(**base, engines={"onnx_threads": 2})))
            engines["wyoming"] = {REMOTE: uri}
        settings = Settings(**base, engines=engines)
        factory = wyoming_engines(settings)[REMOTE] if name == REMOTE else discover_factories()[name]
        status = weights_status(factory, settings)
        if status is not None and not status.ready:
            pytest.skip(f"{name}: no weights to run it here: {status.message}")
        engine = factory(settings)
        with warnings.catch_warnings():  # and while constructing them to load the weights
            warnings.simplefilter("ignore")
            engine.load()
        threads = _torch_threads(1) if name in WEIGHTS else None  # two threads stall on two shared cores
        try:
            yield Case(name, factory, engine, folder)
        finally:
            if threads is not None:
                _torch_threads(threads)
            engine.unload()
            del engine
            gc.collect()


def _torch_threads(count: int) -> int:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    return before


def test_discovery_is_not_empty() -> None:
    assert {"piper", "kokoro", "espeak", "tone"} <= set(DISCOVERED), DISCOVERED


# -- the protocol ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DISCOVERED)
def test_info_is_coherent(name: str) -> None:
    check_info(name, discover_factories()[name].info)


def check_info(name: str, info: EngineInfo) -> None:
    """Static facts a front door relies on: rate, languages, speeds, parameter ranges and defaults."""
    assert info.name == name and info.label and info.description
    assert 8_000 <= info.sample_rate <= 48_000
    assert info.languages and all(code == code.lower() and code.strip() for code in info.languages)
    assert len(set(info.languages)) == len(info.languages)
    low, high = info.speed_range
    assert 0 < low <= 1.0 <= high
    assert info.batch_chars >= 0 and info.isolation in ("thread", "process")
    names = [n for p in info.parameters for n in (p.name, *p.aliases)]
    assert len(names) == len(set(names)), f"parameter names and aliases collide: {names}"
    assert info.parameter_names == set(names)
    for param in info.parameters:
        assert info.parameter(param.name) is param
        assert param.low <= param.high and not math.isnan(param.low + param.high), param
        if param.default is not None:
            assert param.low <= param.default <= param.high, param
            assert not param.integer or float(param.default).is_integer(), param


def test_the_loaded_engine_keeps_the_protocol(case: Case) -> None:
    assert isinstance(case.engine, Engine)
    check_info(case.name, case.factory.info)  # the remote engine's info is only known from its server


def test_voices_are_listed_coherently(case: Case) -> None:
    info, voices = case.factory.info, case.engine.voices()
    assert voices or info.capabilities.cloning, "an engine that cannot clone must list voices"
    ids = [v.id for v in voices]
    assert len(ids) == len(set(ids)), "voice ids repeat"
    if voices:
        assert case.engine.default_voice() in ids
    for voice in voices:
        assert voice.engine == case.name and voice.id and voice.name
        assert voice.language == voice.language.lower()
        assert len(set(voice.speakers)) == len(voice.speakers)


def test_speaks_with_its_declared_defaults_at_its_native_rate(case: Case) -> None:
    # One call for both checks (the neural engines cost seconds a call): the declared defaults, passed
    # explicitly, are accepted, and what comes back is audio at the native rate with the text it speaks.
    chunks = case.speak(TWO_SENTENCES, extra=case.defaults)
    assert all(c.text for c in chunks)


def test_speeds_at_both_ends_of_its_range(case: Case) -> None:
    low, high = case.factory.info.speed_range
    if low == high == 1.0:
        pytest.skip(f"{case.name} renders one speed; the pipeline time-stretches")
    # The same seed for both, where the engine samples: random weights stop at a random token otherwise.
    same = {"extra": {"seed": 1}} if any(p.name == "seed" for p in case.factory.info.parameters) else {}
    slow = sum(c.num_samples for c in case.speak(SHORT, speed=low, **same))
    fast = sum(c.num_samples for c in case.speak(SHORT, speed=high, **same))
    assert slow > fast, (slow, fast)  # rendered natively: a slower speed is longer audio


def test_clones_a_reference_when_it_declares_cloning(case: Case) -> None:
    if not case.factory.info.capabilities.cloning:
        pytest.skip(f"{case.name} does not clone")
    case.speak(SHORT, voice=case.clone())
