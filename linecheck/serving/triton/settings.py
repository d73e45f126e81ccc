"""Settings of the Triton launcher, repository builder and client (env prefix ``LINECHECK_TRITON_``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from linecheck.config import get_path_settings
from linecheck.settings_env import ServiceSettings, read_settings

Flavor = Literal["embedded", "gpu"]
Protocol = Literal["grpc", "http"]


def _data_dir() -> Path:
    return get_path_settings().data_dir


@dataclass(frozen=True)
class FlavorDefaults:
    """Batching and instances a flavour gets when the settings leave them unset."""

    max_batch_size: int
    preferred_batch_sizes: tuple[int, ...]
    instance_count: int


#: Measured in ``bench/pipeline.py`` (see ``bench/RESULTS.md``): on a small CPU two instances with one
#: ONNX Runtime thread each and requests of at most 4 frames keep both cores busy (one inspector
#: batch of 8 becomes two concurrent requests); on a GPU one instance takes large batches.
FLAVOR_DEFAULTS: dict[str, FlavorDefaults] = {
    "embedded": FlavorDefaults(max_batch_size=4, preferred_batch_sizes=(2, 4), instance_count=2),
    "gpu": FlavorDefaults(max_batch_size=32, preferred_batch_sizes=(8, 16, 32), instance_count=1),
}


class TritonSettings(ServiceSettings):
    """Everything configurable about serving models with Triton.

    Read once from the environment by :func:`get_triton_settings`; e.g.
    ``LINECHECK_TRITON_GRPC_PORT=9001`` or ``LINECHECK_TRITON_TIMEOUT_S=2``.
    """

    model_config = SettingsConfigDict(env_prefix="LINECHECK_TRITON_")
    env_title: ClassVar[str] = "Triton (`linecheck serve triton`, the inspector's Triton client)"

    # Where things live.
    server_dir: Path = Field(
        default_factory=lambda: _data_dir() / "triton" / "server", description="embedded server install"
    )
    repository: Path = Field(
        default_factory=lambda: _data_dir() / "triton" / "repo", description="model repository served"
    )

    # Embedded server.
    host: str = Field("127.0.0.1", description="bind address of the embedded server")
    grpc_port: int = Field(8001, ge=0, le=65535, description="gRPC port; 0 picks a free port")
    http_port: int = Field(8000, ge=0, le=65535, description="HTTP port; 0 picks a free port")
    metrics_port: int = Field(8002, ge=0, le=65535, description="metrics port; 0 picks a free port")
    startup_timeout_s: float = Field(
        60.0, gt=0, description="how long the embedded server may take to be ready"
    )
    stop_timeout_s: float = Field(10.0, gt=0, description="how long the server may take to stop")
    log_verbose: int = Field(0, ge=0, description="Triton's --log-verbose level")

    # Model repository.
    flavor: Flavor = Field("embedded", description="repository flavour: CPU batching or GPU (TensorRT)")
    max_batch_size: int | None = Field(
        None, ge=1, description="per request; unset: 4 embedded (CPU), 32 gpu (see FLAVOR_DEFAULTS)"
    )
    preferred_batch_sizes: list[int] | None = Field(
        None, description="unset: [2, 4] embedded, [8, 16, 32] gpu"
    )
    max_queue_delay_us: int = Field(2000, ge=0, description="dynamic batcher's longest wait for a batch")
    instance_count: int | None = Field(None, ge=1, description="model instances; unset: 2 embedded, 1 gpu")
    intra_op_threads: int = Field(
        1, ge=0, description="ONNX Runtime threads per instance; 0 = runtime default"
    )
    gpu_precision: Literal["FP16", "FP32"] = Field(
        "FP16", description="TensorRT precision of the gpu flavour"
    )

    # Client.
    url: str = Field("", description="server address; empty means host:grpc_port (or http_port)")
    protocol: Protocol = Field("grpc", description="client protocol")
    timeout_s: float = Field(10.0, gt=0, description="per request")
    ready_timeout_s: float = Field(
        10.0, ge=0, description="how long a client waits for the server at start-up"
    )
    retries: int = Field(2, ge=0, description="extra attempts after a transient failure")
    retry_backoff_s: float = Field(0.2, ge=0, description="wait before a retry, times the attempt number")
    conf: float = Field(0.25, ge=0, le=1, description="confidence threshold when decoding the output")
    iou: float = Field(0.45, ge=0, le=1, description="IoU threshold of non-maximum suppression")
    max_det: int = Field(300, ge=1, description="most detections kept per image")

    def batching(self, flavor: Flavor | None = None) -> FlavorDefaults:
        """Max batch, preferred batch sizes and instance count for ``flavor`` (default: this flavour)."""
        base = FLAVOR_DEFAULTS[flavor or self.flavor]
        return FlavorDefaults(
            max_batch_size=self.max_batch_size or base.max_batch_size,
            preferred_batch_sizes=tuple(self.preferred_batch_sizes or base.preferred_batch_sizes),
            instance_count=self.instance_count or base.instance_count,
        )

    def client_url(self, protocol: Protocol | None = None) -> str:
        """Address a client connects to: ``url`` if set, else host and the port of ``protocol``."""
        if self.url:
            return self.url
        port = self.grpc_port if (protocol or self.protocol) == "grpc" else self.http_port
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{host}:{port}"


@lru_cache(maxsize=1)
def get_triton_settings() -> TritonSettings:
    """Return the process-wide :class:`TritonSettings` (read once from the environment)."""
    return read_settings(TritonSettings)
