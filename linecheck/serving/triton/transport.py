"""tritonclient behind one small interface, with every transport error converted in one place.

``Transport`` speaks gRPC or HTTP through tritonclient and returns plain numpy arrays and
dicts. Whatever tritonclient, grpc or gevent raise leaves this module as a
:class:`~linecheck.errors.ServingError` subclass made by :func:`convert_error`, so callers catch
by meaning:

* :class:`ServerUnavailableError`: connection refused / reset, server not live (names the URL).
* :class:`ModelNotReadyError`: unknown model, or the version is not loaded (names model, version).
* :class:`ModelContractError`: the server rejected the request's tensors (wrong shape / dtype).
* :class:`InferenceError`: timeout or a failure inside the model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from linecheck.errors import (
    InferenceError,
    ModelContractError,
    ModelNotReadyError,
    ServerUnavailableError,
    ServingError,
)

ProtocolName = Literal["grpc", "http"]

_DTYPES: dict[str, tuple[str, type[np.generic]]] = {
    "TYPE_FP32": ("FP32", np.float32),
    "TYPE_FP16": ("FP16", np.float16),
    "TYPE_UINT8": ("UINT8", np.uint8),
}
_UNAVAILABLE = ("UNAVAILABLE", "Connection refused", "failed to connect", "Socket closed", "connection reset")
_NOT_READY = ("unknown model", "is not found", "is not ready", "not loaded", "NOT_FOUND")
_TIMEOUT = ("DEADLINE_EXCEEDED", "Deadline Exceeded", "timed out", "Timeout")
#: Readiness / config calls get at least this long, however short the inference timeout is.
CONTROL_TIMEOUT_S = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """Where requests go: the server address and the model (version '' = as the server's policy says)."""

    url: str
    protocol: ProtocolName
    model: str
    version: str = ""
    timeout_s: float = 10.0

    @property
    def model_label(self) -> str:
        """``'name' version N`` (or 'served version') for messages."""
        return f"{self.model!r} version {self.version or '(served)'}"


def convert_error(exc: BaseException, target: Target) -> ServingError:
    """Turn any transport exception into the matching :class:`ServingError` (the only place this happens)."""
    if isinstance(exc, ServingError):
        return exc
    status = ""
    message = str(exc)
    if hasattr(exc, "status") and hasattr(exc, "message"):  # tritonclient.utils.InferenceServerException
        status = str(exc.status() or "")
        message = str(exc.message() or exc)
    text = f"{status} {message} {type(exc).__name__}"
    where = f"Triton at {target.url} ({target.protocol})"
    if isinstance(exc, TimeoutError) or any(t in text for t in _TIMEOUT):
        return InferenceError(
            f"{where}: request to model {target.model_label} timed out after {target.timeout_s} s"
        )
    if any(t in text for t in _NOT_READY) or status.endswith("NOT_FOUND") or status == "404":
        return ModelNotReadyError(f"{where}: model {target.model_label} is not ready: {message}")
    if isinstance(exc, ConnectionError | OSError) or any(t in text for t in _UNAVAILABLE):
        return ServerUnavailableError(f"{where} is unavailable: {message}")
    if status.endswith("INVALID_ARGUMENT") or status == "400":
        return ModelContractError(f"{where}: model {target.model_label} rejected the request: {message}")
    return InferenceError(f"{where}: model {target.model_label} failed: {status} {message}".rstrip())


def is_transient(error: ServingError) -> bool:
    """Whether retrying the same request may succeed (server briefly down, timeout)."""
    return isinstance(error, ServerUnavailableError) or (
        isinstance(error, InferenceError) and "timed out" in str(error)
    )


def _normalise_config(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    if isinstance(raw, dict) and "config" in raw and isinstance(raw["config"], dict):
        raw = raw["config"]  # gRPC's as_json wraps the config
    if not isinstance(raw, dict):
        raise InferenceError(f"unexpected model config response {type(raw).__name__}")
    return raw


def _inputs(module: Any, name: str, batch: npt.NDArray[Any], dtype: str) -> list[Any]:
    wire, np_dtype = _DTYPES.get(dtype, ("FP32", np.float32))
    tensor = module.InferInput(name, list(batch.shape), wire)
    tensor.set_data_from_numpy(np.ascontiguousarray(batch, dtype=np_dtype))
    return [tensor]


def _answer(result: Any, output_name: str, protocol: ProtocolName) -> tuple[npt.NDArray[np.float32], str]:
    array = np.asarray(result.as_numpy(output_name), dtype=np.float32)
    response = result.get_response()
    version = response.model_version if protocol == "grpc" else response.get("model_version", "")
    return array, str(version)


class Transport:
    """Blocking gRPC / HTTP client for one model. Safe to share between threads."""

    def __init__(self, target: Target) -> None:
        """Create the tritonclient client (no connection is made yet)."""
        self.target = target
        self._lock = threading.Lock()  # the HTTP client (gevent) must not be used by two threads at once
        with self._errors():
            if target.protocol == "grpc":
                import tritonclient.grpc as module
            else:
                import tritonclient.http as module
            self._module: Any = module
            if target.protocol == "grpc":
                self._client: Any = module.InferenceServerClient(url=target.url)
            else:
                self._client = module.InferenceServerClient(
                    url=target.url,
                    connection_timeout=max(target.timeout_s, CONTROL_TIMEOUT_S),
                    network_timeout=target.timeout_s,
                )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # converted, never swallowed
            raise convert_error(exc, self.target) from exc

    @contextmanager
    def _call(self) -> Iterator[None]:
        if self.target.protocol == "grpc":
            with self._errors():
                yield
        else:
            with self._lock, self._errors():
                yield

    def _timeout(self, *, control: bool = True) -> dict[str, float]:
        """Per-call deadline (gRPC): the inference timeout, or a floor for control calls."""
        if self.target.protocol != "grpc":
            return {}
        seconds = max(self.target.timeout_s, CONTROL_TIMEOUT_S) if control else self.target.timeout_s
        return {"client_timeout": seconds}

    def server_ready(self) -> bool:
        """Whether the server is live and ready (raises ServerUnavailableError when unreachable)."""
        with self._call():
            return bool(self._client.is_server_ready(**self._timeout()))

    def model_ready(self) -> bool:
        """Whether the target model version is loaded."""
        with self._call():
            return bool(
                self._client.is_model_ready(self.target.model, self.target.version, **self._timeout())
            )

    def model_config(self) -> dict[str, Any]:
        """The served model config as a JSON-like dict."""
        with self._call():
            if self.target.protocol == "grpc":
                raw = self._client.get_model_config(
                    self.target.model, self.target.version, as_json=True, **self._timeout()
                )
            else:
                raw = self._client.get_model_config(self.target.model, self.target.version)
        return _normalise_config(raw)

    def infer(
        self, input_name: str, batch: npt.NDArray[Any], output_name: str, dtype: str
    ) -> tuple[npt.NDArray[np.float32], str]:
        """Run one request; returns the output batch and the model version that answered."""
        with self._call():
            outputs = [self._module.InferRequestedOutput(output_name)]
            result = self._client.infer(
                self.target.model,
                _inputs(self._module, input_name, batch, dtype),
                model_version=self.target.version,
                outputs=outputs,
                **self._timeout(control=False),
            )
            return _answer(result, output_name, self.target.protocol)

    def close(self) -> None:
        """Close the connection."""
        with self._call():
            self._client.close()
