"""Hostile input, class by class (issue 14): what each attack gets, how slow ``/health`` gets meanwhile, and
how much the server's peak resident memory grows.

One server (piper default, tone visible, an API key, an IP rate limit, a monitor root, Wyoming) runs under a
memory cap, so a regression kills the server and not the machine; a killed server is restarted for the next
class and the row says ``killed``. ``/health`` is polled every 50 ms in the background; its worst latency is
the loop's worst stall. RSS growth is the growth of the server's peak RSS (``VmHWM``) during the class.

    python bench/bench_hostile.py [--memory-gib 4] [--only 1,3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import soundfile  # noqa: E402
from tests.e2e.conftest import Server, free_port, run_limited_server  # noqa: E402
from tests.e2e.memory import rss_bytes  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

API_KEY = "sk-hostile-bench-secret-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SECRET_TEXT = "zebra-quokka-marmalade"
"""A marker put into request texts: it must never show up in the log."""
TIMEOUT = 60.0


@dataclass
class Site:
    server: Server
    logs: Path
    wyoming_port: int


@dataclass
class Row:
    name: str
    statuses: list[str] = field(default_factory=list)
    worst_health: float = 0.0
    rss_growth: int = 0
    seconds: float = 0.0


Probe = Callable[[Site, httpx.AsyncClient], Awaitable[list[str]]]


def flac_bomb(seconds: float = 700.0, rate: int = 655_350) -> bytes:
    """A small FLAC that declares a huge rate and duration (silence compresses to almost nothing)."""
    out = io.BytesIO()
    block = np.zeros(rate * 10, dtype=np.int16)
    with soundfile.SoundFile(out, "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(int(seconds / 10)):
            f.write(block)
    return out.getvalue()


async def _status(response: httpx.Response) -> str:
    if response.status_code < 300:
        return f"{response.status_code} ({len(response.content)} B)"
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = response.text[:40]
    return f"{response.status_code} {code}"


async def _post(client: httpx.AsyncClient, path: str, **kwargs: object) -> str:
    if "json" in kwargs:  # json.dumps escapes lone surrogates, which httpx's own encoder cannot send
        kwargs["content"] = json.dumps(kwargs.pop("json"))
        kwargs["headers"] = {"content-type": "application/json"}
    try:
        return await _status(await client.post(path, **kwargs))  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        return f"error {type(exc).__name__}"


async def _first_bytes(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> str:
    """A streamed request: its status and whether a first audio chunk (or an error body) came."""
    try:
        content, headers = json.dumps(body), {"content-type": "application/json"}
        async with client.stream("POST", path, content=content, headers=headers) as response:
            if response.status_code >= 300:
                await response.aread()
                return await _status(response)
            async for piece in response.aiter_bytes():
                return f"{response.status_code} streaming ({len(piece)} B first)"
            return f"{response.status_code} empty"
    except httpx.HTTPError as exc:
        return f"error {type(exc).__name__}"


# -- the classes -------------------------------------------------------------------------------------------
async def memory(site: Site, client: httpx.AsyncClient) -> list[str]:
    speech = "/v1/audio/speech"
    return [
        await _post(client, speech, json={"input": "ab" * 40000, "voice": "alloy", "response_format": "wav"}),
        await _post(client, "/v1/synthesize", json={"text": "Hello, my friend.", "length_scale": 250}),
        await _post(
            client,
            speech,
            json={"input": "<speak>a" + '<break time="30s"/>' * 200 + "b</speak>", "response_format": "wav"},
        ),
    ]


async def uploads(site: Site, client: httpx.AsyncClient) -> list[str]:
    bomb = flac_bomb()

    async def one() -> str:
        files = {"file": ("bomb.flac", bomb, "audio/flac")}
        return await _post(client, "/v1/voices", data={"name": "bomb"}, files=files)

    return [await one(), *await asyncio.gather(one(), one())]


async def event_loop(site: Site, client: httpx.AsyncClient) -> list[str]:
    url = site.server.url.replace("http://", "ws://") + "/v1/ws/tts"
    statuses = []
    async with connect(url, additional_headers=AUTH, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "format": "pcm"}))
        await ws.recv()
        frame = json.dumps({"type": "text", "text": "This is a sentence. " * 2950})
        for _ in range(20):
            await ws.send(frame)
        replies: list[str] = []
        deadline = time.monotonic() + 60  # until the refusals come (the first frame is split meanwhile)
        while time.monotonic() < deadline and "error" not in replies:
            try:
                reply = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if isinstance(reply, str):
                message = json.loads(reply)
                replies += [message["type"], message.get("code", "")]
        statuses.append("ws " + ",".join(sorted(set(replies))))
    ssml = "<speak>" + "<s>Hello world.</s>" * 4300 + "</speak>"
    statuses.append(await _first_bytes(client, "/v1/audio/speech", {"input": ssml, "response_format": "pcm"}))
    mp3 = {"input": "The quick brown fox jumps over the lazy dog. " * 6, "response_format": "mp3"}
    results = await asyncio.gather(*(_post(client, "/v1/audio/speech", json=mp3) for _ in range(8)))
    statuses.append("8x mp3 " + ",".join(sorted({r.split(" ")[0] for r in results})))
    return statuses


async def secrets(site: Site, client: httpx.AsyncClient) -> list[str]:
    # Errors of every kind, each carrying the key (header) and a marker text.
    statuses = [
        await _post(client, "/v1/audio/speech", json={"input": f"{SECRET_TEXT} \udc80", "voice": "alloy"}),
        await _post(
            client, "/v1/synthesize", json={"text": f"{SECRET_TEXT}", "engine": "tone", "fail_at": 0}
        ),
        await _first_bytes(client, "/v1/audio/speech", {"input": f"{SECRET_TEXT} " + "9" * 1999}),
        await _first_bytes(client, "/v1/audio/speech", {"input": f"{SECRET_TEXT} 1" + "0" * 4400 + "th"}),
    ]
    log = site.server.log()
    statuses.append(f"log: key x{log.count(API_KEY)}, text x{log.count(SECRET_TEXT)}, {len(log) // 1024} KiB")
    return statuses


async def monitor_roots(site: Site, client: httpx.AsyncClient) -> list[str]:
    fifo = site.logs / "pipe.log"
    if not fifo.exists():
        os.mkfifo(fifo)
    outside = site.logs.parent / "outside-secret.txt"
    outside.write_text("outside secret line\n")
    link = site.logs / "later.log"
    link.unlink(missing_ok=True)
    start = "/v1/monitor/start"
    statuses = [await _post(client, start, json={"path": str(fifo), "engine": "tone"}, timeout=10)]
    statuses.append(
        await _post(client, start, json={"path": str(link), "engine": "tone", "from": "start"}, timeout=10)
    )
    link.symlink_to(outside)
    await asyncio.sleep(3)  # the watcher polls; see whether it reads the outside file
    try:
        status = (await client.get("/v1/monitor/status", timeout=10)).json()
        spoken = sum(m.get("lines_read", 0) for m in status.get("monitors", []))
        statuses.append(f"outside lines read: {spoken}")
    except (httpx.HTTPError, ValueError) as exc:
        statuses.append(f"status error {type(exc).__name__}")
    with _suppress():
        await client.post("/v1/monitor/stop", json={}, timeout=10)
    return statuses


async def client_input(site: Site, client: httpx.AsyncClient) -> list[str]:
    speech = "/v1/audio/speech"
    nested = "<speak>" + "<emphasis>" * 1000 + "deep" + "</emphasis>" * 1000 + "</speak>"
    await client.put("/v1/lexicon/en/sun", json={"respelling": "sunn"})
    bodies: list[tuple[str, dict[str, object]]] = [
        (speech, {"input": "\udc80 hello"}),
        ("/v1/synthesize", {"text": "Hello.", "noise_w": 1e306}),
        (speech, {"input": "9" * 1999}),
        (speech, {"input": "1" + "0" * 4400 + "th"}),
        (speech, {"input": f'<speak><say-as interpret-as="cardinal">{"9" * 3000}</say-as></speak>'}),
        (speech, {"input": "The ſun İs up."}),
        (speech, {"input": nested}),
    ]
    # Streamed: a long but legal text answers 200 at once; reading its first audio is enough here.
    statuses = [await _first_bytes(client, path, body) for path, body in bodies]
    engines = (await client.get("/v1/engines")).json()["engines"]
    piper = next(e for e in engines if e["name"] == "piper")
    statuses.append(f"piper loads: {piper['load_count']}")
    return statuses


async def smaller(site: Site, client: httpx.AsyncClient) -> list[str]:
    statuses = []
    forged = await asyncio.gather(
        *(
            client.get("/v1/engines", headers={"X-Forwarded-For": f"10.0.{i // 250}.{i % 250}"})
            for i in range(150)
        )
    )
    statuses.append(f"XFF flood: {sum(r.status_code == 429 for r in forged)} of 150 limited")
    await asyncio.sleep(3)  # refill the bench's own bucket
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", site.wyoming_port)
        writer.write(b'{"type": "synthesize", "data_length": 2000000000}\n' + b"x" * 1024)
        await writer.drain()
        got = await asyncio.wait_for(reader.read(4096), 3)
        statuses.append(f"wyoming data_length 2e9: {got[:60]!r}")
        writer.close()
    except (TimeoutError, OSError) as exc:
        statuses.append(f"wyoming data_length 2e9: no answer ({type(exc).__name__})")
    refused = await client.post("/v1/voices", data={"name": "u", "url": "http://localhost:9/x.wav"})
    statuses.append(f"url: {refused.status_code} reveals 127.0.0.1: {'127.0.0.1' in refused.text}")
    statuses.append(
        await _first_bytes(
            client, "/v1/audio/speech/captioned", {"input": " ", "stream": True, "engine": "tone"}
        )
    )
    text = ("Long form text goes on and on. " * 3300)[:99_000]
    statuses.append(
        await _post(
            client, "/v1/synthesize", json={"text": text, "engine": "tone", "format": "pcm"}, timeout=300
        )
    )
    return statuses


# -- issue 30, points 4-6 -------------------------------------------------------------------------------
async def _streamed_size(
    client: httpx.AsyncClient, path: str, body: dict[str, object]
) -> tuple[int, int, bytes]:
    """Status and size of an answer read without holding it (a 300 MB JSON body must not fill the bench),
    and the answer itself when it is under 64 KiB."""
    size, head = 0, b""
    async with client.stream("POST", path, json=body, timeout=300) as response:
        async for piece in response.aiter_bytes():
            size += len(piece)
            head += piece[: max(0, 65536 - len(head))]
    return response.status_code, size, head if size <= 65536 else b""


def _io_read(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, KeyError):
        fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return int(fields["rchar"])
    return 0


async def polling_monitor(site: Site, client: httpx.AsyncClient) -> list[str]:
    big = site.logs / "big.log"
    with big.open("wb") as handle:  # 300 MB without a newline
        for _ in range(300):
            handle.write(b"x" * 2**20)
    statuses: list[str] = []
    seen, polls, largest, started = 0, 0, 0, time.perf_counter()
    try:
        while polls < 20:
            body = {"file_path": str(big), "last_line_count": seen}
            status, size, head = await _streamed_size(client, "/v1/monitor/read-file", body)
            polls += 1
            largest = max(largest, size)
            if status != 200 or not head:
                break
            answer = json.loads(head)
            seen = answer["line_count"]
            if not answer.get("more"):
                break
        seconds = time.perf_counter() - started
        statuses.append(f"300 MB line: {polls} polls, largest {largest / 2**20:.2f} MiB, {seconds:.1f} s")
        with big.open("ab") as handle:
            handle.write(b"\nafter\n")
        before = _io_read(site.server.process.pid)
        await _streamed_size(
            client, "/v1/monitor/read-file", {"file_path": str(big), "last_line_count": seen}
        )
        statuses.append(f"next poll read {(_io_read(site.server.process.pid) - before) / 2**20:.1f} MiB")
    except httpx.HTTPError as exc:
        statuses.append(f"read-file error {type(exc).__name__}")
    big.unlink()
    queue = site.logs / "queue.log"
    queue.write_text("First line.\n" + "word " * 30_000 + "\nLast line.\n")
    body = {"file_path": str(queue), "last_line_count": 0, "engine": "tone"}
    queued = await client.post("/v1/monitor/process-queue", json=body)
    statuses.append(
        f"process-queue bad line: {queued.status_code} line_count {queued.json().get('line_count')}"
    )
    huge = await client.post(
        "/v1/monitor/read-file", json={"file_path": str(queue), "last_line_count": 2**63}
    )
    statuses.append(f"last_line_count 2^63: {huge.status_code}")
    return statuses


def _zero_bit_wav() -> bytes:
    data = b"\x00\x01" * 8000
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 0)  # PCM, 0 bits per sample
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


async def odd_input(site: Site, client: httpx.AsyncClient) -> list[str]:
    nested = "[" * 100_000
    headers = {"content-type": "application/json"}
    statuses = [
        "nested " + await _post(client, path, content=nested, headers=headers)
        for path in ("/api/v1/tts", "/v1/synthesize")
    ]
    ws_url = site.server.url.replace("http://", "ws://")
    for path in ("/v1/ws/tts", "/v1/ws/converse"):
        try:
            async with connect(ws_url + path, additional_headers=AUTH, max_size=None) as ws:
                await ws.send("[" * 10_000)
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                await ws.send(json.dumps({"type": "shout"}))
                alive = json.loads(await asyncio.wait_for(ws.recv(), 10)).get("code") == "unknown_type"
                statuses.append(f"{path} nested: {reply.get('code')}, open {alive}")
        except Exception as exc:  # the bench reports, it does not stop
            statuses.append(f"{path} nested: {type(exc).__name__}")
    bad = _zero_bit_wav()
    doors = [
        ("/v1/voices", {"name": "zero"}, "file"),
        ("/api/v1/tts", {"text": "Hello."}, "reference_audio"),
        ("/v1/audio/transcriptions", {"model": "whisper-1"}, "file"),
    ]
    for path, fields, name in doors:
        files = {name: ("zero.wav", bad, "audio/wav")}
        statuses.append(f"0-bit wav {path} " + await _post(client, path, data=fields, files=files))
    try:
        statuses.append("%00.wav " + await _status(await client.get("/api/v1/outputs/%00.wav")))
    except httpx.HTTPError as exc:
        statuses.append(f"%00.wav error {type(exc).__name__}")
    return statuses


async def slow_clients(site: Site, client: httpx.AsyncClient) -> list[str]:
    sockets = []
    for _ in range(200):
        reader, writer = await asyncio.open_connection("127.0.0.1", site.server.port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append((reader, writer))
    await asyncio.sleep(12)  # past the default header timeout (10 s)
    held = 0
    for reader, writer in sockets:
        try:
            await asyncio.wait_for(reader.read(), 0.05)
        except TimeoutError:
            held += 1
        writer.close()
    statuses = [f"slow-header sockets held after 12 s: {held} of 200"]
    refused = await client.post("/v1/monitor/read-file", json={"file_path": "/etc/passwd"})
    statuses.append(f"403 names the roots: {str(site.logs) in refused.text}")
    config = (await client.get("/v1/config")).text
    statuses.append(f"/v1/config fields: {','.join(sorted(json.loads(config)))}")
    return statuses


# -- 8: what one long number leaves in the server's RSS (issue 24) ------------------------------------------
LONG_NUMBERS: list[tuple[str, str, str]] = [
    ("piper", "2,600-digit number", "9" * 2600 + "."),
    ("piper", "4,800-digit ordinal", "It came " + "1" + "0" * 4800 + "th."),
    # Kokoro reads at about real time on two cores: a shorter number, the same 400-character segments.
    ("kokoro", "400-digit number", "9" * 400 + "."),
]
STEADY_TEXT = (
    "The library opens at nine in the morning, and children come in with their parents to borrow books. "
    "The reading room is quiet."
)


def _reset_peak(pid: int) -> None:
    """Start the process's peak RSS (``VmHWM``) afresh (Linux ``clear_refs``)."""
    with _suppress():
        Path(f"/proc/{pid}/clear_refs").write_text("5")


