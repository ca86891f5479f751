"""Fetch an engine's published weights into its folder: the one explicit act that reaches a network.

``pull`` asks the hub (``HF_ENDPOINT`` for a mirror, ``HF_TOKEN`` for gated repositories, the usual proxy
variables) for each file of the engine's :class:`~polyvox.engines.neural.sources.WeightsSource` at its pinned
revision (``huggingface_hub`` builds the URLs and headers and reads the hub's metadata), downloads it into a
``.part`` file in a staging folder beside the engine's folder (an interrupted pull resumes from what is there,
with a ``Range`` request), verifies its size and hash against what the hub announced (the
SHA-256 of large files, the git blob hash of small ones), and only when every file is verified moves them into
the engine's folder, each with an atomic rename. A corrupt file is deleted and nothing reaches the folder.

Run as ``python -m polyvox.engines.neural.pull ENGINE [--accept-license]``, it prints one JSON object per line
(progress, then the result): the server's pulls run that way, in a process of their own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyvox.engines.neural.runtime import OFFLINE_SWITCHES
from polyvox.engines.neural.sources import WeightsSource, source_of
from polyvox.engines.neural.weights import model_dir
from polyvox.errors import InvalidParameterError, NotFoundError, PolyvoxError

if TYPE_CHECKING:
    from polyvox.config import Settings

STAGING_PREFIX = ".pull-"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
READ_TIMEOUT = 60.0
"""Seconds without a byte before a download counts as broken (a later pull resumes it)."""


class LicenceNotAcceptedError(InvalidParameterError):
    """The weights' licence restricts their use and the user has not accepted it."""

    code = "license_not_accepted"


class PullFailedError(PolyvoxError):
    """The hub could not be reached, refused the request, or sent a file that failed verification."""

    status = 502
    code = "pull_failed"


@dataclass(frozen=True, slots=True)
class PullProgress:
    """Where a pull stands: bytes done of the total, and the file being fetched."""

    engine: str
    done_bytes: int
    total_bytes: int
    file: str


Report = Callable[[PullProgress], None]


def target_dir(settings: Settings, source: WeightsSource) -> Path:
    """Where a pull puts its files: the engine's folder, the voices folder for voice files, or a folder of
    ``asr.models_dir`` for a Whisper model."""
    if source.asr_model:
        return settings.resolved_asr_models_dir / source.asr_model
    return settings.resolved_voices_dir if source.into_voices else model_dir(settings, source.engine)


def staging_dir(settings: Settings, source: WeightsSource) -> Path:
    """Where a pull stages its files: beside their folder, so the final moves are renames."""
    folder = target_dir(settings, source)
    return folder.parent / f"{STAGING_PREFIX}{folder.name}-{source.engine.replace('/', '-')}"


def check_licence(source: WeightsSource, accepted: bool) -> None:
    if source.licence.must_accept and not accepted:
        licence = source.licence
        raise LicenceNotAcceptedError(
            f"the {source.engine} weights are under the {licence.name} ({licence.note}; {licence.url}): "
            "accept it to pull them (--accept-license, or accept_license: true)",
            param="accept_license",
        )


def require_source(engine: str) -> WeightsSource:
    source = source_of(engine)
    if source is None:
        raise NotFoundError(
            f"nothing to pull for {engine!r}: pull xtts, pocket, chatterbox, chatterbox-multilingual, "
            "piper/<voice id>, kokoro/<voice> (kokoro/english for its English voices) or whisper/<size> "
            "(tiny, base, small, medium: a multilingual Whisper model for speech recognition); other "
            "engines' "
            "files go in their folder by hand (README, Engines)",
            param="engine",
        )
    return source


def _hub_environment() -> None:
    """A pull is the one place that may reach the hub: lift the offline switches serving sets."""
    for name in OFFLINE_SWITCHES:
        os.environ.pop(name, None)


