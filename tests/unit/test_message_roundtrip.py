"""Every message type of the WebSocket protocols and every Wyoming event Polyvox handles, round-tripped.

The types are read from the code, not listed here: the client messages from the discriminated unions of
:mod:`polyvox.realtime.protocol` (and checked against the type tables that refuse unknown types and
dispatch known ones), the Wyoming events from the event classes :mod:`polyvox.wyoming.handler` and
:mod:`polyvox.wyoming.info` use (and checked against the handler's dispatch table). A message type
added later is round-tripped without touching this file; one the samples below cannot fill fails loudly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from tests.conftest import make_settings
from wyoming.event import Event, Eventable, async_read_event, write_event

from polyvox.api.routes.ws_tts import TTSSession
from polyvox.realtime import protocol
from polyvox.service import Polyvox
from polyvox.wyoming import handler as wyoming_handler
from polyvox.wyoming import info as wyoming_info
from polyvox.wyoming.handler import PolyvoxEventHandler
from polyvox.wyoming.info import build_info
from polyvox.wyoming.read import read_event

SAMPLES: dict[str, Any] = {
    "text": "Hello there.",
    "context_id": "ctx-1",
    "engine": "tone",
    "voice": "beep",
    "language": "en-us",
    "speaker": "narrator",
    "speed": 1.5,
    "volume": 0.5,
    "format": "wav",
    "sample_rate": 22050,
    "output_sample_rate": 24000,
    "rate": 22050,
    "width": 2,
    "channels": 1,
    "audio": b"\x01\x00\xff\x7f",
    "extra": {"delay": 0.1},
    "system_prompt": "Answer briefly.",
}
"""Values that are valid where the field has bounds (rates, widths, context ids); the rest by type."""


def _members(union: Any) -> list[type[BaseModel]]:
    """The models of an ``Annotated[A | B | ..., Field(discriminator=...)]``."""
    inner = get_args(union)[0]
    return list(get_args(inner))


def _literal(model: type[BaseModel]) -> str:
    (value,) = get_args(model.model_fields["type"].annotation)
    return str(value)


def _sample(annotation: Any, name: str) -> Any:
    """A non-default value of ``annotation`` for field ``name`` (nested dataclasses filled too)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return _sample(next(a for a in get_args(annotation) if a is not type(None)), name)
    if name in SAMPLES and isinstance(SAMPLES[name], origin or annotation):
        return SAMPLES[name]
    if origin is Literal:
        return get_args(annotation)[0]
    if origin in (list, typing.List):  # noqa: UP006 (wyoming annotates with typing.List)
        return [_sample(get_args(annotation)[0], name)]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return {"key": "value"}
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return _dataclass_sample(annotation)
    by_type = {str: f"{name}-sample", bool: True, int: 3, float: 0.25, bytes: b"\x00\x01"}
    if annotation in by_type:
        return by_type[annotation]
    raise AssertionError(f"no sample for field {name!r} of type {annotation!r}: add one to SAMPLES")


def _dataclass_sample(cls: type[Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(cls) if f.init})


def _model_sample(model: type[BaseModel]) -> BaseModel:
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name == "type":
            values[name] = _literal(model)
        elif field.annotation is bool and not field.is_required():
            values[name] = not field.get_default()  # the other value: defaults prove nothing
        else:
            values[name] = _sample(field.annotation, name)
    return model(**values)


# -- WebSocket client messages ---------------------------------------------------------------------
SOCKETS = [
    pytest.param(protocol.TTSMessage, protocol.parse_tts, protocol.TTS_TYPES, id="ws-tts"),
    pytest.param(
        protocol.ConverseMessage, protocol.parse_converse, protocol.CONVERSE_TYPES, id="ws-converse"
    ),
]


@pytest.mark.parametrize(("union", "parse", "known"), SOCKETS)
def test_every_client_message_round_trips(union: Any, parse: Any, known: tuple[str, ...]) -> None:
    members = _members(union)
    assert sorted(_literal(m) for m in members) == sorted(known)  # the unknown-type check knows them all
    for model in members:
        message = _model_sample(model)
        for name, field in model.model_fields.items():  # every field travels with a value of its own
            if not field.is_required():
                default = field.get_default(call_default_factory=True)
                assert getattr(message, name) != default, f"{model.__name__}.{name}: sample = default"
        again = parse(json.dumps(message.model_dump()))
        assert type(again) is model and again == message, (model.__name__, again, message)


def test_every_tts_message_type_has_a_handler() -> None:
    assert set(TTSSession._handlers) == {_literal(m) for m in _members(protocol.TTSMessage)}


# -- Wyoming events ------------------------------------------------------------------------------------
def _eventables(*modules: types.ModuleType) -> dict[str, type[Eventable]]:
    """The Wyoming event classes the modules use, by the event type they write."""
    found: dict[str, type[Eventable]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Eventable) and value is not Eventable:
                found[_dataclass_sample(value).event().type] = value
    return found


EVENTS = _eventables(wyoming_handler, wyoming_info)


def _round_trip(event: Event, max_bytes: int) -> tuple[Event | None, Event | None]:
    """The event written as on the wire, read back by Polyvox's bounded reader and by wyoming's."""
    wire = io.BytesIO()
    write_event(event, wire)

    async def read_both() -> tuple[Event | None, Event | None]:
        ours, theirs = asyncio.StreamReader(), asyncio.StreamReader()
        for reader in (ours, theirs):
            reader.feed_data(wire.getvalue())
            reader.feed_eof()
        return await read_event(ours, max_bytes), await async_read_event(theirs)

    return asyncio.run(read_both())


async def test_the_handler_dispatches_only_event_types_it_knows(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path)) as polyvox:
        handler = PolyvoxEventHandler(polyvox, asyncio.StreamReader(), None)  # type: ignore[arg-type]
        table = set(handler._table)
    assert table and table <= set(EVENTS), table - set(EVENTS)
    # What it answers with is among them too: audio, errors, info, pong, synthesize-stopped.
    assert {"audio-start", "audio-chunk", "audio-stop", "error", "info", "pong", "synthesize-stopped"} <= set(
        EVENTS
    )


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_every_wyoming_event_round_trips(kind: str, tmp_path: Path) -> None:
    cls = EVENTS[kind]
    original = _dataclass_sample(cls)
    cap = make_settings(tmp_path).wyoming.max_event_bytes
    ours, theirs = _round_trip(original.event(), cap)
    assert ours is not None and theirs is not None
    assert (ours.type, ours.data, ours.payload) == (theirs.type, theirs.data, theirs.payload)
    again = cls.from_event(ours).event()  # what Polyvox reads back, written again: the same event
    assert (again.type, again.data, again.payload) == (ours.type, ours.data, ours.payload)
    assert all(value is not None for value in ours.data.values()), ours.data  # every field was filled


async def test_the_info_polyvox_builds_round_trips(tmp_path: Path) -> None:
    async with Polyvox(make_settings(tmp_path)) as polyvox:
        info = build_info(polyvox.registry)
    assert info.tts and any(program.voices for program in info.tts)
    ours, _ = await asyncio.to_thread(
        _round_trip, info.event(), make_settings(tmp_path).wyoming.max_event_bytes
    )
    assert ours is not None and type(info).from_event(ours) == info
