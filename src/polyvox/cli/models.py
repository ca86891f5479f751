"""``polyvox models``: list the engines' weights, pull them from the hub, remove them.

A pull is the one command that reaches the network (``HF_ENDPOINT`` for a mirror, ``HF_TOKEN`` for gated
repositories, the usual proxy variables); serving never does. Licences that restrict use are shown and must
be accepted (``--accept-license``, or the prompt on a terminal).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from polyvox.cli.output import err, fail, listing
from polyvox.config import get_settings
from polyvox.engines.neural.pull import PullProgress, check_licence, pull, remove, require_source
from polyvox.engines.neural.sources import SOURCES
from polyvox.engines.readiness import readiness
from polyvox.engines.registry import discover_factories
from polyvox.errors import PolyvoxError

models_app = typer.Typer(
    help="The neural engines' weights: list, pull from the hub, remove.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

EngineArgument = Annotated[
    str,
    typer.Argument(
        help="xtts, pocket, chatterbox or chatterbox-multilingual; or voice files: piper/<voice id> "
        "(e.g. piper/en_GB-alan-medium), kokoro/<voice> (e.g. kokoro/af_heart), kokoro/english; or a "
        "multilingual Whisper model (speech recognition, translation): whisper/<size> (e.g. whisper/base)."
    ),
]


@models_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, every field.")] = False,
) -> None:
    """Each engine with published weights: its state, the download size, the licence and the folder."""
    settings = get_settings()
    factories = discover_factories()
    records = []
    for name, source in SOURCES.items():
        if name not in factories:
            continue
        ready = readiness(name, factories[name], settings)
        records.append(
            {
                "engine": name,
                "state": ready.state,
                "size_bytes": source.size_bytes,
                "license": source.licence.name,
                "must_accept": source.licence.must_accept,
                "folder": str(ready.weights.folder) if ready.weights else "",
                "next_step": ready.next_step or None,
            }
        )
    rows = [
        (
            str(r["engine"]),
            str(r["state"]),
            f"{int(str(r['size_bytes'])) / 1e9:.1f} GB",
            str(r["license"]) + (" (accept to pull)" if r["must_accept"] else ""),
            str(r["folder"]),
        )
        for r in records
    ]
    columns = ("engine", "state", "download", "licence", "folder")
    listing(columns, rows, records, as_json=as_json, whole=("engine", "state"))


def _accepted(engine: str, accept: bool) -> bool:
    """Whether the licence is accepted: the flag, or a yes at the prompt when a person is at a terminal."""
    licence = require_source(engine).licence
    if accept or not licence.must_accept:
        return accept
    if not sys.stdin.isatty():
        return False
    err.print(f"The {engine} weights are under the {licence.name}: {licence.note} ({licence.url}).")
    return typer.confirm("Accept this licence and download them?", default=False)


@models_app.command("pull")
def pull_command(
    engine: EngineArgument,
    accept_license: Annotated[
        bool, typer.Option("--accept-license", help="Accept the weights' licence (where it restricts use).")
    ] = False,
) -> None:
    """Download ENGINE's published weights into its folder (pinned revision, verified, resumable)."""
    settings = get_settings()
    try:
        accepted = _accepted(engine, accept_license)
        check_licence(require_source(engine), accepted)  # before the bar: nothing is fetched without it
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
        ) as bar:
            task = bar.add_task(engine, total=None)

            def show(progress: PullProgress) -> None:
                description = f"{engine}: {progress.file}"
                bar.update(
                    task, completed=progress.done_bytes, total=progress.total_bytes, description=description
                )

            folder = pull(settings, engine, accept_licence=accepted, report=show)
    except PolyvoxError as exc:
        raise fail(exc) from None
    err.print(f"{engine}: files in {folder}", highlight=False)


@models_app.command("remove")
def remove_command(engine: EngineArgument) -> None:
    """Delete the files a pull put in ENGINE's folder (files you added yourself stay)."""
    try:
        removed = remove(get_settings(), engine)
    except PolyvoxError as exc:
        raise fail(exc) from None
    err.print(f"{engine}: removed {len(removed)} files", highlight=False)
