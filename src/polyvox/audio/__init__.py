"""Audio values, signal processing and streaming encoders."""
