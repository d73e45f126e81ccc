"""A registry YOLOv8 checkpoint (``weights.pt``) as a plain torch module, without Ultralytics.

The GPU host has torch but no Ultralytics, and an Ultralytics checkpoint pickles Ultralytics
classes. :func:`load_checkpoint` unpickles it with those eight classes replaced by the small
ones below: their attributes (``cv1``, ``m``, ``f``, ``i``, ``stride`` ...) come from the
pickle unchanged, only ``forward`` is ours. The output is the export layout the registry's ONNX
graph has: ``(batch, 4 + classes, anchors)``, boxes ``cx cy w h`` in input pixels, scores after
sigmoid. The anchors follow the input size, so a model trained at 320 also runs at 640.

``bench/gpu_check.py`` compares this module with the registry's ONNX graph under ONNX Runtime
(the agreement section), so a drift from Ultralytics' arithmetic shows up there.
"""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn


class Conv(nn.Module):
    """Conv2d + BatchNorm + activation (the BatchNorm is folded by :func:`fuse`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two convs with an optional shortcut."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP bottleneck with two convs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(getattr(self, "n", 3)))
        out = self.cv2(torch.cat(y, 1))
        return out + x if getattr(self, "add", False) else out


class Concat(nn.Module):
    """Concatenate a list of tensors along ``d``."""

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


class DFL(nn.Module):
    """Distribution focal loss integral: (B, 4 * c1, A) -> (B, 4, A)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    """YOLOv8 head in export form: (B, 4 + nc, A), boxes cx cy w h in input pixels."""

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        bs = x[0].shape[0]
        boxes = torch.cat([self.cv2[i](x[i]).view(bs, 4 * self.reg_max, -1) for i in range(self.nl)], -1)
        scores = torch.cat([self.cv3[i](x[i]).view(bs, self.nc, -1) for i in range(self.nl)], -1)
        anchors, strides = _anchors(x, self.stride)
        dist = self.dfl(boxes)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = anchors - lt, anchors + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((xywh, scores.sigmoid()), 1)


class DetectionModel(nn.Module):
    """The layer list with Ultralytics' ``f`` (from) routing and ``save`` set."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        saved: list[Any] = []
        for m in self.model:
            if m.f != -1:
                x = saved[m.f] if isinstance(m.f, int) else [x if j == -1 else saved[j] for j in m.f]
            x = m(x)
            saved.append(x if m.i in self.save else None)
        return x


def _anchors(feats: list[torch.Tensor], strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres (1, 2, A) in grid units and their strides (1, 1, A), from the feature sizes."""
    points, stride_rows = [], []
    for feat, stride in zip(feats, strides, strict=True):
        h, w = feat.shape[2:]
        sy, sx = torch.meshgrid(
            torch.arange(h, device=feat.device, dtype=feat.dtype) + 0.5,
            torch.arange(w, device=feat.device, dtype=feat.dtype) + 0.5,
            indexing="ij",
        )
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_rows.append(torch.full((h * w, 1), float(stride), dtype=feat.dtype, device=feat.device))
    return torch.cat(points).T.unsqueeze(0), torch.cat(stride_rows).T.unsqueeze(0)


_CLASSES: dict[str, type] = {
    cls.__name__: cls for cls in (Conv, Bottleneck, C2f, SPPF, Concat, DFL, Detect, DetectionModel)
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("ultralytics"):
            if name not in _CLASSES:
                raise pickle.UnpicklingError(
                    f"checkpoint uses {module}.{name}; bench/gpu_torch_yolo.py knows only {sorted(_CLASSES)}"
                )
            return _CLASSES[name]
        return super().find_class(module, name)


_PICKLE = types.ModuleType("gpu_torch_yolo_pickle")
_PICKLE.Unpickler = _Unpickler  # type: ignore[attr-defined]
_PICKLE.load = pickle.load  # type: ignore[attr-defined]


def fuse(model: nn.Module) -> nn.Module:
    """Fold every Conv's BatchNorm into its Conv2d (what Ultralytics' ``fuse`` does)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if isinstance(module, Conv) and isinstance(getattr(module, "bn", None), nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()
    return model


def load_checkpoint(path: Path) -> tuple[nn.Module, tuple[str, ...]]:
    """The fused fp32 eval-mode model in ``path`` (on the CPU) and its class names."""
    ckpt = torch.load(str(path), map_location="cpu", pickle_module=_PICKLE, weights_only=False)
    model = ckpt.get("ema") or ckpt["model"]
    if not isinstance(model, DetectionModel):
        raise TypeError(
            f"{path}: expected an Ultralytics DetectionModel checkpoint, got {type(model).__name__}"
        )
    names = model.names
    classes = tuple(str(names[i]) for i in range(len(names))) if isinstance(names, dict) else tuple(names)
    return fuse(model.float().eval()), classes
