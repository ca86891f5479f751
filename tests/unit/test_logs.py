"""Log redaction (issue 24): configured secrets and credential patterns never reach a rendered line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from polyvox.logs import RedactingFormatter, configure_logging, redact_settings

UPSTREAM = "sk-upstream-0f9e8d"


@pytest.fixture(autouse=True)
def _structlog_restored() -> Iterator[None]:
    """configure_logging points structlog at this test's captured stderr: put back what was there."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_structlog_lines_and_tracebacks_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", secrets=[UPSTREAM, None, "short"])
    try:
        raise RuntimeError(f"POST https://u:pw@llm.example/v1?api-key={UPSTREAM} failed")
    except RuntimeError:
        structlog.get_logger("test").exception("llm_failed", headers={"authorization": "Bearer abc.def"})
    line = capsys.readouterr().err
    assert "llm_failed" in line and "RuntimeError" in line  # the line and its traceback are there
    assert UPSTREAM not in line and "abc.def" not in line and ":pw@" not in line
    assert "Bearer ***" in line and "u:***@llm.example" in line


def test_standard_library_lines_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", secrets=[UPSTREAM])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    logger = logging.getLogger("polyvox.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning('%s - "WebSocket %s" [accepted]', "127.0.0.1", "/v1/ws/tts?x=1&api_key=k&token=t;p=2")
        logger.warning("sent %s", UPSTREAM.encode())
        logger.warning("basic voices, key rate %s", {"authorization": "Basic dXNlcjpwYXNz"})
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert '"WebSocket /v1/ws/tts?x=1&api_key=***&token=***;p=2" [accepted]' in err
    assert UPSTREAM not in err
    assert "basic voices, key rate {'authorization': 'Basic ***'}" in err  # ordinary words stay


def test_settings_keys_are_masked_not_their_neighbours() -> None:
    data = {
        "auth": {"api_keys": ["a", "b"], "keys_file": "/etc/keys", "key_rate": 5.0},
        "llm": {"api_key": "x", "max_tokens": 100},
        "asr": {"openai": {"api_key": None}},
    }
    assert redact_settings(data) == {
        "auth": {"api_keys": ["***", "***"], "keys_file": "/etc/keys", "key_rate": 5.0},
        "llm": {"api_key": "***", "max_tokens": 100},
        "asr": {"openai": {"api_key": None}},
    }
