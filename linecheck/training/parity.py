"""Parity between the PyTorch model and its ONNX export on the same preprocessed images.

Both runtimes get one float32 batch (letterboxed, RGB, 0..1, NCHW), made by the same
:func:`~linecheck.model.processing.preprocess` serving uses. For the ``raw`` layout
the head outputs are compared element-wise; for the ``nms`` layout the detections of each
image are compared after sorting by score. The report carries the largest absolute
difference; :func:`check_parity` raises :class:`~linecheck.errors.ExportError` over tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import ExportError
from linecheck.model.card import OnnxInfo
from linecheck.model.processing import preprocess
from linecheck.training.offline import prepare_ultralytics


@dataclass(frozen=True, kw_only=True)
class ParityReport:
    """Outcome of one parity run.

    Attributes:
        max_abs_diff: largest absolute difference between the two runtimes' outputs.
        tolerance: the limit it was checked against.
        images: number of images compared (one batch).
        layout: ``raw`` or ``nms``.
        output_shape: shape of the ONNX output.

    """

    max_abs_diff: float
    tolerance: float
    images: int
    layout: str
    output_shape: tuple[int, ...]

    @property
    def passed(self) -> bool:
        """True when the difference is within tolerance."""
        return self.max_abs_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the model card)."""
        data = asdict(self)
        data["output_shape"] = list(self.output_shape)
        data["passed"] = self.passed
        return data


def _torch_outputs(weights: Path, batch: npt.NDArray[np.float32], info: OnnxInfo) -> npt.NDArray[np.float32]:
    prepare_ultralytics()
    import torch
    from ultralytics import YOLO

    model = YOLO(str(weights)).model
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"{weights}: not a PyTorch detection checkpoint")
    model = model.float().eval().cpu()
    if info.output_layout == "nms":
        from ultralytics.cfg import get_cfg
        from ultralytics.engine.exporter import NMSModel

        args = get_cfg(overrides={"format": "onnx", "dynamic": False, "batch": len(batch), "nms": True})
        if args.conf is None:
            args.conf = 0.25  # Ultralytics' export default when NMS is in the graph
        model = NMSModel(model, args)
    with torch.no_grad():
        out = model(torch.from_numpy(batch))
    tensor = out[0] if isinstance(out, tuple | list) else out
    return np.asarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def _onnx_outputs(onnx_path: Path, batch: npt.NDArray[np.float32], info: OnnxInfo) -> npt.NDArray[np.float32]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (out,) = session.run([info.output_name], {info.input_name: batch})
    return np.asarray(out, dtype=np.float32)


def _nms_diff(torch_out: npt.NDArray[np.float32], onnx_out: npt.NDArray[np.float32]) -> float:
    worst = 0.0
    for t_rows, o_rows in zip(torch_out, onnx_out, strict=True):
        t_rows, o_rows = t_rows[t_rows[:, 4] > 0], o_rows[o_rows[:, 4] > 0]
        if len(t_rows) != len(o_rows):
            return float("inf")
        t_rows = t_rows[np.argsort(-t_rows[:, 4], kind="stable")]
        o_rows = o_rows[np.argsort(-o_rows[:, 4], kind="stable")]
        if len(t_rows) and not np.array_equal(t_rows[:, 5], o_rows[:, 5]):
            return float("inf")
        if len(t_rows):
            worst = max(worst, float(np.abs(t_rows[:, :5] - o_rows[:, :5]).max()))
    return worst


def compare(
    weights: Path,
    onnx_path: Path,
    info: OnnxInfo,
    images: Sequence[npt.NDArray[np.uint8]],
    *,
    tolerance: float | None = None,
) -> ParityReport:
    """Run both runtimes on one batch of ``images`` and measure their largest difference.

    ``tolerance`` defaults to :func:`default_tolerance` of the export.
    """
    batch, _ = preprocess(images, info.imgsz)
    torch_out = _torch_outputs(Path(weights), batch, info)
    onnx_out = _onnx_outputs(Path(onnx_path), batch, info)
    if torch_out.shape != onnx_out.shape:
        raise ExportError(
            f"{onnx_path}: output shape {onnx_out.shape} differs from PyTorch's {torch_out.shape} "
            f"for a batch of {len(images)}"
        )
    if not (np.isfinite(torch_out).all() and np.isfinite(onnx_out).all()):
        diff = float("inf")  # NaN / inf in either output never passes
    elif info.output_layout == "nms":
        diff = _nms_diff(torch_out, onnx_out)
    else:
        diff = float(np.abs(torch_out - onnx_out).max())
    return ParityReport(
        max_abs_diff=diff,
        tolerance=default_tolerance(info) if tolerance is None else tolerance,
        images=len(images),
        layout=info.output_layout,
        output_shape=tuple(int(d) for d in onnx_out.shape),
    )


def check_parity(
    weights: Path,
    onnx_path: Path,
    info: OnnxInfo,
    images: Sequence[npt.NDArray[np.uint8]],
    *,
    tolerance: float | None = None,
) -> ParityReport:
    """Like :func:`compare`, but raise :class:`ExportError` when the difference exceeds ``tolerance``."""
    report = compare(weights, onnx_path, info, images, tolerance=tolerance)
    if not report.passed:
        raise ExportError(
            f"{onnx_path}: ONNX Runtime and PyTorch outputs differ by max_abs_diff={report.max_abs_diff:.3g} "
            f"over tolerance={report.tolerance:g} on {report.images} images ({report.layout} layout)"
        )
    return report


def default_tolerance(info: OnnxInfo) -> float:
    """Tolerance that fits the export: outputs are in input pixels (boxes) and 0..1 (scores)."""
    return 0.5 if info.fp16 else 1e-2


def sample_images(paths: Sequence[Path], limit: int = 8) -> list[npt.NDArray[np.uint8]]:
    """Read up to ``limit`` BGR images for a parity check, skipping none silently."""
    images: list[npt.NDArray[np.uint8]] = []
    for path in list(paths)[:limit]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ExportError(f"cannot read parity image {path}")
        images.append(np.asarray(image, dtype=np.uint8))
    return images


def noise_images(count: int, imgsz: int, seed: int = 0) -> list[npt.NDArray[np.uint8]]:
    """Distinct random images, for a parity check when no dataset is at hand."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (imgsz, imgsz, 3), dtype=np.uint8) for _ in range(count)]
