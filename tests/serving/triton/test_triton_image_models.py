"""Classifier and anomaly models served by the same repository builder, server and client as detectors."""

from __future__ import annotations

import numpy as np
import pytest
from lc_tiny_model import REPO_OPTIONS

from linecheck.errors import ModelContractError
from linecheck.serving.triton.client import TritonDetector
from linecheck.serving.triton.onnx_detector import OnnxDetector
from linecheck.serving.triton.repository import add_model_version
from linecheck.training.anomaly import AnomalyOptions, fit_anomaly
from linecheck.training.classify import ClassifyOptions, fit_classifier, load_classify_set
from linecheck.training.image_models import GraphCard, export_graph, register_graph

pytestmark = pytest.mark.triton


def _register(registry, tmp_path, name, module, layout, classes, imgsz):
    onnx_path = export_graph(module, tmp_path / name / "model.onnx", imgsz=imgsz)
    spec = GraphCard(
        name=name,
        kind="pv",
        classes=classes,
        imgsz=imgsz,
        layout=layout,
        architecture="test",
        dataset={},
        training={},
    )
    return register_graph(registry, spec, module=module, onnx_path=onnx_path, promote="production")


@pytest.fixture(scope="module")
def served(triton_server, triton_repository, registry, tmp_path_factory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
    from lc_image_data import write_class_folders, write_good_and_eval

    work = tmp_path_factory.mktemp("image-models")
    data = load_classify_set(write_class_folders(work / "cls", 6, size=64))
    model, _ = fit_classifier(data, ClassifyOptions(epochs=1, imgsz=64, batch=8))
    cls = _register(registry, work, "cells-cls", model, "classify", data.defect_classes, 64)
    write_good_and_eval(work / "an", good=5, evaluate=1, height=64, width=64)
    fit = fit_anomaly(sorted((work / "an" / "good").glob("*.png")), AnomalyOptions(imgsz=64, coreset=64))
    ano = _register(registry, work, "cells-anomaly", fit.graph, "anomaly", ("anomaly",), 64)
    for version in (cls, ano):
        add_model_version(triton_repository, version, REPO_OPTIONS)
        triton_server.load(version.card.name)
    return {"cells-cls": cls, "cells-anomaly": ano}


@pytest.mark.parametrize(("name", "classes"), [("cells-cls", ["defective"]), ("cells-anomaly", ["anomaly"])])
def test_triton_answers_like_onnx_runtime_after_checking_the_class_list(
    served, triton_server, frames, name, classes
):
    local = OnnxDetector.from_registry(served[name])
    with TritonDetector(name, url=triton_server.grpc_url, expected_classes=classes) as remote:
        assert remote.contract.output_layout == served[name].card.onnx.output_layout
        ours, theirs = local.detect(frames), remote.detect(frames)
    for a, b in zip(ours, theirs, strict=True):
        assert a.class_names == b.class_names == tuple(classes)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
        for ours_map, theirs_map in zip(a.heatmaps, b.heatmaps, strict=True):  # anomaly regions carry one
            assert (ours_map is None) == (theirs_map is None) == (name != "cells-anomaly")
            if ours_map is not None:
                np.testing.assert_allclose(ours_map, theirs_map, atol=1e-4)


def test_a_classifier_served_with_another_class_list_is_refused_at_start(served, triton_server):
    with pytest.raises(ModelContractError, match="classes"):
        TritonDetector("cells-cls", url=triton_server.grpc_url, expected_classes=["crack", "dark_cell"])