async def _audio_bytes(client: httpx.AsyncClient, engine: str, text: str) -> str:
    body = {"input": text, "engine": engine, "language": "en-us", "response_format": "pcm"}
    try:
        async with client.stream("POST", "/v1/audio/speech", json=body, timeout=1800) as response:
            size = sum([len(piece) async for piece in response.aiter_bytes()])
            return (
                f"{response.status_code} ({size / 2 / 24000:.0f} s)"
                if response.status_code < 300
                else (f"{response.status_code}")
            )
    except httpx.HTTPError as exc:
        return f"error {type(exc).__name__}"


async def long_numbers(site: Site, client: httpx.AsyncClient) -> list[str]:
    """Each engine warmed up on ordinary sentences (its steady state), then one long number: the RSS it
    leaves behind once its audio is all sent, and its peak, both over that steady state."""
    pid = site.server.process.pid
    statuses = []
    for engine, label, text in LONG_NUMBERS:
        for _ in range(3):
            await _audio_bytes(client, engine, STEADY_TEXT)
        before, _ = rss_bytes(pid)
        _reset_peak(pid)
        result = await _audio_bytes(client, engine, text)
        after, peak = rss_bytes(pid)
        statuses.append(
            f"{engine} {label}: {result}, RSS kept {(after - before) / 2**20:+.0f} MiB, "
            f"peak {(peak - before) / 2**20:+.0f} MiB"
        )
    return statuses


