"""``TritonDetector``: the Triton implementation of :class:`linecheck.model.detector.Detector`.

At start-up it waits (bounded) for the server, checks the model is ready, reads the model config
and refuses a contract mismatch (class list, input size, output layout, tensor names) with a
:class:`ModelContractError` naming what was expected and what is served. Frames go through the
same numpy pre/post-processing as the in-process ONNX Runtime detector, in requests of at most the
served ``max_batch_size`` images, sent concurrently; transient failures (server briefly down,
timeout) are retried a bounded number of times. When a new model version answers, the contract
is read and checked again before its output is decoded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from linecheck.errors import ModelContractError, ModelNotReadyError, ServerUnavailableError, ServingError
from linecheck.messages import Detections
from linecheck.model.layout import OutputLayout
from linecheck.model.processing import (
    DecodeOptions,
    Letterbox,
    letterbox_batch,
    postprocess,
    preprocess,
)
from linecheck.serving.triton.contract import ModelContract, contract_from_config
from linecheck.serving.triton.settings import Protocol, TritonSettings, get_triton_settings
from linecheck.serving.triton.transport import Target, Transport, is_transient

T = TypeVar("T")
FloatBatch = npt.NDArray[np.float32]
#: A request's images: uint8 frames or the float model input (see :meth:`TritonDetector.infer`).
InputBatch = npt.NDArray[np.uint8] | npt.NDArray[np.float32]


class TritonDetector:
    """Detect with a model served by Triton over gRPC (default) or HTTP.

    Example::

        detector = TritonDetector("textile", url=server.grpc_url, expected_classes=line.classes)
        detections = detector.detect([frame.image for frame in frames])
    """

    def __init__(
        self,
        model: str,
        *,
        url: str | None = None,
        protocol: Protocol | None = None,
        version: str = "",
        expected_classes: Sequence[str] | None = None,
        expected_imgsz: int | None = None,
        expected_layout: OutputLayout | None = None,
        options: DecodeOptions | None = None,
        timeout_s: float | None = None,
        retries: int | None = None,
        retry_backoff_s: float | None = None,
        ready_timeout_s: float | None = None,
        settings: TritonSettings | None = None,
    ) -> None:
        """Connect, wait for readiness and check the served contract.

        Arguments left as None come from :class:`TritonSettings` (``LINECHECK_TRITON_*``).

        Raises:
            ServerUnavailableError: the server is not reachable / ready within ``ready_timeout_s``.
            ModelNotReadyError: the model (version) is not loaded.
            ModelContractError: the served config differs from the ``expected_*`` values or
                lacks the linecheck parameters.

        """
        cfg = settings or get_triton_settings()
        proto: Protocol = protocol or cfg.protocol
        if url is None:
            url = cfg.client_url(proto)
        self._target = Target(
            url=url,
            protocol=proto,
            model=model,
            version=version,
            timeout_s=timeout_s if timeout_s is not None else cfg.timeout_s,
        )
        self._expected_classes = None if expected_classes is None else tuple(expected_classes)
        self._expected_imgsz = expected_imgsz
        self._expected_layout: OutputLayout | None = expected_layout
        self._options = options or DecodeOptions(conf=cfg.conf, iou=cfg.iou, max_det=cfg.max_det)
        self._retries = retries if retries is not None else cfg.retries
        self._backoff = retry_backoff_s if retry_backoff_s is not None else cfg.retry_backoff_s
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._transport = Transport(self._target)
        try:
            self._wait_ready(cfg.ready_timeout_s if ready_timeout_s is None else ready_timeout_s)
            self._contract = self._read_contract()
        except BaseException:
            self._transport.close()
            raise
        self._version = str(self._contract.registry_version or version)

    # -- start-up checks ---------------------------------------------------------------------
    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last: ServingError | None = None
        while True:
            try:
                if self._transport.server_ready():
                    break
                last = ServerUnavailableError(f"Triton at {self._target.url} is live but not ready")
            except ServerUnavailableError as exc:
                last = exc
            if time.monotonic() >= deadline:
                raise ServerUnavailableError(f"{last} (waited {timeout_s:.1f} s for readiness)") from last
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        if not self._transport.model_ready():
            raise ModelNotReadyError(
                f"Triton at {self._target.url}: model {self._target.model_label} is not loaded "
                "(load it: `linecheck serve triton` loads the production versions)"
            )

    def _read_contract(self) -> ModelContract:
        source = f"Triton at {self._target.url}: model {self._target.model!r}"
        contract = contract_from_config(self._transport.model_config(), source=source)
        problems = contract.mismatches(
            classes=self._expected_classes, imgsz=self._expected_imgsz, output_layout=self._expected_layout
        )
        if problems:
            raise ModelContractError(f"{source} does not match this client: " + "; ".join(problems))
        return contract

    # -- Detector interface ------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        """The served model's class list."""
        return self._contract.classes

    @property
    def model_name(self) -> str:
        """Name of the model on the server."""
        return self._target.model

    @property
    def model_version(self) -> str:
        """Version that answered the last request (before any: the served registry version)."""
        return self._version

    @property
    def contract(self) -> ModelContract:
        """The contract read from the served model config."""
        return self._contract

    @property
    def native_tile(self) -> int:
        """Tile side the served model was trained on (its card's, as served; 0: whole frames)."""
        return self._contract.tile

    @property
    def url(self) -> str:
        """Server address."""
        return self._target.url

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Detect in BGR images; one :class:`Detections` per image, boxes in its own pixels."""
        batch, placements = self._prepare(images)
        output, contract = self.infer(batch)
        return postprocess(output, placements, contract.classes, contract.output_layout, self._options)

    def infer(self, batch: InputBatch) -> tuple[FloatBatch, ModelContract]:
        """Send a pre-processed batch; returns the raw output and its contract.

        The batch is what the served model takes (``contract.item_shape``): letterboxed uint8 BGR
        frames ``(N, imgsz, imgsz, 3)`` for the embedded server, the float model input
        ``(N, 3, imgsz, imgsz)`` for the GPU flavour.

        Requests hold at most ``max_batch_size`` images and are sent concurrently.

        Raises:
            ModelContractError: the batch does not have the served input shape.

        """
        chunks = self._chunks(batch)
        if len(chunks) == 1:
            parts = [self._retry(partial(self._send, chunks[0]))]
        else:
            pool = self._executor()
            futures = [pool.submit(self._retry, partial(self._send, chunk)) for chunk in chunks]
            parts = [f.result() for f in futures]
        return self._merge(parts)

    def close(self) -> None:
        """Close the connection and the request threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._transport.close()

    def __enter__(self) -> TritonDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------
    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=4, thread_name_prefix=f"triton-{self._target.model}"
                )
            return self._pool

    def _prepare(self, images: Sequence[npt.NDArray[np.uint8]]) -> tuple[InputBatch, list[Letterbox]]:
        """Letterbox (and, for a float input, normalise) ``images`` into what the served model takes."""
        c = self._contract
        if c.takes_frames:
            return letterbox_batch(images, c.imgsz)
        return preprocess(images, c.imgsz)

    def _chunks(self, batch: InputBatch) -> list[InputBatch]:
        c = self._contract
        expected = c.item_shape
        wanted = np.uint8 if c.takes_frames else np.floating
        if (
            batch.ndim != 4
            or tuple(batch.shape[1:]) != expected
            or batch.shape[0] == 0
            or not np.issubdtype(batch.dtype, wanted)
        ):
            kind = "uint8" if c.takes_frames else "float"
            raise ModelContractError(
                f"input for model {self._target.model!r} has shape {tuple(batch.shape)} ({batch.dtype}); "
                f"the served model takes {kind} (N, {', '.join(map(str, expected))}) with N >= 1"
            )
        step = c.max_batch_size
        return [batch[i : i + step] for i in range(0, batch.shape[0], step)]

    def _send(self, chunk: InputBatch) -> tuple[FloatBatch, str]:
        c = self._contract
        return self._transport.infer(c.input_name, chunk, c.output_name, c.input_dtype)

    def _retry(self, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return call()
            except ServingError as exc:
                if attempt >= self._retries or not is_transient(exc):
                    raise
                attempt += 1
                time.sleep(self._backoff * attempt)

    def _merge(self, parts: Sequence[tuple[FloatBatch, str]]) -> tuple[FloatBatch, ModelContract]:
        versions = {version for _, version in parts}
        newest = max(versions, key=lambda v: (len(v), v))
        contract = self._contract
        if newest and newest != self._version:
            # A new version was swapped in: its classes / layout must still satisfy this client.
            with self._lock:
                if newest != self._version:
                    self._contract = contract = self._read_contract()
                    self._version = newest
        output = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts], axis=0)
        return output, contract