def _verify(path: Path, size: int | None, etag: str | None) -> None:
    """The file's size and hash against the hub's announcement (SHA-256 of LFS files, else git's blob
    SHA-1)."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise PullFailedError(f"{path.name}: {actual} bytes where the hub announced {size}")
    tag = (etag or "").strip('"').removeprefix("W/").strip('"').lower()
    if _SHA256.match(tag):
        digest = hashlib.sha256()
    elif _SHA1.match(tag):
        digest = hashlib.sha1()  # git's blob hash, as the hub announces it
        digest.update(f"blob {actual}\0".encode())
    else:
        return
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != tag:
        raise PullFailedError(f"{path.name}: its hash does not match the hub's ({tag[:12]}…): not kept")


def _fetch(
    url: str, part: Path, size: int | None, headers: dict[str, str], tell: Callable[[int], None]
) -> None:
    """Download ``url`` into ``part``, continuing from what ``part`` already holds (a ``Range`` request)."""
    from huggingface_hub.utils._http import get_session, hf_raise_for_status

    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:  # not a prefix of this file: start again
        part.unlink()
        have = 0
    if size is not None and have == size:
        tell(have)
        return
    wanted = {**headers, "Accept-Encoding": "identity"} | ({"Range": f"bytes={have}-"} if have else {})
    with get_session().stream(
        "GET", url, headers=wanted, follow_redirects=True, timeout=READ_TIMEOUT
    ) as answer:
        hf_raise_for_status(answer)
        if have and answer.status_code != 206:  # the server sent the whole file: start again
            have = 0
        with part.open("ab" if have else "wb") as out:
            tell(have)
            for piece in answer.iter_bytes():
                out.write(piece)
                out.flush()  # on disk as it arrives, so an interrupted pull keeps what it got
                have += len(piece)
                tell(have)


def pull(
    settings: Settings, engine: str, *, accept_licence: bool = False, report: Report | None = None
) -> Path:
    """Fetch ``engine``'s weights into its folder; returns the folder. Blocking (network and disk)."""
    source = require_source(engine)
    check_licence(source, accept_licence)
    _hub_environment()
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils._headers import build_hf_headers

    folder, staging = target_dir(settings, source), staging_dir(settings, source)
    staging.mkdir(parents=True, exist_ok=True)
    endpoint = os.environ.get("HF_ENDPOINT") or None
    headers = build_hf_headers(library_name="polyvox")  # HF_TOKEN, when set, for gated repositories
    try:
        urls = [hf_hub_url(f.repo, f.path, revision=f.revision, endpoint=endpoint) for f in source.files]
        announced = [get_hf_file_metadata(url, headers=headers) for url in urls]
        total = sum(meta.size or 0 for meta in announced)
        done = 0
        for file, url, meta in zip(source.files, urls, announced, strict=True):

            def tell(current: int, name: str = file.local_name, before: int = done) -> None:
                if report is not None:
                    report(PullProgress(engine, before + current, total, name))

            part = staging / f"{file.local_name}.part"
            _fetch(url, part, meta.size, headers, tell)
            try:
                _verify(part, meta.size, meta.etag)
            except PullFailedError:
                part.unlink(missing_ok=True)
                raise
            done += part.stat().st_size
    except (HfHubHTTPError, OSError, ImportError) as exc:
        raise PullFailedError(f"pulling {engine}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # the HTTP client's own errors (timeouts, refused connections)
        if type(exc).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore", "httpcore2"):
            raise
        raise PullFailedError(f"pulling {engine}: {type(exc).__name__}: {exc}") from exc
    if source.finish is not None:
        source.finish(staging)
    folder.mkdir(parents=True, exist_ok=True)
    for file in source.files:
        os.replace(staging / f"{file.local_name}.part", folder / file.local_name)
    if source.finish is not None:
        os.replace(staging / "config.yaml", folder / "config.yaml")
    shutil.rmtree(staging, ignore_errors=True)
    return folder


def remove(settings: Settings, engine: str) -> list[Path]:
    """Delete the files a pull puts in ``engine``'s folder (and any staged pull); returns what was removed."""
    source = require_source(engine)
    folder = target_dir(settings, source)
    names = [f.local_name for f in source.files] + (["config.yaml"] if source.finish is not None else [])
    removed = [folder / name for name in names if (folder / name).is_file()]
    for path in removed:
        path.unlink()
    shutil.rmtree(staging_dir(settings, source), ignore_errors=True)
    return removed


def main(argv: list[str] | None = None) -> None:
    """JSON lines on stdout: ``{"progress": {...}}`` while fetching, then ``{"done": FOLDER}`` or the error
    body ``{"error": {...}}``."""
    parser = argparse.ArgumentParser(prog="python -m polyvox.engines.neural.pull")
    parser.add_argument("engine")
    parser.add_argument("--accept-license", action="store_true")
    args = parser.parse_args(argv)
    from polyvox.config import Settings

    def emit(item: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(item) + "\n")
        sys.stdout.flush()

    try:
        folder = pull(
            Settings(),
            args.engine,
            accept_licence=args.accept_license,
            report=lambda p: emit({"progress": asdict(p)}),
        )
    except PolyvoxError as exc:
        emit(exc.to_dict())
        raise SystemExit(1) from None
    emit({"done": str(folder)})


if __name__ == "__main__":
    main()
