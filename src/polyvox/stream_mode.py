"""How a stream is produced: for a listener (LIVE), into a file (FILE), or as a long-form job (LONGFORM).

The one threshold rule lives here (:meth:`StreamMode.choose`): every door that can write a file asks it, so a
text is chunked, mastered and scheduled the same way whether it came over HTTP or the command line.
"""

from __future__ import annotations

from enum import Enum

BACKGROUND_SLACK = 30.0
"""Seconds a long-form segment's deadline lies ahead: it yields to listeners, and ages in within this."""


class StreamMode(Enum):
    """How a stream is produced and finished: for a listener, into a file, or as a long-form job."""

    LIVE = "live"
    """A listener: parts as the engine makes them, one segment ahead, due when the audio runs out."""
    FILE = "file"
    """A whole file, one segment after another; with ``postprocess.master_files`` chunked and mastered."""
    LONGFORM = "longform"
    """A long file: paragraph chunks, each mastered whole with the configured pause after it, up to
    ``engines.workers`` rendered at once, due eventually."""

    def mastered(self, master_files: bool) -> bool:
        """Whether this mode's segments are paragraph chunks finished by the mastering chain."""
        return self is StreamMode.LONGFORM or (self is StreamMode.FILE and master_files)

    @classmethod
    def choose(
        cls,
        text: str,
        threshold_chars: int,
        *,
        streamed: bool,
        validate: bool = False,
        captions: bool = False,
    ) -> StreamMode:
        """The one rule every door follows: a listener gets LIVE; a file LONGFORM when validated,
        captioned or at least ``longform.threshold_chars`` long (parallel chunks pay off), else FILE."""
        if streamed:
            return cls.LIVE
        return cls.LONGFORM if validate or captions or len(text) >= threshold_chars else cls.FILE
