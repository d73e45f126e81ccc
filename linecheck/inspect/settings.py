"""Settings of the line-side inspector (``LINECHECK_INSPECTOR_`` environment variables)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from linecheck.config import get_path_settings
from linecheck.settings_env import ServiceSettings, read_settings, shown

#: URL schemes of an MQTT broker: plain (port 1883 by default), then over TLS (port 8883 by default).
MQTT_PLAIN_SCHEMES = ("mqtt", "tcp")
MQTT_TLS_SCHEMES = ("mqtts", "ssl")
MQTT_SCHEMES = MQTT_PLAIN_SCHEMES + MQTT_TLS_SCHEMES


def _default_inspector_dir() -> Path:
    return get_path_settings().data_dir / "inspector"


class InspectorSettings(ServiceSettings):
    """Everything the inspector service is tuned by; line specifics stay in ``configs/lines``.

    Environment variables use the ``LINECHECK_INSPECTOR_`` prefix, e.g. ``LINECHECK_INSPECTOR_API_URL``,
    ``LINECHECK_INSPECTOR_API_KEY``, ``LINECHECK_INSPECTOR_MAX_BATCH``; the outbox folder is
    ``LINECHECK_INSPECTOR_DIR``. The Triton client reads its own ``LINECHECK_TRITON_*`` settings
    (``LINECHECK_TRITON_URL``).
    """

    model_config = SettingsConfigDict(env_prefix="LINECHECK_INSPECTOR_")
    env_title: ClassVar[str] = "Line-side inspector (`linecheck inspect`)"

    # Where results go.
    api_url: str = Field("http://127.0.0.1:8080", description="base URL of the traceability API")
    api_key: str = Field("", description="line-role API key (Bearer token)")
    api_timeout_s: float = Field(10.0, gt=0, description="per-request HTTP timeout")
    clock_skew_warn_s: float = Field(
        10.0,
        ge=2,
        description="warn when this PC's clock is further than this from the API's (seconds; measured from "
        "the HTTP Date of its answers, to a second or two)",
    )
    api_ca_file: Path | None = Field(
        None,
        description="PEM file of the CA that signed an https api_url's certificate (a plant's own CA); "
        "default: the system's CAs",
    )
    inspector_dir: Path = Field(
        default_factory=_default_inspector_dir,
        validation_alias="LINECHECK_INSPECTOR_DIR",
        description="outbox database and kept images live here",
    )

    # Inference (the Triton address itself is LINECHECK_TRITON_URL, see TritonSettings).
    max_batch: int = Field(8, ge=1, le=256, description="frames per inference call, across cameras")
    max_delay_ms: float = Field(20.0, ge=0, description="flush a partial batch after this wait")
    infer_timeout_s: float = Field(10.0, gt=0, description="one inference call longer than this fails")
    deadline_s: float = Field(
        15.0, gt=0, description="a frame not inferred this long after capture is not_inspected"
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="first detector reconnect delay")
    reconnect_max_s: float = Field(10.0, gt=0, description="longest detector reconnect delay")

    # Queues (bounded: backpressure is reported, never silent).
    queue_size: int = Field(64, ge=1, description="capacity of each stage's input queue")
    queue_wait_s: float = Field(
        2.0, ge=0, description="how long a stage waits on a full queue before the frame is not_inspected"
    )

    # Outbox sender.
    verification_poll_s: float = Field(
        30.0,
        gt=0,
        description="seconds between asking the API where a line's error-proofing verification stands "
        "(lines with challenge parts; linecheck.inspect.verification_watch)",
    )
    shadow_keep_images: int = Field(
        200,
        ge=0,
        description="frames kept as PNG per shadow model where it and production disagree "
        "(linecheck.inspect.shadow)",
    )
    send_batch: int = Field(100, ge=1, le=500, description="inspections per POST")
    send_interval_s: float = Field(0.2, gt=0, description="sender poll interval when idle")
    retry_min_s: float = Field(0.5, gt=0, description="first resend delay after a failure")
    retry_max_s: float = Field(30.0, gt=0, description="longest resend delay")
    keep_sent_images: bool = Field(False, description="keep local image copies after the API acknowledged")
    outbox_keep_sent_days: float = Field(
        7.0, ge=0, description="acknowledged outbox rows are deleted this many days after the API had them"
    )
    image_store_full_retries: int = Field(
        3,
        ge=0,
        description="failed image uploads (API image store full, 507) before inspections are posted "
        "without waiting for their images; the images stay in the outbox and are uploaded later",
    )
    outbox_park_after: int = Field(
        5,
        ge=1,
        description="sends of one inspection the API answers 5xx for on its own (while it takes the others) "
        "before the row is parked as rejected; retried with backoff until then, never holding up other rows",
    )

    # Line outputs (which lines use them, topics and node names: the line YAML's ``outputs:``).
    opcua_endpoint: str = Field(
        "",
        description="OPC UA server endpoint, e.g. opc.tcp://0.0.0.0:4840/linecheck; empty: no OPC UA server",
    )
    opcua_users: dict[str, str] = Field(
        default_factory=dict,
        repr=False,  # passwords: never printed, in an error either
        description='OPC UA user names and passwords, JSON: {"plc": "secret"}',
    )
    opcua_allow_anonymous: bool = Field(
        False, description="accept anonymous OPC UA sessions (the demo does; keep off on a line)"
    )
    opcua_certificate: Path | None = Field(
        None, description="server certificate (DER/PEM): enables Basic256Sha256 Sign and SignAndEncrypt"
    )
    opcua_private_key: Path | None = Field(None, description="private key of opcua_certificate (PEM)")
    mqtt_url: str = Field(
        "", description="MQTT broker, mqtt://host:1883 or over TLS mqtts://host:8883; empty: no MQTT output"
    )
    mqtt_ca_file: Path | None = Field(
        None,
        description="PEM file of the CA that signed an mqtts:// broker's certificate; default: the system's",
    )
    mqtt_username: str = Field("", description="MQTT user name (empty: none)")
    mqtt_password: str = Field("", description="MQTT password")
    mqtt_client_id: str = Field(
        "", description="MQTT client id and Sparkplug edge node id; empty: linecheck-<host name>"
    )
    mqtt_sparkplug_group: str = Field(
        "", description="Sparkplug B group id: publish line metrics as an edge node; empty: no Sparkplug"
    )

    # Observability.
    metrics_host: str = Field("127.0.0.1", description="bind address of /metrics, /status and POST /trigger")
    metrics_port: int = Field(0, ge=0, le=65535, description="0 = do not serve metrics")

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str) -> str:
        if value and not value.startswith(tuple(f"{s}://" for s in MQTT_SCHEMES)):
            raise ValueError("expected mqtt://host:port or mqtts://host:port")
        return value

    @model_validator(mode="after")
    def _ordered_delays(self) -> InspectorSettings:
        for low, high in (("reconnect_min_s", "reconnect_max_s"), ("retry_min_s", "retry_max_s")):
            if getattr(self, high) < getattr(self, low):
                raise ValueError(f"{shown(self, high)} must be >= {shown(self, low)}")
        if (self.opcua_certificate is None) != (self.opcua_private_key is None):
            raise ValueError(
                f"{shown(self, 'opcua_certificate')}, {shown(self, 'opcua_private_key')}: "
                "they go together, set both or neither"
            )
        return self

    @property
    def mqtt_client_name(self) -> str:
        """The MQTT client id (also the Sparkplug edge node id)."""
        import socket

        return self.mqtt_client_id or f"linecheck-{socket.gethostname()}"

    @property
    def outbox_path(self) -> Path:
        """SQLite outbox file."""
        return self.inspector_dir / "outbox.sqlite"

    @property
    def images_dir(self) -> Path:
        """Local copies of frames and crops waiting to be uploaded."""
        return self.inspector_dir / "images"


@lru_cache(maxsize=1)
def get_inspector_settings() -> InspectorSettings:
    """Return the process-wide :class:`InspectorSettings` (read once from the environment)."""
    return read_settings(InspectorSettings)
