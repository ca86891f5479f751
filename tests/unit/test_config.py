from pathlib import Path

import pytest

from polyvox.config import Settings


def test_env_nested_and_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "polyvox.yaml"
    config.write_text("engines:\n  default: espeak\n  ttl: 7\nmax_text_length: 500\n")
    monkeypatch.setenv("POLYVOX_CONFIG", str(config))
    monkeypatch.setenv("POLYVOX_ENGINES__TTL", "0")
    settings = Settings()
    assert settings.engines.default == "espeak"  # from the file
    assert settings.engines.ttl == 0  # the environment wins over the file
    assert settings.max_text_length == 500


def test_voices_dir_defaults_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_voices_dir == tmp_path / "voices"


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="ttl"):
        Settings(engines={"ttl": -5})
