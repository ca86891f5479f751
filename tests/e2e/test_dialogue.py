"""Dialogue over a real server: three speakers on two engines (one a cloned library voice), heard by Whisper
turn by turn at the timings the response gives; speaker-labelled captions; streaming; bad input."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.conftest import whisper
from tests.e2e.conftest import Server, run_server

from polyvox.postprocess import loudness, true_peak_db
from polyvox.stt.metrics import word_error_rate
from polyvox.voices.decode import decode_audio

pytestmark = pytest.mark.slow

RATE = 24_000
GAP_MS = 400
MAX_TURNS = 12
MAX_TEXT = 3000
NO_NOISE = {"noise_scale": 0.0, "noise_w": 0.0}
"""Piper without its sampled noise: Whisper tiny mishears a noisy rendering now and then."""
REFERENCE_TEXT = "The weather is nice today, and we are going to the park with our friends."
SCRIPT = """\
Alice: Good morning, everyone. Welcome to the garden show.
Bob: Thank you. Today we are planting yellow tulips.
Carol: I brought seven bags of fresh soil.
# a comment line is skipped
Alice: Wonderful. Let us begin with the first bed.
"""


@pytest.fixture(scope="module")
def dserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module: piper by default, small bounds so the 413 paths are cheap."""
    with run_server(
        tmp_path_factory.mktemp("dialogue"),
        POLYVOX_DIALOGUE__GAP_MS=str(GAP_MS),
        POLYVOX_DIALOGUE__MAX_TURNS=str(MAX_TURNS),
        POLYVOX_MAX_TEXT_LENGTH=str(MAX_TEXT),
        POLYVOX_LIMITS__MAX_AUDIO_SECONDS="100",
        # Requests without per-turn parameters (OpenAI's speech route) too: see NO_NOISE.
        POLYVOX_ENGINES__PARAMETERS=json.dumps({"piper": NO_NOISE}),
    ) as running:
        yield running
    assert running.process.returncode in (0, -15), running.log()


@pytest.fixture(scope="module")
def cast(dserver: Server) -> dict[str, object]:
    """Alice on piper, Bob on espeak, Carol a library voice cloned from a Kokoro recording (on piper)."""
    reference = httpx.post(
        f"{dserver.url}/v1/synthesize",
        json={"text": REFERENCE_TEXT, "engine": "kokoro", "voice": "jf_alpha", "language": "en-us"},
        timeout=120,
    )
    assert reference.status_code == 200, reference.text
    created = httpx.post(
        f"{dserver.url}/v1/voices",
        data={"name": "Carol Clone", "language": "en-us", "transcript": REFERENCE_TEXT},
        files={"file": ("ref.wav", reference.content, "audio/wav")},
        timeout=120,
    )
    assert created.status_code == 201, created.text
    return {
        "Alice": {"voice": "piper/joe", "parameters": NO_NOISE},
        "Bob": {"voice": "en-us", "engine": "espeak"},
        "Carol": {"voice": created.json()["id"], "parameters": NO_NOISE},
    }


