"""StyleTTS2's folder rules and text pieces, without torch: what the config names, paths kept inside the
folder, and phoneme ids split to fit PL-BERT's positions."""

from __future__ import annotations

from pathlib import Path

import yaml

from polyvox.config import Settings
from polyvox.engines.neural.styletts2 import StyleModel, StyleTTS2Engine, _token_pieces

NAMED = {
    "ASR_config": "Utils/ASR/config.yml",
    "ASR_path": "Utils/ASR/epoch_00080.pth",
    "F0_path": "Utils/JDC/bst.t7",
    "PLBERT_dir": "Utils/PLBERT/",
}


RELEASE_FILES = (
    "Utils/ASR/config.yml",
    "Utils/ASR/epoch_00080.pth",
    "Utils/JDC/bst.t7",
    "Utils/PLBERT/config.yml",
    "Utils/PLBERT/step_1000000.t7",
    "epochs_2nd_00020.pth",
)


def _status(folder: Path) -> tuple[str, ...]:
    settings = Settings(engines={"model_dirs": {"styletts2": str(folder)}})
    return StyleTTS2Engine.weights_status(settings).missing


def _fill(folder: Path, config: dict[str, str]) -> None:
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    for name in RELEASE_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")


def test_release_layout_is_ready_and_each_named_file_counts(tmp_path: Path) -> None:
    assert _status(tmp_path) == ("config.yml",)
    _fill(tmp_path, NAMED)
    assert _status(tmp_path) == ()
    (tmp_path / "Utils/JDC/bst.t7").unlink()
    (tmp_path / "epochs_2nd_00020.pth").unlink()
    assert _status(tmp_path) == ("Utils/JDC/bst.t7", "the checkpoint *.pth")


def test_paths_outside_the_folder_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    _fill(folder, {**NAMED, "F0_path": "../bst.t7", "ASR_path": "/etc/passwd"})
    (tmp_path / "bst.t7").write_bytes(b"x")
    missing = _status(folder)
    assert "../bst.t7 (outside the folder: refused)" in missing
    assert "/etc/passwd (outside the folder: refused)" in missing


def test_a_config_without_the_names_says_so(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("model_params: {}\n")
    (tmp_path / "epochs_2nd_00020.pth").write_bytes(b"x")
    assert "config.yml naming PLBERT_dir" in _status(tmp_path)


def _model(max_tokens: int) -> StyleModel:
    symbols = {c: i for i, c in enumerate("$ abcdefghijklmnopqrstuvwxyz.")}
    return StyleModel(None, None, None, symbols, True, max_tokens, "cpu", None)


def test_token_pieces_start_with_the_pad_and_fit_the_positions() -> None:
    model = _model(max_tokens=12)
    pieces = _token_pieces(model, "abc def ghi jkl .")
    assert all(piece[0] == 0 and len(piece) <= 12 for piece in pieces)
    spoken = [model.symbols[c] for c in "abc def ghi jkl ."]
    joined = [i for n, piece in enumerate(pieces) for i in ([model.symbols[" "]] if n else []) + piece[1:]]
    assert joined == spoken and len(pieces) == 2  # split at a space, nothing lost
    assert _token_pieces(model, "") == []