CLASSES: list[tuple[str, Probe]] = [
    ("1 memory bounds", memory),
    ("2 upload decoding", uploads),
    ("3 event loop", event_loop),
    ("4 secrets in logs", secrets),
    ("5 monitor roots", monitor_roots),
    ("6 input blamed on engine", client_input),
    ("7 smaller", smaller),
    ("14 polling monitor", polling_monitor),
    ("15 odd input", odd_input),
    ("16 slow clients", slow_clients),
]


# -- issue 30, points 1-3: abandoned long-form work, the output directory, reference voices -----------------
PLAN_SIZES = (10_000, 20_000, 40_000, 124_000, 1_000_000)
PLAN_BUDGET = 120.0
"""A size is skipped when its projected time is over this (main: 1M characters is ~40 minutes)."""


def _plan_seconds(chars: int) -> float:
    """What a long-form job's planning does to ``chars`` characters: prepare (normalize) and chunk."""
    from polyvox.text.chunks import chunk_text
    from polyvox.text.prepare import prepare_text

    text = ("Long form text goes on and on, Dr. Smith said on 3 May 2020. " * (chars // 60 + 1))[:chars]
    started = time.perf_counter()
    chunk_text(prepare_text(text, "en", normalize=True), "en", 400)
    return time.perf_counter() - started


def _abandoned(port: int, chars: int) -> socket.socket:
    """A raw connection sending a long-form job; the caller closes it (the client goes)."""
    text = ("Long form text goes on and on, Dr. Smith said on 3 May 2020. " * (chars // 60 + 1))[:chars]
    body = json.dumps({"text": text, "engine": "tone", "format": "pcm"}).encode()
    head = (
        "POST /v1/synthesize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + body)
    return sock


async def longform_planning(site: Site, client: httpx.AsyncClient) -> list[str]:
    statuses = []
    measured: list[tuple[int, float]] = []
    for chars in PLAN_SIZES:
        if len(measured) >= 2:  # projected with the growth measured so far (main: quadratic)
            (n1, t1), (n2, t2) = measured[-2:]
            projected = t2 * (chars / n2) ** max(1.0, math.log(t2 / t1) / math.log(n2 / n1))
            if projected > PLAN_BUDGET:
                statuses.append(f"plan {chars // 1000}k: skipped (~{projected:.0f} s projected)")
                continue
        measured.append((chars, await asyncio.to_thread(_plan_seconds, chars)))
        statuses.append(f"plan {chars // 1000}k: {measured[-1][1]:.2f} s")
    # Two 200k-character jobs: a two-word request while they plan, then their clients leave, then another.
    sockets = [_abandoned(site.server.port, 200_000) for _ in range(2)]
    await asyncio.sleep(1.5)
    for when in ("during attack", "after clients left"):
        started = time.perf_counter()
        short = await _post(client, "/api/v1/tts", json={"text": "Two words.", "engine": "tone"})
        statuses.append(f"short {when}: {short.split(' ')[0]} in {time.perf_counter() - started:.2f} s")
        for sock in sockets:
            sock.close()
    return statuses


@contextmanager
def _own_server(base: Path, **env: str) -> Iterator[Server]:
    """A tone server of the class's own (its bounds set), under the bench's memory cap."""
    with run_limited_server(
        base, 4 * 2**30, POLYVOX_ENGINES__DEFAULT="tone", POLYVOX_ENGINES__TTL="-1", **env
    ) as server:
        yield server


async def _health_seconds(client: httpx.AsyncClient, times: int) -> list[float]:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        await client.get("/health")
        seconds.append(time.perf_counter() - started)
    return seconds


async def output_directory(site: Site, client: httpx.AsyncClient) -> list[str]:
    base = site.logs.parent / "outputs"
    output = base / "data" / "output"
    output.mkdir(parents=True, exist_ok=True)
    for i in range(10_000):  # the default bound, full
        (output / f"old-{i}.wav").write_bytes(b"x" * 100)
    statuses = []
    with _own_server(base) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as own:
            idle = await _health_seconds(own, 20)
            statuses.append(f"/health, 10k files: median {sorted(idle)[10]:.3f} s")
            body = {"text": "File.", "response": "url"}
            writers = asyncio.Semaphore(24)  # 24 concurrent URL-mode writers, 300 files in all

            async def write() -> str:
                async with writers:
                    return await _post(own, "/api/v1/tts", json=body)

            writes = asyncio.gather(*(write() for _ in range(300)))
            busy = asyncio.create_task(_health_seconds(own, 10))
            results = await writes
            worst = max(await busy)
            ok = sum(r.startswith("200") for r in results)
            statuses.append(f"300 URL writes (24 at once): {ok} ok; /health meanwhile worst {worst:.2f} s")
    statuses.append(f"files left: {len(list(output.iterdir()))} (bound 10000)")
    return statuses


def _reference_wav(n: int) -> bytes:
    """Two seconds of a voiced-like harmonic sound, different for each ``n``."""
    rate = 24_000
    t = np.arange(2 * rate) / rate
    f0 = 110.0 + 3.0 * n + 20.0 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2
    out = io.BytesIO()
    soundfile.write(out, np.asarray(wave, dtype=np.float32), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


async def reference_voices(site: Site, client: httpx.AsyncClient) -> list[str]:
    base = site.logs.parent / "references"
    statuses = []
    with _own_server(base, POLYVOX_VOICES__REFERENCE_MAX_COUNT="10") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as own:
            results = []
            for n in range(30):
                files = {"reference_audio": ("r.wav", _reference_wav(n), "audio/wav")}
                data = {"text": "Hello.", "engine": "tone"}
                results.append(await _post(own, "/api/v1/tts", data=data, files=files))
            voices = (await own.get("/v1/voices")).json()["voices"]
    kept = sum(v["id"].startswith("ref-") for v in voices)
    statuses.append(f"30 references: {sum(r.startswith('200') for r in results)} ok, {kept} kept (bound 10)")
    return statuses


CLASSES += [
    ("11 long-form planning (30.1)", longform_planning),
    ("12 output directory (30.2)", output_directory),
    ("13 reference voices (30.3)", reference_voices),
    ("8 long numbers: RSS kept", long_numbers),
]


# -- issue 29, point 1: dialogues at their bounds ------------------------------------------------------------
DIALOGUE_TURNS = 500
"""``dialogue.max_turns``' default: the most turns one request may have."""


def _dialogue_body(turns: int, fmt: str, stream: bool) -> dict[str, object]:
    # Every line different: no turn comes from the chunk cache.
    script = "\n".join(
        f"{'AB'[n % 2]}: Line {n} of a long dialogue, {fmt}, spoken in turn." for n in range(turns)
    )
    cast = {"A": "tone/beep", "B": "tone/boop"}
    return {"script": script, "cast": cast, "response_format": fmt, "stream": stream}


async def dialogue(site: Site, client: httpx.AsyncClient) -> list[str]:
    statuses = []
    path = "/v1/audio/dialogue"
    over = await _post(client, path, json=_dialogue_body(DIALOGUE_TURNS + 1, "mp3", False))
    statuses.append(f"{DIALOGUE_TURNS + 1} turns: {over}")
    for fmt, stream in (("mp3", False), ("wav", False), ("pcm", True)):
        started = time.perf_counter()
        response = await client.post(path, json=_dialogue_body(DIALOGUE_TURNS, fmt, stream), timeout=600)
        kind = "streamed" if stream else "JSON"
        seconds = time.perf_counter() - started
        size = len(response.content) / 2**20
        statuses.append(
            f"{DIALOGUE_TURNS} turns {fmt} {kind}: {response.status_code}, {size:.0f} MiB in {seconds:.0f} s"
        )
    # A client that leaves after the first turn of a 500-turn stream: the turns ahead are cancelled.
    started = time.perf_counter()
    async with client.stream("POST", path, json=_dialogue_body(DIALOGUE_TURNS, "pcm", True)) as response:
        async for _ in response.aiter_raw():
            break
    short = await _post(client, "/api/v1/tts", json={"text": "Two words.", "engine": "tone"})
    statuses.append(
        f"left after 1st turn; next request {short.split(' ')[0]} in {time.perf_counter() - started:.2f} s"
    )
    return statuses


CLASSES += [("17 dialogue at its bounds (29.1)", dialogue)]


def _suppress() -> contextlib.suppress:
    return contextlib.suppress(Exception)  # the bench reports, it does not stop


@contextmanager
def site(base: Path, memory_bytes: int) -> Iterator[Site]:
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    wyoming = free_port()
    with run_limited_server(
        base / "server",
        memory_bytes,
        POLYVOX_AUTH__API_KEYS=json.dumps([API_KEY]),
        POLYVOX_LIMITS__IP_RATE="20",
        POLYVOX_LIMITS__IP_BURST="60",
        POLYVOX_MONITOR__ALLOWED_ROOTS=json.dumps([str(logs)]),
        POLYVOX_WYOMING__URI=f"tcp://127.0.0.1:{wyoming}",
        POLYVOX_ENGINES__TTL="-1",
    ) as server:
        yield Site(server, logs, wyoming)


async def measure(target: Site, name: str, probe: Probe) -> Row:
    row = Row(name)
    stop = asyncio.Event()
    worst = 0.0

    async def poll() -> None:
        nonlocal worst
        async with httpx.AsyncClient(base_url=target.server.url, timeout=60) as health:
            while not stop.is_set():
                start = time.perf_counter()
                with _suppress():
                    await health.get("/health")
                worst = max(worst, time.perf_counter() - start)
                await asyncio.sleep(0.05)

    _, peak_before = rss_bytes(target.server.process.pid)
    poller = asyncio.create_task(poll())
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=target.server.url, headers=AUTH, timeout=TIMEOUT) as client:
        try:
            row.statuses = await probe(target, client)
        except Exception as exc:
            row.statuses.append(f"probe failed: {type(exc).__name__}: {str(exc)[:80]}")
    row.seconds = time.perf_counter() - started
    stop.set()
    await poller
    row.worst_health = worst
    _, peak_after = rss_bytes(target.server.process.pid)
    row.rss_growth = peak_after - peak_before
    if target.server.process.poll() is not None:
        cap = target.server.memory
        group_peak = cap.peak_bytes() if cap is not None else None
        row.rss_growth = (group_peak or 0) - peak_before  # the process is gone: its group's peak
        oom = cap is not None and cap.oom_killed()
        row.statuses.append(f"server died ({'OOM-killed' if oom else target.server.process.returncode})")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-gib", type=float, default=4.0, help="the server's memory cap")
    parser.add_argument("--only", default="", help="comma-separated class numbers (default: all)")
    args = parser.parse_args()
    wanted = {int(n) for n in args.only.split(",") if n}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        base, count = Path(tmp), 0
        for name, probe in CLASSES:
            if wanted and int(name.split()[0]) not in wanted:
                continue
            count += 1
            with site(base / f"site{count}", int(args.memory_gib * 2**30)) as target:
                rows.append(asyncio.run(measure(target, name, probe)))
            print(f"{rows[-1].name}: done in {rows[-1].seconds:.1f} s", file=sys.stderr)
    print(f"\nserver memory cap: {args.memory_gib:g} GiB\n")
    print("| class | status | worst /health | peak RSS growth | time |")
    print("|---|---|---|---|---|")
    for row in rows:
        statuses = "; ".join(row.statuses)
        growth = row.rss_growth / 2**20
        worst = f"{row.worst_health:.2f} s"
        print(f"| {row.name} | {statuses} | {worst} | {growth:+.0f} MiB | {row.seconds:.0f} s |")


if __name__ == "__main__":
    main()
