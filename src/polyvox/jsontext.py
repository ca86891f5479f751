"""JSON text from clients, parsed so that no input can raise anything but ``ValueError``.

``json.loads`` recurses once per nesting level and raises ``RecursionError`` (not ``ValueError``) for
``[[[[...`` nested past the interpreter's limit: a 10 KB message was enough to become a 500 on HTTP routes
and to kill a WebSocket. :func:`loads` turns that into the ``ValueError`` every caller already handles as
"not valid JSON".
"""

from __future__ import annotations

import json
from typing import Any


class TooDeepError(ValueError):
    """The JSON text nests arrays/objects deeper than the parser can follow."""


def loads(raw: str | bytes | bytearray) -> Any:
    """``json.loads``, with nesting too deep to parse reported as :class:`TooDeepError` (a ``ValueError``)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise TooDeepError("arrays or objects are nested too deeply") from None
