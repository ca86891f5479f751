"""Settings of the Ray Serve scale-out mode (``POLYVOX_RAY__*``; off unless ``address`` is set)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class RaySettings(BaseModel):
    """Where engine synthesis runs when one machine is not enough: Ray Serve deployments, one per engine."""

    address: str | None = Field(
        None,
        description="Ray cluster to run engines on: 'auto' (the cluster this node belongs to), "
        "'ray://host:10001' or 'host:6379', or 'local' (start a private single-node Ray). "
        "None: no Ray; engines run in this process's worker pool and Ray is never imported.",
    )
    num_replicas: int = Field(
        2, ge=1, description="Replicas per engine deployment when autoscaling is off (max_replicas = 0)."
    )
    min_replicas: int = Field(1, ge=0, description="Autoscaling lower bound (used when max_replicas > 0).")
    max_replicas: int = Field(
        0, ge=0, description="Autoscaling upper bound; 0 turns autoscaling off (fixed num_replicas)."
    )
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="Autoscaling target: in-flight segments per replica."
    )
    num_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves per replica.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs Ray reserves per replica.")
    workers: int = Field(1, ge=1, description="Inference threads inside each replica.")
    max_ongoing_requests: int = Field(
        4, ge=1, description="Segments one replica accepts at once; more wait in the caller's queue."
    )
    max_queued_requests: int = Field(
        64,
        ge=-1,
        description="Segments allowed to wait for a replica (per caller); beyond that Ray refuses and the "
        "request is answered 429 with Retry-After (-1: unbounded).",
    )
    request_timeout: float = Field(
        60.0, gt=0, description="Seconds one segment may take on a replica before it counts as failed."
    )
    retries: int = Field(
        1, ge=0, description="Times a segment whose replica died is re-sent to another replica."
    )
    object_store_memory: int = Field(
        200 * 1024 * 1024, ge=0, description="Object store bytes of a 'local' Ray (0: Ray's default)."
    )
    namespace: str = Field("polyvox", description="Prefix of the Serve application names (one per engine).")

    @model_validator(mode="after")
    def _bounds(self) -> RaySettings:
        if self.max_replicas and self.min_replicas > self.max_replicas:
            raise ValueError("ray.min_replicas must not exceed ray.max_replicas")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.address)
