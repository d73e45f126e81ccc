"""Pure pre- and post-processing shared by every detector runtime (Triton, in-process ONNX Runtime).

Pre-processing: letterbox each BGR image to a square ``imgsz`` canvas keeping its aspect ratio
(pad value 114), BGR -> RGB, HWC -> CHW, scale to [0, 1] float32, stack into one batch.

Post-processing, per image, for the two output layouts a registry card can declare:

* ``raw``: YOLOv8/11 head output ``(4 + nc, A)``: rows 0..3 are ``cx, cy, w, h`` in letterboxed
  input pixels, then one (already sigmoid) score per class. Best class per anchor, confidence
  threshold, class-aware NMS, ``max_det``.
* ``nms``: ``(max_det, 6)`` rows of ``x1, y1, x2, y2, score, class`` (NMS done in the graph).
* ``classify`` / ``anomaly``: image-level class probabilities and anomaly maps, decoded into
  whole-image and region detections by :mod:`linecheck.model.image_outputs`.

Boxes are then mapped back to the original image (undo scale and padding) and clipped; an anomaly
region's part of the map is cut with its box (:func:`clip_heatmap`).
Both runtimes call exactly these functions, so they give identical detections for the same tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import InferenceError, InvalidFieldError, ModelContractError
from linecheck.messages import Detections
from linecheck.model.image_outputs import decode_anomaly, decode_classify
from linecheck.model.layout import OutputLayout

#: Grey used by Ultralytics for letterbox padding; training and serving must agree on it.
PAD_VALUE = 114
#: Offset per class id that keeps boxes of different classes apart in class-aware NMS.
_CLASS_OFFSET = 8192.0

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, kw_only=True, slots=True)
class Letterbox:
    """How one image was placed on the square model input.

    Attributes:
        scale: resize factor applied to the original image.
        pad_x: columns of padding left of the resized image.
        pad_y: rows of padding above the resized image.
        width: original image width in pixels.
        height: original image height in pixels.

    """

    scale: float
    pad_x: int
    pad_y: int
    width: int
    height: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodeOptions:
    """Thresholds applied after inference (identical for every runtime).

    Attributes:
        conf: keep detections scoring strictly above this.
        iou: NMS suppresses a box overlapping a better one of the same class by more than this.
        max_det: at most this many detections per image, best first.
        max_candidates: at most this many boxes (best first) enter NMS.
        agnostic: NMS across classes instead of per class.

    """

    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    max_candidates: int = 30000
    agnostic: bool = False

    def __post_init__(self) -> None:
        for name in ("conf", "iou"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidFieldError(name, value, "expected a value in [0, 1]")
        for name in ("max_det", "max_candidates"):
            value = getattr(self, name)
            if value < 1:
                raise InvalidFieldError(name, value, "expected >= 1")


def _check_image(image: object, field: str) -> npt.NDArray[np.uint8]:
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
        or image.shape[0] == 0
        or image.shape[1] == 0
    ):
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise InvalidFieldError(
            field, f"shape={shape} dtype={dtype}", "expected a non-empty HxWx3 uint8 BGR image"
        )
    return image


def letterbox(image: npt.NDArray[np.uint8], imgsz: int) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Resize ``image`` to fit an ``imgsz`` square keeping its aspect ratio, pad the rest with grey.

    Returns the (imgsz, imgsz, 3) uint8 BGR canvas and the placement needed to undo it.
    """
    if imgsz < 1:
        raise InvalidFieldError("imgsz", imgsz, "expected >= 1")
    image = _check_image(image, "image")
    height, width = int(image.shape[0]), int(image.shape[1])
    scale = min(imgsz / height, imgsz / width)
    new_w = min(imgsz, max(1, round(width * scale)))
    new_h = min(imgsz, max(1, round(height * scale)))
    resized = (
        image
        if (new_w, new_h) == (width, height)
        else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    )
    pad_x = (imgsz - new_w) // 2
    pad_y = (imgsz - new_h) // 2
    canvas = np.full((imgsz, imgsz, 3), PAD_VALUE, dtype=np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return canvas, Letterbox(scale=scale, pad_x=pad_x, pad_y=pad_y, width=width, height=height)


def letterbox_batch(
    images: Sequence[npt.NDArray[np.uint8]], imgsz: int
) -> tuple[npt.NDArray[np.uint8], list[Letterbox]]:
    """Letterbox BGR images into one uint8 batch ``(N, imgsz, imgsz, 3)`` (what the embedded server takes).

    Raises:
        InvalidFieldError: naming ``images[i]`` when an image is not HxWx3 uint8, or when
            ``images`` is empty.

    """
    if len(images) == 0:
        raise InvalidFieldError("images", "[]", "expected at least one image")
    batch = np.empty((len(images), imgsz, imgsz, 3), dtype=np.uint8)
    boxes: list[Letterbox] = []
    for i, image in enumerate(images):
        batch[i], placement = letterbox(_check_image(image, f"images[{i}]"), imgsz)
        boxes.append(placement)
    return batch, boxes


def normalise(batch: npt.NDArray[np.uint8]) -> FloatArray:
    """Letterboxed BGR ``(N, H, W, 3)`` uint8 to the model input ``(N, 3, H, W)`` RGB float32 in [0, 1].

    The embedded server's Python-backend model does the same arithmetic on the uint8 it receives.
    """
    out = np.empty((batch.shape[0], 3, batch.shape[1], batch.shape[2]), dtype=np.float32)
    # BGR -> RGB and HWC -> CHW in one step, then scale to [0, 1].
    np.multiply(batch[..., ::-1].transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=out)
    return out


def preprocess(images: Sequence[npt.NDArray[np.uint8]], imgsz: int) -> tuple[FloatArray, list[Letterbox]]:
    """Turn BGR images into one model input batch ``(N, 3, imgsz, imgsz)`` float32 in [0, 1].

    Raises:
        InvalidFieldError: naming ``images[i]`` when an image is not HxWx3 uint8, or when
            ``images`` is empty.

    """
    batch, boxes = letterbox_batch(images, imgsz)
    return normalise(batch), boxes


def box_iou(box: FloatArray, others: FloatArray) -> FloatArray:
    """IoU of one ``x1 y1 x2 y2`` box with each row of ``others`` (M, 4)."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0.0, None) * np.clip(y2 - y1, 0.0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, np.float32(1e-12)), 0.0).astype(np.float32)


def nms(boxes: FloatArray, scores: FloatArray, iou: float, max_det: int) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression; returns indices of kept boxes, best score first.

    A box is suppressed when its IoU with an already kept box is strictly greater than ``iou``.
    Ties in score keep the earlier box (stable order).
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode_raw(
    output: FloatArray, num_classes: int, options: DecodeOptions
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Decode one image's raw head output ``(4 + nc, A)`` into boxes (input pixels), scores, classes."""
    if output.ndim != 2 or output.shape[0] != 4 + num_classes:
        raise ModelContractError(
            f"raw output for one image has shape {output.shape}; "
            f"expected (4 + {num_classes} classes, anchors)"
        )
    scores_all = output[4:]
    class_id = scores_all.argmax(axis=0)
    scores = scores_all[class_id, np.arange(output.shape[1])]
    candidates = np.flatnonzero(scores > options.conf)
    if candidates.size > options.max_candidates:
        best = np.argsort(-scores[candidates], kind="stable")[: options.max_candidates]
        candidates = np.sort(candidates[best])
    cx, cy, w, h = output[:4, candidates]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    scores = scores[candidates].astype(np.float32)
    class_id = class_id[candidates].astype(np.int64)
    offset = np.float32(0.0) if options.agnostic else class_id.astype(np.float32)[:, None] * _CLASS_OFFSET
    keep = nms(xyxy + offset, scores, options.iou, options.max_det)
    return xyxy[keep], scores[keep], class_id[keep]


def decode_nms(
    output: FloatArray, num_classes: int, options: DecodeOptions
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Decode one image's in-graph NMS output ``(max_det, 6)`` into boxes, scores, classes."""
    if output.ndim != 2 or output.shape[1] != 6:
        raise ModelContractError(f"nms output for one image has shape {output.shape}; expected (max_det, 6)")
    rows = output[output[:, 4] > options.conf]
    rows = rows[np.argsort(-rows[:, 4], kind="stable")][: options.max_det]
    class_id = rows[:, 5].round().astype(np.int64)
    if class_id.size and (class_id.min() < 0 or class_id.max() >= num_classes):
        raise ModelContractError(
            f"nms output holds class ids {sorted(set(class_id.tolist()))}; "
            f"the model has {num_classes} classes"
        )
    return rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32), class_id


def scale_boxes(xyxy: FloatArray, placement: Letterbox) -> FloatArray:
    """Map boxes from letterboxed input pixels back to the original image, clipped to it."""
    out = np.empty_like(xyxy, dtype=np.float32)
    out[:, [0, 2]] = (xyxy[:, [0, 2]] - placement.pad_x) / placement.scale
    out[:, [1, 3]] = (xyxy[:, [1, 3]] - placement.pad_y) / placement.scale
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0.0, placement.width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0.0, placement.height)
    return out


