"""Fixtures shared by every test layer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from polyvox.config import Settings
from polyvox.service import Polyvox


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings isolated in a temporary data directory, with the test engine visible."""
    engines = {"enable_test_engines": True, "ttl": -1, "workers": 2, **overrides.pop("engines", {})}
    return Settings(data_dir=tmp_path / "data", engines=engines, **overrides)


def read_trace(path: Path) -> list[dict[str, Any]]:
    """The tone engine's trace: one record per synthesized segment."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    return tmp_path / "tone-trace.jsonl"


@pytest.fixture
async def tone_polyvox(tmp_path: Path, trace_file: Path) -> AsyncIterator[Polyvox]:
    """A Polyvox whose default engine is the deterministic tone engine."""
    settings = make_settings(tmp_path, engines={"default": "tone"}, tone={"trace_file": trace_file})
    async with Polyvox(settings) as polyvox:
        yield polyvox
