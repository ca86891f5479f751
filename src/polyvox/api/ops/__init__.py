"""The HTTP server's operations layer: metrics, request context, auth, rate limits, storage, lifecycle."""
