"""Neural engines on whatever weights are on disk: load, first audio, RTF, Whisper WER, speaker similarity.

    python bench/bench_neural.py [--engines xtts,pocket] [--tiny] [--json FILE]
    python bench/bench_neural.py --full-size [--engines xtts,chatterbox,styletts2,pocket] [--max-tokens 60]

For every neural engine whose weights folder is filled (``DATA_DIR/models/<engine>/`` or
``engines.model_dirs``) this runs ``polyvox doctor`` (polyvox.doctor.diagnose): the reference is piper
reading a sentence, the output is heard by Whisper and compared with the reference by resemblyzer. Piper is
measured in the same run as the peer. ``--tiny`` first builds the tests' tiny random checkpoints
(``tests/neural_weights.py``) into a temporary data dir: that proves the script works without real weights,
but its WER and similarity say nothing about quality (the audio is noise).

``--full-size`` answers "is my CPU (or GPU) enough?" without the weights: each engine built at its published
size from its published configuration with random weights, loaded through the user's path, one engine at a
time in its own process: load seconds, RSS, ms per generated token and RTF (``bench/neural_speed.py``). With
``--tiny`` too, the same over the tests' tiny checkpoints (a quick check of the script).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from polyvox.config import Settings
from polyvox.doctor import DoctorReport, diagnose
from polyvox.errors import EngineNotFoundError
from polyvox.stt.transcriber import Transcriber

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
    parser.add_argument("--full-size", action="store_true", help="published sizes, random weights")
    parser.add_argument("--max-tokens", type=int, default=60, help="--full-size: tokens generated at most")
    parser.add_argument("--timeout", type=float, default=900, help="--full-size: seconds per build or run")
    args = parser.parse_args()
    if args.full_size:
        full_size(args)
        return
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


def full_size(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import neural_speed

    names = [n.strip() for n in args.engines.split(",") if n.strip() in neural_speed.ENGINES]
    rows = []
    for name in names:  # one at a time: each holds a few GB
        print(f"{name}: building and measuring...", file=sys.stderr, flush=True)
        rows.append(neural_speed.run(name, args.max_tokens, args.timeout, tiny=args.tiny))
        print(neural_speed.table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(neural_speed.table(rows))
    print(
        f"\n(random weights never stop: at most {args.max_tokens} tokens per engine; ms/token = the engine's"
        f" whole time over the tokens generated, AR step ms = the autoregressive model's steps alone, RTF ="
        f" the whole time over the audio's length; torch on {neural_speed.THREADS} threads"
        f"{'; the tests tiny checkpoints' if args.tiny else ''})"
    )
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