def _dialogue(server: Server, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/audio/dialogue", json=body, timeout=300)


def _vtt_cues(text: str) -> list[tuple[float, float, str, str]]:
    stamp = r"(\d+):(\d\d):(\d\d)\.(\d{3})"
    cues = []
    for m in re.finditer(rf"{stamp} --> {stamp}\n<v ([^>]+)>(.*)", text):
        g = [int(x) for x in m.groups()[:8]]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        cues.append((start, end, m.group(9), m.group(10)))
    return cues


def test_three_speakers_two_engines_heard_turn_by_turn(dserver: Server, cast: dict[str, object]) -> None:
    response = _dialogue(dserver, script=SCRIPT, cast=cast, response_format="wav", caption_format="vtt")
    assert response.status_code == 200, response.text
    reply = response.json()
    turns = reply["turns"]
    lines = [line.split(": ", 1) for line in SCRIPT.splitlines() if not line.startswith("#")]
    assert [(t["speaker"], t["text"]) for t in turns] == [(s, t) for s, t in lines]
    assert {t["engine"] for t in turns} == {"piper", "espeak"}
    assert reply["sample_rate"] == RATE
    samples = decode_audio(base64.b64decode(reply["audio"]), rate=RATE)
    assert len(samples) / RATE == pytest.approx(reply["duration"], abs=0.01)

    # Whisper hears each turn, in order, inside the span the response gives it; the gaps are silent.
    levels = []
    for i, turn in enumerate(turns):
        span = samples[round(turn["start"] * RATE) : round(turn["end"] * RATE)]
        heard = whisper().transcribe(span, RATE).text
        assert word_error_rate(turn["text"], heard) <= 0.35, (turn, heard)
        levels.append((loudness(span, RATE), true_peak_db(span, RATE)))
        if i + 1 < len(turns):
            assert turns[i + 1]["start"] - turn["end"] == pytest.approx(GAP_MS / 1000, abs=0.002)
            gap = samples[round(turn["end"] * RATE) + 10 : round(turns[i + 1]["start"] * RATE) - 10]
            assert np.max(np.abs(gap)) < 1e-3
    # Levels matched across voices and engines: the mastering chain brings each turn to the loudness target
    # (-18 LUFS) unless its true peak reaches the ceiling (-1 dBTP) first (piper's peaky speech).
    for level, peak in levels:
        assert level == pytest.approx(-18.0, abs=1.0) or peak == pytest.approx(-1.0, abs=0.3), levels

    # Speaker-labelled WebVTT: one cue per turn, in a voice span, timed as the turn.
    cues = _vtt_cues(reply["captions"])
    assert [(name, text) for _, _, name, text in cues] == [(t["speaker"], t["text"]) for t in turns]
    for (start, end, _, _), turn in zip(cues, turns, strict=True):
        assert start == pytest.approx(turn["start"], abs=0.001) and end == pytest.approx(
            turn["end"], abs=0.001
        )


def test_turn_list_srt_and_stream_give_the_same_audio(dserver: Server, cast: dict[str, object]) -> None:
    """Turns as a list (a voice directly in one), SRT with names, and the streamed body of the same dialogue
    (the turns' chunks come from the cache now) at the rate the JSON answer has."""
    turns = [
        {"speaker": "Alice", "text": "Good morning, everyone. Welcome to the garden show."},
        {"voice": "espeak/en-us", "text": "Thank you. Today we are planting yellow tulips.", "speed": 1.1},
        {"speaker": "carol", "text": "I brought seven bags of fresh soil."},  # speaker names: any case
    ]
    whole = _dialogue(dserver, turns=turns, cast=cast, response_format="pcm", caption_format="srt")
    assert whole.status_code == 200, whole.text
    reply = whole.json()
    assert reply["captions"].splitlines()[2] == "Alice: Good morning, everyone. Welcome to the garden show."
    assert "espeak/en-us: Thank you." in reply["captions"] and "carol: I brought" in reply["captions"]
    streamed = _dialogue(dserver, turns=turns, cast=cast, response_format="pcm", stream=True)
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["x-dialogue-turns"] == "3" and streamed.headers["x-sample-rate"] == str(RATE)
    assert streamed.content == base64.b64decode(reply["audio"])
    mp3 = _dialogue(dserver, turns=turns, cast=cast, response_format="mp3", stream=True)
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg" and len(mp3.content) > 5000


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (
            {"script": "Alice: Hi.\nDave: Hello.", "cast": {"Alice": "joe"}},
            422,
            "unknown_speaker",
            "turns[1].speaker",
        ),
        ({"script": "\n  \n# only a comment\n", "cast": {"Alice": "joe"}}, 422, "empty_text", "script"),
        ({"script": "Hello there.\nAlice: Hi.", "cast": {"Alice": "joe"}}, 422, "invalid_script", "script"),
        ({"turns": [], "cast": {}}, 422, "empty_text", "turns"),
        ({"cast": {"Alice": "joe"}}, 422, "invalid_parameter", "turns"),
        (
            {"turns": [{"speaker": "A", "text": "Hi."}], "cast": {"A": "nobody-here"}},
            404,
            "voice_not_found",
            None,
        ),
        ({"turns": [{"voice": "joe", "text": "Hi."}] * (MAX_TURNS + 1)}, 413, "too_many_turns", "turns"),
        ({"turns": [{"voice": "joe", "text": "word " * 400}] * 2}, 413, "text_too_long", "turns"),
        ({"turns": [{"voice": "joe", "text": "  "}]}, 422, "empty_text", "turns[0].text"),
        ({"turns": [{"voice": "joe", "text": "word " * 200}] * 2}, 413, "audio_too_long", "turns"),
    ],
)
def test_bad_input_is_a_json_error(
    dserver: Server, body: dict[str, object], status: int, code: str, param: str | None
) -> None:
    response = _dialogue(dserver, **body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    if code == "voice_not_found":
        assert error["param"] == "turns[0].voice" and "turn 1 (A)" in error["message"]


def test_cli_writes_the_dialogue_and_its_captions(tmp_path: Path) -> None:
    """``polyvox dialogue script.txt --cast cast.json -o show.mp3 --captions show.srt``, then a cast that
    misses a speaker: one line naming it, exit status 2, no file."""
    (tmp_path / "script.txt").write_text("[S1] Hello there, Bob.\n[S2] Hi Alice, how are you?\n")
    (tmp_path / "cast.json").write_text('{"S1": "piper/joe", "S2": {"voice": "en-us", "engine": "espeak"}}')
    env = {**os.environ, "POLYVOX_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "polyvox.cli", "dialogue", "script.txt", "--cast", "cast.json"]
    done = subprocess.run(
        [*command, "-o", "show.mp3", "--captions", "show.srt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    audio = decode_audio((tmp_path / "show.mp3").read_bytes(), rate=RATE)
    srt = (tmp_path / "show.srt").read_text()
    assert (
        srt.splitlines()[2] == "S1: Hello there, Bob." and srt.splitlines()[6] == "S2: Hi Alice, how are you?"
    )
    last_end = srt.splitlines()[5].split(" --> ")[1]
    seconds = int(last_end[6:8]) + int(last_end[9:12]) / 1000
    assert len(audio) / RATE == pytest.approx(seconds, abs=0.1)  # mp3 priming and padding aside
    (tmp_path / "cast.json").write_text('{"S1": "piper/joe"}')
    missing = subprocess.run(
        [*command, "-o", "other.mp3"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "[unknown_speaker] (turns[1].speaker)" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "other.mp3").exists()


def test_inline_voice_tags_on_speech_only_when_asked(dserver: Server) -> None:
    said = "Good morning from the first speaker. Hello from the second speaker."
    text = "Good morning from the first speaker. [voice:espeak/en-us] Hello from the second speaker."
    body = {"model": "piper", "voice": "joe", "input": text, "response_format": "pcm"}
    speech = f"{dserver.url}/v1/audio/speech"
    tagged = httpx.post(speech, json={**body, "voice_tags": True}, timeout=120)
    assert tagged.status_code == 200, tagged.text
    assert tagged.headers["x-dialogue-turns"] == "2" and tagged.headers["x-sample-rate"] == str(RATE)
    samples = np.frombuffer(tagged.content, dtype="<i2").astype(np.float32) / 32768
    assert word_error_rate(said, whisper().transcribe(samples, RATE).text) <= 0.15
    plain = httpx.post(speech, json=body, timeout=120)  # not asked: one voice reads the text as it is
    assert plain.status_code == 200 and "x-dialogue-turns" not in plain.headers
    assert plain.headers["x-engine"] == "piper"
    sse = httpx.post(speech, json={**body, "voice_tags": True, "stream_format": "sse"})
    assert sse.status_code == 422 and sse.json()["error"]["param"] == "stream_format"
    unknown = httpx.post(speech, json={**body, "voice_tags": True, "input": "Hi. [voice:nobody] Hello."})
    assert unknown.status_code == 404
    assert unknown.json()["error"] | {"message": ""} == {
        "code": "voice_not_found",
        "param": "turns[1].voice",
        "message": "",
        "type": "invalid_request_error",
    }


def test_a_turn_failing_after_the_first_ends_the_stream_short(dserver: Server) -> None:
    """The tone engine fails B's turn: streamed after A's audio, the body ends without its last chunk
    (never a complete-looking file); when B speaks first, or the answer is JSON, a JSON error before audio."""
    cast = {"A": "tone/beep", "B": {"voice": "tone/boop", "parameters": {"fail_at": 0}}}
    body = {"script": "A: One two.\nB: Three four.", "cast": cast, "response_format": "pcm"}
    with pytest.raises(httpx.RemoteProtocolError):
        _dialogue(dserver, **body, stream=True)
    dserver.wait_for_log("dialogue_truncated")
    first = _dialogue(dserver, **{**body, "script": "B: Three four.\nA: One two."}, stream=True)
    assert first.status_code == 500 and first.json()["error"]["code"] == "engine_failed"
    whole = _dialogue(dserver, **body)
    assert whole.status_code == 500 and whole.json()["error"]["code"] == "engine_failed"


def test_a_client_that_leaves_cancels_the_turns_ahead(dserver: Server) -> None:
    """Six turns of a second each, two rendered ahead: the client reads the first turn's audio and leaves;
    the turns still rendering are cancelled and the rest never start (read from the tone engine's trace)."""
    cast = {"A": {"voice": "tone/beep", "parameters": {"delay": 1.0}}}
    script = "\n".join(f"A: Turn number {n}." for n in range(6))
    body = {"script": script, "cast": cast, "response_format": "pcm", "stream": True}
    with httpx.stream("POST", f"{dserver.url}/v1/audio/dialogue", json=body, timeout=60) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        next(response.iter_raw())
    line = _cancellation(dserver, request_id)
    delivered = int(line.group("delivered"))
    assert delivered < 6 and line.group("cancelled")  # turns were still rendering: cancelled
    rendered = {r["request_id"] for r in dserver.trace() if r["request_id"].startswith(request_id)}
    # Two turns render ahead of the one delivered: none after those was ever started.
    assert rendered <= {f"{request_id}-{n}" for n in range(delivered + 2)}


def _cancellation(server: Server, request_id: str) -> re.Match[str]:
    """The server's ``dialogue_cancelled`` line of this request, once it is written."""
    pattern = re.compile(
        rf"dialogue_cancelled +cancelled=\[(?P<cancelled>[\d, ]+)\] delivered=(?P<delivered>\d+) "
        rf"request_id={request_id}"
    )
    deadline = time.monotonic() + 30
    while (found := pattern.search(server.log())) is None:
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.05)
    return found
