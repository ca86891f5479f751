"""Operations: metrics, request context, auth, rate limits, storage bounds and lifecycle."""