def clip_heatmap(heat: FloatArray, box: FloatArray, placement: Letterbox) -> FloatArray:
    """The part of ``heat`` that lies on the image, ``heat`` spread evenly over ``box``.

    ``box`` is in letterboxed input pixels; :func:`scale_boxes` clips it to the image, and this cuts
    its map the same way (whole cells, rounded outwards, at least one), so the map keeps spanning
    the clipped box.
    """
    rows, cols = heat.shape
    x1, y1, x2, y2 = (float(v) for v in box)
    right = placement.pad_x + placement.width * placement.scale
    bottom = placement.pad_y + placement.height * placement.scale
    c0, c1 = _cells(x1, x2, float(placement.pad_x), right, cols)
    r0, r1 = _cells(y1, y2, float(placement.pad_y), bottom, rows)
    return heat[r0:r1, c0:c1]


def _cells(lo: float, hi: float, start: float, end: float, cells: int) -> tuple[int, int]:
    """Cells (of ``cells`` spread over ``lo``..``hi``) covering ``lo``..``hi`` within ``start``..``end``."""
    if hi <= lo:
        return 0, cells
    first = int(np.floor(max(0.0, (start - lo) / (hi - lo)) * cells + 1e-6))
    last = int(np.ceil(min(1.0, (end - lo) / (hi - lo)) * cells - 1e-6))
    first = min(max(first, 0), cells - 1)
    return first, min(cells, max(last, first + 1))


