"""GPU pre- and post-processing in torch for the GPU benchmark (CUDA; CPU only for smoke runs).

The same steps as ``linecheck.model.processing``, on the device and for a whole batch
at once: letterbox (resize keeping the aspect ratio, pad with grey 114), BGR -> RGB, scale to
[0, 1], fp16; then best class per anchor, confidence threshold, class-aware NMS per image
(``torchvision.ops.batched_nms`` over the whole batch), ``max_det``, boxes mapped back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PAD_VALUE = 114


@dataclass(frozen=True, kw_only=True, slots=True)
class Placement:
    """How a batch of same-sized frames sits on the model input."""

    scale: float
    pad_x: int
    pad_y: int
    width: int
    height: int


def placement(height: int, width: int, imgsz: int) -> Placement:
    """Letterbox placement of a ``height`` x ``width`` frame on an ``imgsz`` square."""
    scale = min(imgsz / height, imgsz / width)
    new_w, new_h = min(imgsz, round(width * scale)), min(imgsz, round(height * scale))
    return Placement(
        scale=scale, pad_x=(imgsz - new_w) // 2, pad_y=(imgsz - new_h) // 2, width=width, height=height
    )


class GpuPipeline:
    """uint8 BGR frames (host) -> detections (host), everything between on ``device``."""

    def __init__(
        self, model: Any, *, device: str, imgsz: int, half: bool, conf: float, iou: float, max_det: int
    ) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.device = torch.device(device)
        self.imgsz = imgsz
        self.dtype = torch.float16 if half else torch.float32
        self.conf, self.iou, self.max_det = conf, iou, max_det

    def upload(self, frames: npt.NDArray[np.uint8]) -> Any:
        """(N, H, W, 3) uint8 host frames -> device tensor (pinned, non-blocking on CUDA)."""
        tensor = self.torch.from_numpy(frames)
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=True)

    def preprocess(self, frames: Any) -> tuple[Any, Placement]:
        """Device uint8 (N, H, W, 3) BGR -> (N, 3, imgsz, imgsz) model input, and the placement."""
        torch = self.torch
        n, height, width, _ = frames.shape
        where = placement(height, width, self.imgsz)
        x = frames.flip(-1).permute(0, 3, 1, 2).to(self.dtype)  # BGR -> RGB, NHWC -> NCHW
        new_h, new_w = round(height * where.scale), round(width * where.scale)
        if (new_h, new_w) != (height, width):
            x = torch.nn.functional.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
        canvas = torch.full(
            (n, 3, self.imgsz, self.imgsz), float(PAD_VALUE), dtype=self.dtype, device=self.device
        )
        canvas[:, :, where.pad_y : where.pad_y + new_h, where.pad_x : where.pad_x + new_w] = x
        return canvas.mul_(1.0 / 255.0), where

    def infer(self, batch: Any) -> Any:
        """Raw head output (N, 4 + nc, A)."""
        with self.torch.inference_mode():
            out = self.model(batch)
        return out[0] if isinstance(out, list | tuple) else out

    def postprocess(self, output: Any, where: Placement) -> list[npt.NDArray[np.float32]]:
        """Per image an (K, 6) host array ``x1 y1 x2 y2 score class`` in frame pixels."""
        from torchvision.ops import batched_nms

        torch = self.torch
        n, channels, _ = output.shape
        scores, classes = output[:, 4:, :].max(dim=1)  # (N, A)
        image_idx, anchor_idx = torch.nonzero(scores > self.conf, as_tuple=True)
        boxes = output[image_idx, :4, anchor_idx].float()  # cx cy w h
        xyxy = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], dim=1)
        kept_scores = scores[image_idx, anchor_idx].float()
        kept_classes = classes[image_idx, anchor_idx]
        groups = image_idx * (channels - 4) + kept_classes
        keep = batched_nms(xyxy, kept_scores, groups, self.iou)
        xyxy[:, [0, 2]] = ((xyxy[:, [0, 2]] - where.pad_x) / where.scale).clamp(0, where.width)
        xyxy[:, [1, 3]] = ((xyxy[:, [1, 3]] - where.pad_y) / where.scale).clamp(0, where.height)
        rows = torch.cat([xyxy, kept_scores[:, None], kept_classes[:, None].float()], dim=1)[keep]
        owners = image_idx[keep]
        host_rows, host_owners = rows.cpu().numpy(), owners.cpu().numpy()
        return [host_rows[host_owners == i][: self.max_det] for i in range(n)]

    def detect(self, frames: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.float32]]:
        """End to end for one batch of host frames."""
        batch, where = self.preprocess(self.upload(frames))
        return self.postprocess(self.infer(batch), where)

    def synchronize(self) -> None:
        """Wait for the device (timing boundaries)."""
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
