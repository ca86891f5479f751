"""Real-time speech: incremental text-to-speech over WebSocket and the ASR → LLM → TTS voice pipeline."""