#: One image's decoded output: boxes (input pixels), scores, class ids, and per box its part of an
#: anomaly map (empty for layouts without one).
_Decoded = tuple[FloatArray, FloatArray, npt.NDArray[np.int64], tuple[FloatArray, ...]]


def _decode(
    output: FloatArray, num_classes: int, layout: OutputLayout, options: DecodeOptions, placement: Letterbox
) -> _Decoded:
    """Decode one image's output by its layout (boxes in letterboxed input pixels)."""
    if layout == "raw":
        return (*decode_raw(output, num_classes, options), ())
    if layout == "nms":
        return (*decode_nms(output, num_classes, options), ())
    # The square input side: the letterbox scaled the longer side of the image to it.
    imgsz = round(max(placement.width, placement.height) * placement.scale)
    if layout == "classify":
        return (*decode_classify(output, num_classes, imgsz=imgsz, conf=options.conf), ())
    return decode_anomaly(output, num_classes, imgsz=imgsz, conf=options.conf, max_det=options.max_det)


def postprocess(
    outputs: FloatArray,
    placements: Sequence[Letterbox],
    class_names: Sequence[str],
    layout: OutputLayout,
    options: DecodeOptions,
) -> list[Detections]:
    """Turn a batch of model outputs into one :class:`Detections` per image (original pixels).

    An ``anomaly`` layout's detections carry their part of the anomaly map (``heatmaps``).

    Raises:
        InferenceError: the batch holds a different number of results than images sent.
        ModelContractError: an output does not have the declared layout.

    """
    if outputs.ndim != 3 or outputs.shape[0] != len(placements):
        raise InferenceError(
            f"model returned output of shape {outputs.shape} for {len(placements)} images; "
            f"expected one {layout!r} result per image"
        )
    names = tuple(class_names)
    results: list[Detections] = []
    for output, placement in zip(outputs, placements, strict=True):
        xyxy, scores, class_id, maps = _decode(
            np.asarray(output, dtype=np.float32), len(names), layout, options, placement
        )
        heat = [clip_heatmap(m, box, placement) for m, box in zip(maps, xyxy, strict=True)] if maps else []
        results.append(
            Detections(
                xyxy=scale_boxes(xyxy, placement),
                confidence=scores,
                class_id=class_id,
                class_names=names,
                heatmaps=tuple(heat),
            )
        )
    return results
