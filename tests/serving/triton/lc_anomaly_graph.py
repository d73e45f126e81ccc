"""A hand-built ONNX anomaly graph whose map is known in advance, for the heat-map tests.

The map of an ``imgsz`` input is the mean brightness of each ``cell`` x ``cell`` square (all three
channels, in [0, 1]): a white patch on a black frame is an anomaly region of level 1 exactly where
the patch is, the letterbox grey (114 / 255 = 0.45) stays below the 0.5 threshold. Two operators
(``AveragePool``, ``ReduceMean``), built with ``onnx.helper``: no training, no download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

IMGSZ = 64
CELL = 8


def write_anomaly_graph(path: Path, *, imgsz: int = IMGSZ, cell: int = CELL) -> Path:
    """Write the graph (input ``images`` ``(N, 3, imgsz, imgsz)``, output ``output0`` ``(N, h, w)``)."""
    import onnx
    from onnx import TensorProto, helper

    side = imgsz // cell
    graph = helper.make_graph(
        [
            helper.make_node(
                "AveragePool", ["images"], ["pooled"], kernel_shape=[cell, cell], strides=[cell, cell]
            ),
            helper.make_node("ReduceMean", ["pooled"], ["output0"], axes=[1], keepdims=0),
        ],
        "lc_anomaly_brightness",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", side, side])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def expected_map(image: npt.NDArray[np.uint8], *, cell: int = CELL) -> npt.NDArray[np.float32]:
    """The graph's map of a square ``image`` already at the input size (no letterbox needed)."""
    side = image.shape[0] // cell
    mean = image.astype(np.float32).mean(axis=2) / 255.0
    return mean.reshape(side, cell, side, cell).mean(axis=(1, 3)).astype(np.float32)
