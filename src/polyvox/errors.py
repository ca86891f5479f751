"""One error hierarchy for every front door.

Each class carries a stable machine ``code`` and the HTTP ``status`` it maps to, so the HTTP, WebSocket,
Wyoming and CLI front doors report the same failure the same way. Match on the type or the code, never on
the message text.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PolyvoxError(Exception):
    """Base of every error Polyvox reports to a client."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-style error body: ``{"error": {"code", "message", "param", "type"}}``."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "param": self.param,
                "type": "invalid_request_error" if self.status < 500 else "server_error",
            }
        }


class NotFoundError(PolyvoxError):
    status = 404
    code = "not_found"


class EngineNotFoundError(NotFoundError):
    code = "engine_not_found"


class VoiceNotFoundError(NotFoundError):
    code = "voice_not_found"


class InvalidParameterError(PolyvoxError):
    status = 422
    code = "invalid_parameter"


class EmptyTextError(InvalidParameterError):
    code = "empty_text"


class InvalidTextError(InvalidParameterError):
    """The text cannot be spoken as sent (lone surrogates, SSML nested too deep, pauses over their cap)."""

    code = "invalid_text"


class LanguageNotSupportedError(InvalidParameterError):
    code = "language_not_supported"


class UnsupportedFormatError(InvalidParameterError):
    code = "unsupported_format"


class TextTooLongError(PolyvoxError):
    status = 413
    code = "text_too_long"


class AudioTooLongError(PolyvoxError):
    """The request would produce more audio than ``limits.max_audio_seconds``."""

    status = 413
    code = "audio_too_long"


class PayloadTooLargeError(PolyvoxError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaError(PolyvoxError):
    status = 415
    code = "unsupported_media"


class UnauthorizedError(PolyvoxError):
    status = 401
    code = "unauthorized"


class BusyError(PolyvoxError):
    """Too many requests queued; the client should come back after ``retry_after`` seconds."""

    status = 429
    code = "busy"

    def __init__(self, message: str, *, retry_after: int = 1, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class EngineFailedError(PolyvoxError):
    """The engine raised while loading or synthesizing."""

    status = 500
    code = "engine_failed"


class EngineUnavailableError(PolyvoxError):
    """The engine cannot run here: its weights are missing or unreadable (polyvox.engines.neural.weights).

    A condition of this installation, not a failure of the engine: it never counts against its health.
    """

    status = 503
    code = "engine_unavailable"


class RequestTimeoutError(PolyvoxError):
    """The synthesis ran past ``limits.request_timeout``; it was stopped and its queued work cancelled."""

    status = 504
    code = "timeout"


class InvalidSettingError(InvalidParameterError):
    """A setting (environment, ``POLYVOX_CONFIG`` file, command-line option) has an unusable value."""

    code = "invalid_setting"


class OutputNotWritableError(InvalidParameterError):
    """The CLI cannot write where it was told to (a directory, a read-only folder, a full disk)."""

    code = "output_not_writable"


class OutputFolderMissingError(OutputNotWritableError):
    code = "output_folder_missing"


class OutputIsTerminalError(InvalidParameterError):
    """Audio bytes would go to a terminal: the CLI refuses and says how to pipe them to a player."""

    code = "output_is_terminal"


class CannotListenError(PolyvoxError):
    """A server cannot listen where it was told to (the address is in use, not allowed or not local)."""

    status = 503
    code = "cannot_listen"


class InputNotReadableError(InvalidParameterError):
    """The CLI cannot read the text it was told to speak (``polyvox say --file``)."""

    code = "input_not_readable"
