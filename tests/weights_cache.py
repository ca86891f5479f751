"""The tiny neural checkpoints, built once and kept between runs, keyed by a hash of what builds them.

Building them takes minutes (torch, the real HiFi-GAN/S3Gen sizes) and was done in several modules on every
run. The key covers the builders' source (``tests/neural_weights.py``, ``tests/e2e/chatterbox_checkpoint``,
the engine modules they call), the versions of the packages whose modules they instantiate, the Python
version and the build command: any change there builds afresh. A build runs in a subprocess (torch and the
3 GB peak stay out of the test process) into a scratch folder that is renamed into place once complete,
under a file lock, so two xdist workers asking at once build it once and a killed build leaves nothing
half-written.

The cache lives in ``$POLYVOX_TEST_CACHE`` (default ``~/.cache/polyvox-tests``). Consumers must not write into
a cached folder: a test that edits files copies or links them into a folder of its own first.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
NEURAL = REPO / "src" / "polyvox" / "engines" / "neural"
BUILDERS = (
    REPO / "tests" / "neural_weights.py",
    REPO / "tests" / "e2e" / "chatterbox_checkpoint.py",
    # the engine code the builders call (chatterbox's hparams and conditionals, the compat shims)
    *(NEURAL / f"{name}.py" for name in ("chatterbox", "chatterbox_mtl", "compat", "runtime")),
)
PACKAGES = (
    *("torch", "transformers", "tokenizers", "sentencepiece"),
    *("coqui-tts", "pocket-tts", "chatterbox-light", "styletts2"),
)
BUILD_TIMEOUT = 900


def cache_root() -> Path:
    default = Path.home() / ".cache" / "polyvox-tests"
    return Path(os.environ.get("POLYVOX_TEST_CACHE", default))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def build_key(name: str, args: list[str]) -> str:
    digest = hashlib.sha256()
    for part in (name, sys.version, *args, *(f"{p}={_version(p)}" for p in PACKAGES)):
        digest.update(part.encode() + b"\0")
    for builder in BUILDERS:
        digest.update(builder.read_bytes())
    return digest.hexdigest()[:16]


def cached_build(name: str, args: list[str]) -> Path:
    """The folder ``python ARGS... FOLDER`` fills (run in the repository root), built once per key.

    ``args`` is the command after the interpreter; the scratch folder is appended as its last argument.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{name}-{build_key(name, args)}"
    with FileLock(str(final) + ".lock"):
        if final.is_dir():
            return final
        scratch = root / f"{final.name}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run(
            [sys.executable, *args, str(scratch)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
        if done.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise RuntimeError(f"building {name} failed:\n{done.stderr[-4000:]}")
        scratch.rename(final)
    return final


def neural(builder: str) -> Path:
    """The folder of ``tests.neural_weights.build_<builder>`` (xtts, pocket, styletts2)."""
    code = f"import sys, pathlib, tests.neural_weights as w; w.build_{builder}(pathlib.Path(sys.argv[1]))"
    return cached_build(builder, ["-c", code])


CHATTERBOX_CODE = (
    "import sys, pathlib; from tests.e2e import chatterbox_checkpoint as c; "
    "root = pathlib.Path(sys.argv[1]); english = c.build(root / 'english', conds={conds}); "
    "c.build_multilingual(root / 'multilingual', english)"
)


def chatterbox(*, conds: bool) -> tuple[Path, Path]:
    """The English and multilingual chatterbox folders (the latter's S3Gen links to the former's)."""
    name = "chatterbox-conds" if conds else "chatterbox"
    root = cached_build(name, ["-c", CHATTERBOX_CODE.format(conds=conds)])
    return root / "english", root / "multilingual"
