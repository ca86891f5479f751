"""End of user speech -> first reply audio: ``/v1/realtime`` vs ``/v1/ws/converse`` vs raw ASR + raw TTS.

One server, one scripted upstream LLM (OpenAI-compatible, on loopback, ``--tokens-per-second``), the same
spoken question (piper) each run:

1. ``/v1/realtime`` with the ``openai`` SDK's async client, server VAD (500 ms of silence): from receiving
   ``input_audio_buffer.speech_stopped`` to receiving the first ``response.output_audio.delta``.
2. ``/v1/ws/converse``: from sending ``end_of_turn`` to the first binary audio frame.
3. In process, no server: the same ASR back end transcribing the question + piper rendering the reply's first
   sentence (+ the scripted model's time to that sentence's last token, printed apart).

    python bench/bench_realtime.py [--repeats 3] [--tokens-per-second 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402
from tests.e2e.conftest import Server, free_port, run_server  # noqa: E402
from tests.e2e.test_ws_converse import ScriptedLLM  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ws import REPLY, REPLY_FIRST, raw_piper_seconds  # noqa: E402

QUESTION = "What is the capital of France?"


async def realtime_once(server: Server, question: bytes) -> float:
    """Seconds from ``speech_stopped`` to the first audio delta."""
    client = AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused")
    stopped = 0.0
    async with client.realtime.connect(model="gpt-realtime") as conn:
        vad = {"type": "server_vad", "silence_duration_ms": 500}
        session: dict[str, object] = {"type": "realtime", "audio": {"input": {"turn_detection": vad}}}
        await conn.session.update(session=session)  # type: ignore[arg-type]
        audio = question + b"\x00\x00" * 24000
        for i in range(0, len(audio), 9600):
            await conn.input_audio_buffer.append(audio=base64.b64encode(audio[i : i + 9600]).decode())
        async for event in conn:
            if event.type == "input_audio_buffer.speech_stopped":
                stopped = time.perf_counter()
            elif event.type == "response.output_audio.delta":
                first = time.perf_counter()
                await conn.response.cancel()
                return first - stopped
    raise RuntimeError("the connection closed before any audio")


async def converse_once(server: Server, question: bytes) -> float:
    """Seconds from sending ``end_of_turn`` to the first audio frame."""
    url = server.url.replace("http://", "ws://") + "/v1/ws/converse"
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        await ws.recv()  # started
        await ws.send(question)
        ended = time.perf_counter()
        await ws.send(json.dumps({"type": "end_of_turn"}))
        async for frame in ws:
            if isinstance(frame, bytes):
                return time.perf_counter() - ended
    raise RuntimeError("the socket closed before any audio")


def raw_asr_seconds(question: bytes, repeats: int) -> float:
    from polyvox.config import Settings
    from polyvox.stt.recognizer import SpeechRecognizer

    recognizer = SpeechRecognizer(Settings())
    samples = np.frombuffer(question, dtype="<i2").astype(np.float32) / 32768.0
    recognizer.transcribe(samples, 16000)  # loads the model
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        recognizer.transcribe(samples, 16000)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


async def main(repeats: int, tokens_per_second: float) -> None:
    llm_port = free_port()
    env = {"POLYVOX_LLM__BASE_URL": f"http://127.0.0.1:{llm_port}/v1"}
    llm = ScriptedLLM(llm_port, REPLY, tokens_per_second=tokens_per_second).start()
    try:
        with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp), **env) as server:
            async with httpx.AsyncClient(timeout=60) as client:
                url = f"{server.url}/v1/synthesize"
                q24 = (
                    await client.post(url, json={"text": QUESTION, "format": "pcm", "sample_rate": 24000})
                ).content
                q16 = (
                    await client.post(url, json={"text": QUESTION, "format": "pcm", "sample_rate": 16000})
                ).content
            await realtime_once(server, q24)  # warm up: Whisper, VAD, the connection pool
            await converse_once(server, q16)
            realtime = [await realtime_once(server, q24) for _ in range(repeats)]
            converse = [await converse_once(server, q16) for _ in range(repeats)]
    finally:
        llm.stop()
    asr = raw_asr_seconds(q16, repeats)
    tts = raw_piper_seconds(REPLY_FIRST, repeats)
    tokens = llm.tokens()
    first_sentence_tokens = next(i for i, t in enumerate(tokens) if t.endswith(".")) + 1
    model = first_sentence_tokens / tokens_per_second
    rt, cv = statistics.median(realtime) * 1000, statistics.median(converse) * 1000
    print(f"median of {repeats}, scripted model at {tokens_per_second:g} tokens/s:")
    print(f"/v1/realtime     speech_stopped -> first output_audio.delta: {rt:6.0f} ms")
    print(f"/v1/ws/converse  end_of_turn -> first audio frame:           {cv:6.0f} ms")
    raw = f"raw ASR {asr * 1000:.0f} ms + raw piper first sentence {tts * 1000:.0f} ms"
    print(f"{raw} = {(asr + tts) * 1000:.0f} ms")
    floor = (asr + tts + model) * 1000
    print(
        f"  (+ the scripted model to the first sentence's end: {model * 1000:.0f} ms; floor {floor:.0f} ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens-per-second", type=float, default=100.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.repeats, arguments.tokens_per_second))
