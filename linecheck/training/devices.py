"""Which device a training runs on: ``--device cpu``, one CUDA index ``0``, or several ``0,1,2,3``.

One rule for every task. Detection hands the string to Ultralytics (several indices: DDP);
classification and anomaly models train in linecheck's own loop on one device. A device the host
does not have is refused before anything is loaded, naming the field and the devices there are.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from linecheck.errors import InvalidFieldError

if TYPE_CHECKING:
    import torch

_DEVICE_RE = re.compile(r"^(cpu|\d+(,\d+)*)$")


def parse_gpus(device: str, *, single: bool = False) -> list[int]:
    """The CUDA indices of ``device`` (empty for ``cpu``); ``single``: at most one."""
    if not _DEVICE_RE.match(device):
        raise InvalidFieldError("device", device, "expected 'cpu', a CUDA index '0' or a list '0,1,2,3'")
    gpus = [] if device == "cpu" else [int(d) for d in device.split(",")]
    if single and len(gpus) > 1:
        raise InvalidFieldError("device", device, "this task trains on one device: 'cpu' or one index")
    return gpus


def check_gpus(device: str, gpus: list[int]) -> None:
    """Fail early, naming the field, when this host lacks one of ``gpus``."""
    if not gpus:
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if any(g >= count for g in gpus):
        raise InvalidFieldError("device", device, f"this host has {count} CUDA device(s)")


def torch_device(device: str) -> torch.device:
    """The one :class:`torch.device` of ``device`` (checked against this host)."""
    import torch

    gpus = parse_gpus(device, single=True)
    check_gpus(device, gpus)
    return torch.device("cuda", gpus[0]) if gpus else torch.device("cpu")


def bf16_autocast(device: torch.device) -> torch.autocast:
    """bfloat16 autocast on a CUDA device that supports it; a disabled context elsewhere (CPU: float32)."""
    import torch

    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)
