"""Runners: where segments are rendered (worker pool, engine worker processes or Ray Serve replicas)."""
