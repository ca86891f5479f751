"""The lexicon API over HTTP: list, put, delete; persisted to the file; used by the next synthesis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from polyvox.api.app import create_app
from polyvox.config import Settings

RATE = 16_000
WORD = 0.2  # the tone engine's seconds per word


def stored(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def lexicon_file(tmp_path: Path) -> Path:
    return tmp_path / "lexicon.json"


@pytest.fixture
async def client(tmp_path: Path, lexicon_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path,
        engines={"enable_test_engines": True, "default": "tone", "workers": 2},
        server={"preload_default": False},
        text={"lexicon_file": lexicon_file},
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://polyvox") as client,
    ):
        yield client


async def test_put_list_delete_round_trip(client: httpx.AsyncClient, lexicon_file: Path) -> None:
    assert (await client.get("/v1/lexicon")).json() == {"languages": {}}
    put = await client.put(
        "/v1/lexicon/en-US/Polyvox", json={"phonemes": "pˈɑːlivɑːks", "respelling": "polly vox"}
    )
    assert put.status_code == 200, put.text
    assert put.json() == {
        "language": "en",
        "word": "polyvox",
        "phonemes": "pˈɑːlivɑːks",
        "respelling": "polly vox",
    }
    await client.put("/v1/lexicon/de/GIF", json={"respelling": "jiff"})
    listed = (await client.get("/v1/lexicon")).json()
    assert listed == {
        "languages": {
            "de": {"gif": {"phonemes": None, "respelling": "jiff"}},
            "en": {"polyvox": {"phonemes": "pˈɑːlivɑːks", "respelling": "polly vox"}},
        }
    }
    assert (await client.get("/v1/lexicon", params={"language": "de"})).json()["languages"].keys() == {"de"}
    # Persisted in the lexicon file's own format, and no temporary file left behind.
    assert stored(lexicon_file) == {
        "en": {"polyvox": {"phonemes": "pˈɑːlivɑːks", "say": "polly vox"}},
        "de": {"gif": {"say": "jiff"}},
    }
    assert sorted(p.name for p in lexicon_file.parent.iterdir() if "lexicon" in p.name) == ["lexicon.json"]
    assert (await client.delete("/v1/lexicon/en/POLYVOX")).status_code == 204
    missing = await client.delete("/v1/lexicon/en/polyvox")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert stored(lexicon_file) == {"en": {}, "de": {"gif": {"say": "jiff"}}}


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/lexicon/en/word", {}, "phonemes"),
        ("/v1/lexicon/en/word", {"phonemes": "  "}, "phonemes"),
        ("/v1/lexicon/en/word", {"phonemes": "[[ x ]]"}, "phonemes"),
        ("/v1/lexicon/en/two%20words", {"respelling": "x"}, "word"),
        ("/v1/lexicon/e1/word", {"respelling": "x"}, "language"),
    ],
)
async def test_bad_entries_are_rejected(
    client: httpx.AsyncClient, path: str, body: dict[str, str], param: str
) -> None:
    reply = await client.put(path, json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["param"] == param


async def test_a_new_respelling_applies_to_the_next_request(client: httpx.AsyncClient) -> None:
    async def seconds(text: str) -> float:
        reply = await client.post("/v1/synthesize", json={"text": text, "engine": "tone", "format": "pcm"})
        assert reply.status_code == 200, reply.text
        return len(reply.content) / 2 / RATE

    assert await seconds("say GIF") == pytest.approx(2 * WORD)
    await client.put("/v1/lexicon/en/gif", json={"respelling": "graphics interchange format"})
    assert await seconds("say GIF") == pytest.approx(4 * WORD)  # the tone engine reads one tone a word
