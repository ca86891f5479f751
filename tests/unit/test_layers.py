"""The package's layers (docs/architecture.md): imports run downward only and no modules import each other
in a circle. Every import counts, lazy ones and ``TYPE_CHECKING`` ones included: they are dependencies too.
The page names every module, so a newcomer finds each one there."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import polyvox

PACKAGE = Path(polyvox.__file__).parent
ARCHITECTURE = Path(__file__).parents[2] / "docs" / "architecture.md"

# fmt: off
LAYERS: list[tuple[str, tuple[str, ...]]] = [  # top to bottom; a module may import its own layer and below
    ("front doors", ("api", "cli")),
    ("features", ("wyoming", "realtime", "monitor", "audiobook", "dialogue")),
    ("service", ("service", "longform", "doctor")),
    ("pipeline", ("synthesis", "session", "delivered", "stream", "segment_plan", "segment_render",
                  "stream_mode", "runners")),
    ("requests", ("request", "bounds", "admission", "voice_router", "voice_names", "openai_names")),
    ("engines", ("engines", "stt")),
    ("helpers", ("voices", "audio", "text", "cache", "postprocess", "captions", "spill")),
    ("ground", ("config", "errors", "logs", "tasks", "language", "jsontext")),
]
# fmt: on
DEPTH = {top: len(LAYERS) - i for i, (_, tops) in enumerate(LAYERS) for top in tops}
NAME = {top: name for name, tops in LAYERS for top in tops}


def module_file(dotted: str) -> Path | None:
    """The file of ``polyvox.a.b`` (a module, or a package's ``__init__.py``), if it is one of ours."""
    parts = dotted.split(".")
    if parts[0] != "polyvox" or len(parts) == 1:
        return None
    path = PACKAGE.joinpath(*parts[1:])
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imports(path: Path) -> set[Path]:
    """Every polyvox module ``path`` imports, wherever the import statement stands."""
    found: set[Path] = set()
    package = ["polyvox", *path.relative_to(PACKAGE).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # ``from polyvox.api.routes import marytts`` imports that module, ``from polyvox.x import Name`` x
            names = [f"{base}.{a.name}" if module_file(f"{base}.{a.name}") else base for a in node.names]
        else:
            continue
        found.update(file for name in names if (file := module_file(name)) is not None)
    found.discard(path)
    return found


def top(path: Path) -> str:
    """The top-level module or package of polyvox that ``path`` belongs to."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


GRAPH = {path: imports(path) for path in PACKAGE.rglob("*.py") if path != PACKAGE / "__init__.py"}


def test_every_module_has_a_layer() -> None:
    assert {top(path) for path in GRAPH} <= set(DEPTH), "a new top-level module: give it a layer in LAYERS"


def test_imports_run_downward() -> None:
    upward = [
        f"{path.relative_to(PACKAGE)} ({NAME[top(path)]}) imports {target.relative_to(PACKAGE)} "
        f"({NAME[top(target)]})"
        for path, targets in GRAPH.items()
        for target in targets
        if DEPTH[top(target)] > DEPTH[top(path)]
    ]
    assert upward == []


def test_no_import_circles() -> None:
    try:
        tuple(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as exc:
        cycle = [str(Path(p).relative_to(PACKAGE)) for p in exc.args[1]]
        raise AssertionError(f"import circle: {' -> '.join(cycle)}") from None


def test_every_module_is_named_in_the_architecture_page() -> None:
    page = ARCHITECTURE.read_text(encoding="utf-8")
    rooms = {
        f"`{top(path)}/`" if len(path.relative_to(PACKAGE).parts) > 1 else f"`{top(path)}.py`"
        for path in GRAPH
    }
    modules = {
        path.relative_to(PACKAGE).as_posix()
        for path in GRAPH
        if path.name not in ("__init__.py", "__main__.py") and len(path.relative_to(PACKAGE).parts) > 1
    }
    missing = sorted(room for room in rooms if room not in page)
    missing += sorted(module for module in modules if f"`{module}`" not in page)
    assert missing == [], f"name these in {ARCHITECTURE.relative_to(ARCHITECTURE.parents[1])}: {missing}"
