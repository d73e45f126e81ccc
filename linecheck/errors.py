"""One error hierarchy for linecheck.

Every error says what was expected and what arrived. Callers catch by meaning
(``except DatasetError``), the API maps these to HTTP status codes in one handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class LinecheckWarning(UserWarning):
    """Warning category for linecheck's own warnings (tests turn these into errors)."""


class LinecheckError(Exception):
    """Base class of every error linecheck raises on purpose."""


class ConfigError(LinecheckError):
    """A settings value or a line YAML file is missing or invalid."""


class SettingsError(ConfigError):
    """Settings read from the environment hold values that are not accepted.

    Attributes:
        problems: one per bad value, each naming its environment variable and the value given
            (``LINECHECK_API_PORT='x': Input should be a valid integer``); a secret's value shows as
            ``'***'``.

    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class InvalidFieldError(LinecheckError):
    """A named field holds a value that is not accepted.

    Attributes:
        field: dotted name of the offending field (``defects[2].bbox``).
        value: the value that arrived.
        reason: what was expected instead.

    """

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class DatasetError(LinecheckError):
    """A dataset file is missing, unreadable or malformed.

    Attributes:
        path: the file at fault (or None when it is the dataset as a whole).
        line: 1-based line number inside ``path`` where that applies.

    """

    def __init__(self, message: str, *, path: object | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class ConversionError(DatasetError):
    """A source annotation could not be converted to YOLO format."""


class TrainingError(LinecheckError):
    """Training, validation or export failed."""


class ExportError(TrainingError):
    """Export to ONNX / TensorRT failed or its parity check did not hold."""


class RegistryError(LinecheckError):
    """A model, version or stage is missing from the model registry, or a card is invalid."""


class ServingError(LinecheckError):
    """Base class for model-serving errors."""


class ServerUnavailableError(ServingError):
    """The inference server cannot be reached or is not ready."""


class ModelNotReadyError(ServingError):
    """The server is up but the requested model (version) is not loaded."""


class ModelContractError(ServingError):
    """The served model's config does not match what the client was built for."""


class InferenceError(ServingError):
    """An inference request failed or timed out."""


class StoreError(LinecheckError):
    """The traceability store failed."""


class StoreFullError(StoreError):
    """The traceability store's disk is full: nothing was stored, try again once there is room."""


class NotFoundError(LinecheckError):
    """A requested entity (line, unit, defect, model) does not exist."""


class GoneError(LinecheckError):
    """A requested entity existed and was removed on purpose (an image past its retention)."""


class ConflictError(LinecheckError):
    """A write conflicts with what is already stored (same id, different content)."""


class StateConflictError(ConflictError):
    """A write that what is stored does not allow now, naming the field it is about (a 409).

    Attributes:
        field: the field of the request (or of the stored record) at odds.
        value: its value.
        reason: why it cannot be done now, and what to do first.

    """

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class AuthenticationError(LinecheckError):
    """No API key, or an unknown one."""


class PermissionDeniedError(LinecheckError):
    """The API key's role or line scope does not allow this action."""


class PayloadTooLargeError(LinecheckError):
    """A request body or an uploaded image exceeds the configured limit."""


class ImageStoreError(StoreError):
    """The image store could not write or read an image (disk full, bad reference)."""


class FrameSourceError(LinecheckError):
    """A frame source could not be opened or read (camera, file, stream)."""
