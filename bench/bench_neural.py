"""Neural engines on whatever weights are on disk: load, first audio, RTF, Whisper WER, speaker similarity.

    python bench/bench_neural.py [--engines xtts,pocket] [--tiny] [--json FILE]

For every neural engine whose weights folder is filled (``DATA_DIR/models/<engine>/`` or
``engines.model_dirs``) this runs ``polyvox doctor`` (polyvox.doctor.diagnose): the reference is piper
reading a sentence, the output is heard by Whisper and compared with the reference by resemblyzer. Piper is
measured in the same run as the peer. ``--tiny`` first builds the tests' tiny random checkpoints
(``tests/neural_weights.py``) into a temporary data dir: that proves the script works without real weights,
but its WER and similarity say nothing about quality (the audio is noise).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from polyvox.asr import Transcriber
from polyvox.config import Settings
from polyvox.doctor import DoctorReport, diagnose
from polyvox.errors import EngineNotFoundError

NEURAL = ("xtts", "pocket", "chatterbox", "chatterbox-multilingual", "styletts2")
REPO = Path(__file__).resolve().parents[1]


def _row(report: DoctorReport) -> str:
    def fmt(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    return (
        f"| {report.engine} | {report.state} | {report.device or '-'} | {fmt(report.load_seconds, 2)} | "
        f"{fmt(report.first_audio_seconds)} | {fmt(report.rtf)} | {fmt(report.wer, 2)} | "
        f"{fmt(report.similarity)} | {report.error or ''} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default=",".join(NEURAL), help="comma-separated engine names")
    parser.add_argument("--tiny", action="store_true", help="measure the tests' tiny random checkpoints")
    parser.add_argument("--json", type=Path, help="also write the reports as JSON here")
    args = parser.parse_args()
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-neural-") as scratch:
        settings = Settings(data_dir=Path(scratch)) if args.tiny else Settings()
        if args.tiny:
            sys.path.insert(0, str(REPO))
            from tests import neural_weights

            for name in names:
                build = getattr(neural_weights, f"build_{name}", None)
                if build is not None:
                    build(settings.data_dir / "models" / name)
        whisper = Transcriber(threads=2)
        reports = []
        for name in ["piper", *names]:
            try:
                reports.append(diagnose(settings, name, transcriber=whisper))
            except EngineNotFoundError:  # its package (extra) is not installed here
                reports.append(DoctorReport(name, "not installed"))
    print("| engine | state | device | load s | first audio s | RTF | WER | similarity | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for report in reports:
        print(_row(report))
    if args.tiny:
        print("\n(tiny random checkpoints: timings of the mechanism only; WER and similarity are of noise)")
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in reports], indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
