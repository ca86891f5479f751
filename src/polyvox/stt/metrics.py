"""Word error rate: how far what Whisper heard is from the text that was spoken (jiwer).

jiwer is a dependency of polyvox itself; it is imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import re

_HYPHENS = re.compile(r"[-‐‑‒–—]")


def normalize_for_wer(text: str) -> str:
    """Lower case, hyphens and dashes to spaces, punctuation removed, whitespace collapsed."""
    import jiwer

    transform = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.SubstituteRegexes({_HYPHENS.pattern: " "}),
            jiwer.RemovePunctuation(),  # type: ignore[no-untyped-call]
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
        ]
    )
    result: str = transform(text)
    return result


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after ``normalize_for_wer`` on both.

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise (jiwer refuses it).
    """
    import jiwer

    ref = normalize_for_wer(reference)
    hyp = normalize_for_wer(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))
