"""Scale-out: where segments are rendered (local worker pool, or Ray Serve replicas)."""

from polyvox.scaleout.runner import LocalRunner, SegmentRunner, scale_out
from polyvox.scaleout.settings import RaySettings

__all__ = ["LocalRunner", "RaySettings", "SegmentRunner", "scale_out"]
