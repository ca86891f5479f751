"""``RequestFields``: each front door's schema makes its ``SynthesisRequest`` with ``to_request``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from polyvox.api.routes.captioned import CaptionedRequest
from polyvox.api.routes.chatterbox_server import SeedSpeech
from polyvox.api.speech_requests import SpeechRequest, SynthesizeRequest
from polyvox.errors import InvalidParameterError
from polyvox.realtime.protocol import ConverseStart, TTSStart
from polyvox.request import RequestFields, check_rendering


def test_native_fields_all_reach_the_request() -> None:
    body = SynthesizeRequest.model_validate(
        {
            "text": "Hello.",
            "engine": "piper",
            "voice": "joe",
            "language": "en-us",
            "speaker": "p1",
            "speed": 1.5,
            "volume": 0.5,
            "sample_rate": 16000,
            "normalize": False,
            "input_type": "ssml",
            "noise_scale": 0.3,
            "format": "mp3",
        }
    )
    request = body.to_request(extra=body.engine_extra(), request_id="r1")
    assert (request.text, request.engine, request.voice) == ("Hello.", "piper", "joe")
    assert request.language == "en-us"
    assert (request.speaker, request.speed, request.volume, request.sample_rate) == ("p1", 1.5, 0.5, 16000)
    assert (request.normalize, request.input_type, request.lexicon) == (False, "ssml", True)
    assert request.extra == {"noise_scale": 0.3} and request.request_id == "r1"


def test_overrides_win_and_door_only_fields_stay_out() -> None:
    body = SpeechRequest.model_validate(
        {
            "input": "Hi.",
            "voice": {"id": "alloy"},
            "language": "de",
            "speed": 2,
            "volume": 3,
            "model": "tts-1",
        }
    )
    request = body.to_request(text=body.input, engine="kokoro", voice="af_heart", request_id="r2")
    assert (request.text, request.engine, request.voice) == ("Hi.", "kokoro", "af_heart")
    assert (request.language, request.speed) == ("de", 2.0)
    assert request.volume == 1.0  # an unknown field of the OpenAI body is named as ignored, never applied
    # `voice` (a string or a CustomVoice) is the door's to resolve: without an override it stays out.
    assert SpeechRequest.model_validate({"input": "x", "voice": "alloy"}).to_request(text="x").voice is None


def test_captioned_and_seed_requests() -> None:
    captioned = CaptionedRequest.model_validate({"input": "One.", "voice": "joe", "normalize": True})
    request = captioned.to_request(text=captioned.input, engine="piper")
    assert (request.text, request.voice, request.normalize, request.speed) == ("One.", "joe", True, 1.0)
    seed = SeedSpeech.model_validate({"text": "Two.", "speed": 9, "output_format": "mp3", "exaggeration": 1})
    request = seed.to_request(engine="tone")
    assert (request.text, request.speed, request.extra) == ("Two.", 9.0, {})  # the pipeline refuses speed 9


def test_socket_start_messages() -> None:
    start = TTSStart.model_validate({"type": "start", "speaker": "s", "volume": 2, "extra": {"pitch": 40}})
    request = start.to_request(text="Hi.", sample_rate=22050)
    assert (request.speaker, request.volume, request.sample_rate) == ("s", 2.0, 22050)
    assert request.extra == {"pitch": 40}
    converse = ConverseStart.model_validate({"type": "start", "sample_rate": 48000})
    assert converse.to_request(text="Hi.").sample_rate is None  # the microphone's rate is not the output's


@pytest.mark.parametrize("model", [SynthesizeRequest, CaptionedRequest, SpeechRequest])
def test_http_schemas_bound_speed(model: type[RequestFields]) -> None:
    text = "input" if model is not SynthesizeRequest else "text"
    with pytest.raises(ValidationError):
        model.model_validate({text: "x", "speed": 4.5})


@pytest.mark.parametrize(
    ("speed", "volume", "rate", "param"),
    [
        (0.1, 1.0, None, "speed"),
        (1.0, 4.5, None, "volume"),
        (1.0, 1.0, 7999, "sample_rate"),
        (1.0, -1.0, None, "volume"),
    ],
)
def test_check_rendering_names_the_field(speed: float, volume: float, rate: int | None, param: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        check_rendering(speed, volume, rate)
    assert caught.value.param == param
