"""Polyvox: one self-hosted speech server, many engines."""

__version__ = "0.1.0"
