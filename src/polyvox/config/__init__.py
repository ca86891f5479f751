"""Settings in one typed place, at the bottom of the house: nothing here imports the rest of Polyvox."""

from polyvox.config.asr import AsrSettings, OpenAIAsrSettings
from polyvox.config.monitor import MonitorSettings
from polyvox.config.ops import (
    DEFAULT_OPEN_PATHS,
    AuthSettings,
    LimitSettings,
    LoggingSettings,
    StorageSettings,
)
from polyvox.config.ray import RaySettings
from polyvox.config.realtime import LLMSettings, RealtimeSettings
from polyvox.config.settings import (
    CacheSettings,
    EngineSettings,
    LongformSettings,
    PostprocessSettings,
    ServerSettings,
    Settings,
    TextSettings,
    ToneSettings,
    get_settings,
)
from polyvox.config.voices import VoiceLibrarySettings
from polyvox.config.wyoming import WyomingSettings

__all__ = [
    "DEFAULT_OPEN_PATHS",
    "AsrSettings",
    "AuthSettings",
    "CacheSettings",
    "EngineSettings",
    "LLMSettings",
    "LimitSettings",
    "LoggingSettings",
    "LongformSettings",
    "MonitorSettings",
    "OpenAIAsrSettings",
    "PostprocessSettings",
    "RaySettings",
    "RealtimeSettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "TextSettings",
    "ToneSettings",
    "VoiceLibrarySettings",
    "WyomingSettings",
    "get_settings",
]
