"""The ``polyvox`` command's mistakes and listings, in subprocesses: one line per error, its own code, exit 2.

Terminals are real pseudo-terminals (``pty``); pipes are real pipes closed by the reader.
"""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from tests.e2e.conftest import free_port

from polyvox.audio.formats import supported_formats

pytestmark = pytest.mark.slow

COMMAND = [sys.executable, "-m", "polyvox.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POLYVOX_")}
    return {**clean, "POLYVOX_DATA_DIR": str(tmp_path / "data")}


def polyvox(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def on_terminal(*args: str, env: dict[str, str], columns: int = 80) -> tuple[int, str]:
    """Run with standard output on a pseudo-terminal ``columns`` wide; exit status and what it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*COMMAND, *args],
        env={**env, "COLUMNS": str(columns), "LINES": "50", "TERM": "dumb", "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not piece:
            break
        shown += piece
    os.close(leader)
    return process.wait(timeout=180), shown.decode(errors="replace")


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed (log lines at info aside), asserting there is no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "environment", "setting", "problem"),
    [
        (("serve", "--wyoming", "bogus"), {}, "(--wyoming)", "tcp://HOST:PORT"),
        (
            ("engines",),
            {"POLYVOX_ENGINES__WORKERS": "abc"},
            "(POLYVOX_ENGINES__WORKERS)",
            "integer, got 'abc'",
        ),
        (("engines",), {"POLYVOX_OPENAI_VOICES": "{bad"}, "(POLYVOX_OPENAI_VOICES)", "not valid JSON"),
        (
            ("config", "show"),
            {"POLYVOX_CONFIG": "/nope.yaml"},
            "(POLYVOX_CONFIG)",
            "'/nope.yaml', which is not",
        ),
        (
            ("serve", "--port", "0"),
            {"POLYVOX_ENGINES__PARAMETERS": '{"piper": {"noise_scale": 5}}'},
            "(engines.parameters.piper)",
            "between 0 and 2, got 5",
        ),
        (
            ("serve", "--port", "0"),
            {"POLYVOX_ENGINES__PARAMETERS": '{"pipr": {"noise_scale": 0}}'},
            "(engines.parameters.pipr)",
            "unknown engine 'pipr'",
        ),
    ],
    ids=["wyoming-uri", "workers", "openai-voices", "missing-config", "parameter-range", "parameter-engine"],
)
def test_a_bad_setting_is_one_line_naming_it(
    args: tuple[str, ...], environment: dict[str, str], setting: str, problem: str, env: dict[str, str]
) -> None:
    line = error_line(polyvox(*args, env={**env, **environment}))
    assert "[invalid_setting]" in line and setting in line and problem in line, line


def test_a_config_file_that_is_not_yaml_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    broken = tmp_path / "polyvox.yaml"
    broken.write_text("engines: [\n", encoding="utf-8")
    line = error_line(polyvox("config", "show", env={**env, "POLYVOX_CONFIG": str(broken)}))
    assert "[invalid_setting] (POLYVOX_CONFIG)" in line and "is not a readable YAML mapping" in line, line


def test_wyoming_on_a_port_in_use_is_one_line(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        taken_uri = f"tcp://127.0.0.1:{port}"
        alone = error_line(polyvox("wyoming", "--uri", taken_uri, env=env))
        beside = error_line(polyvox("serve", "--port", str(free_port()), "--wyoming", taken_uri, env=env))
    for line in (alone, beside):
        assert "[cannot_listen]" in line and "already in use" in line, line


def test_output_mistakes_have_their_own_codes(tmp_path: Path, env: dict[str, str]) -> None:
    line = error_line(polyvox("say", "hi", "-o", str(tmp_path / "missing" / "x.wav"), env=env))
    assert "[output_folder_missing]" in line, line
    status, shown = on_terminal("say", "hi", env=env)
    assert status == 2 and "[output_is_terminal]" in shown and "internal_error" not in shown, shown


def test_a_reader_that_closes_the_pipe_ends_it_quietly(env: dict[str, str]) -> None:
    env = {**env, "POLYVOX_ENGINES__ENABLE_TEST_ENGINES": "true"}
    # One sentence is written (and flushed) at a time: the reader is gone before the later ones.
    text = " ".join(f"Sentence number {n} is here." for n in range(40))
    process = subprocess.Popen(
        [*COMMAND, "say", text, "--engine", "tone", "-o", "-"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10)[:4] == b"RIFF"
    process.stdout.close()  # like `head -c 10`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141  # what a shell reports for `yes | head`
    assert stderr == ""


def test_engines_listing_state_json_tabs_and_whole_names(env: dict[str, str]) -> None:
    piped = polyvox("engines", env=env)
    assert piped.returncode == 0, piped.stderr
    rows = [line.split("\t") for line in piped.stdout.splitlines()]
    assert rows[0][:2] == ["engine", "state"] and all(len(row) == len(rows[0]) for row in rows)
    state = {row[0]: row[1] for row in rows[1:]}
    assert state["piper"] == "ready" and state["xtts"] == "needs_weights"  # no weights in this data dir
    listed = json.loads(polyvox("engines", "--json", env=env).stdout)
    assert {e["name"]: e["state"] for e in listed} == state
    status, table = on_terminal("engines", env=env, columns=80)
    assert status == 0 and max(len(line) for line in table.splitlines()) <= 80
    names = [line.split()[0] for line in table.splitlines()[1:] if line.strip() and line[0] != " "]
    assert names == list(state), table  # whole names, one row each, never cut


def test_voices_of_an_engine_without_weights_say_why(env: dict[str, str]) -> None:
    line = error_line(polyvox("voices", "--engine", "xtts", env=env))
    assert "[engine_unavailable]" in line and "needs its weights" in line, line


def test_help_has_no_type_tags_and_names_every_format(env: dict[str, str]) -> None:
    shown = polyvox("say", "--help", env=env)
    assert shown.returncode == 0, shown.stderr
    for tag in ("<str>", "<bool>", "<float>", "<int>", "<path>"):
        assert tag not in shown.stdout, shown.stdout
    flat = " ".join(shown.stdout.split())
    formats = flat[flat.index("--format") : flat.index("--engine")]
    assert all(f" {name}," in formats or f" {name} " in formats for name in supported_formats()), formats
    assert "--file" in shown.stdout


def test_doctor_does_not_offer_the_hidden_test_engine(env: dict[str, str]) -> None:
    line = error_line(polyvox("doctor", "nope", env=env))
    assert "[engine_not_found]" in line and "piper" in line and "tone" not in line, line


def test_say_reads_a_file(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "POLYVOX_ENGINES__ENABLE_TEST_ENGINES": "true"}
    notes = tmp_path / "notes.txt"
    notes.write_text("One two three four five.\n", encoding="utf-8")
    out = tmp_path / "notes.wav"
    result = polyvox("say", "--file", str(notes), "--engine", "tone", "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    with wave.open(str(out)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds == pytest.approx(5 * 0.2, abs=0.01)  # tone: 0.2 s a word; "notes.txt" would be one word
