"""The consent store of OpenAI's custom voices: on disk, written whole or not at all, and never deleted while
a voice made from it is being stored (issue 29)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from polyvox.errors import InvalidParameterError
from polyvox.voices import consents
from polyvox.voices.consents import ConsentInUseError, ConsentNotFoundError, ConsentStore

RECORDING = (0.2 * np.sin(np.arange(24_000) / 10)).astype(np.float32)


def test_consents_persist_and_are_listed_newest_first(tmp_path: Path) -> None:
    store = ConsentStore(tmp_path)
    first = store.add("First", "en-US", RECORDING)
    second = store.add("Second", "ja", RECORDING)
    store.rename(first.id, "Renamed")
    reopened = ConsentStore(tmp_path)  # what a restarted server sees
    assert [c.id for c in reopened.list()] == [second.id, first.id]
    assert reopened.get(first.id).name == "Renamed" and reopened.get(first.id).language == "en-US"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.id, second.id])  # no temporary files
    reopened.delete(first.id, lambda _: [])
    with pytest.raises(ConsentNotFoundError):
        store.get(first.id)
    with pytest.raises(ConsentNotFoundError):
        store.get("../" + second.id)
    with pytest.raises(InvalidParameterError):
        store.add("Bad", "english please", RECORDING)


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(consents, "encode_whole", broken)
    with pytest.raises(OSError):
        ConsentStore(tmp_path).add("Name", "en", RECORDING)
    assert list(tmp_path.iterdir()) == []


def test_a_consent_cannot_be_deleted_while_a_voice_is_made_from_it(tmp_path: Path) -> None:
    """The delete waits for the voice being stored, then sees it and refuses."""
    store = ConsentStore(tmp_path)
    consent = store.add("Name", "en", RECORDING)
    voices: list[str] = []
    holding, deleting, stored = threading.Event(), threading.Event(), threading.Event()
    outcome: list[BaseException | None] = []
    checked_after_storing: list[bool] = []

    def make_voice() -> None:
        with store.using(consent.id):
            holding.set()
            assert deleting.wait(10)
            voices.append("voice_1")  # the voice is stored while the consent is held
            stored.set()

    def voices_of(_: str) -> list[str]:
        checked_after_storing.append(stored.is_set())
        return list(voices)

    def delete() -> None:
        assert holding.wait(10)
        deleting.set()
        try:
            store.delete(consent.id, voices_of)
            outcome.append(None)
        except ConsentInUseError as exc:
            outcome.append(exc)

    threads = [threading.Thread(target=make_voice), threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert checked_after_storing == [True]  # the delete waited for the voice being stored
    assert isinstance(outcome[0], ConsentInUseError) and "voice_1" in outcome[0].message
    assert store.get(consent.id).id == consent.id
