"""The HTTP front door: an OpenAI-compatible speech route, a native route and engine management."""

from polyvox.api.app import create_app

__all__ = ["create_app"]
