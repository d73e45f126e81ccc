"""Pure parts of training: unit metrics, options, model specs, targets, dataset parsing, letterbox."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lc_training_data import NAMES, write_tiny_dataset

from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.messages import Detections
from linecheck.model.processing import preprocess
from linecheck.training.dataset import load_dataset
from linecheck.training.offline import resolve_model_spec
from linecheck.training.pipeline import canonical_command
from linecheck.training.targets import check_model_name, resolve_target
from linecheck.training.train import TrainOptions, ultralytics_args
from linecheck.training.unit_metrics import threshold_vector, unit_metrics

CLASSES = ("a", "b")
THR = {"a": 0.5, "b": 0.3}


def dets(*rows: tuple[int, float]) -> Detections:
    """Detections with one dummy box per (class id, confidence)."""
    return Detections(
        xyxy=np.tile(np.array([[0, 0, 4, 4]], np.float32), (len(rows), 1)),
        confidence=np.array([c for _, c in rows], np.float32),
        class_id=np.array([k for k, _ in rows], np.int64),
        class_names=CLASSES,
    )


@pytest.mark.parametrize(
    ("predictions", "truth", "escapes", "false_rejects", "escape_rate", "frr"),
    [
        # defective unit caught by a detection over its class threshold
        ([dets((0, 0.6))], [[0]], 0, 0, 0.0, 0.0),
        # class a at 0.45 is under a's 0.5: the defective unit escapes
        ([dets((0, 0.45))], [[0]], 1, 0, 1.0, 0.0),
        # class b at 0.45 is over b's 0.3: caught (any passing detection rejects the unit)
        ([dets((1, 0.45))], [[0]], 0, 0, 0.0, 0.0),
        # good unit with a passing detection: false reject; good unit with a weak one: passed
        ([dets((1, 0.31)), dets((0, 0.2))], [[], []], 0, 1, 0.0, 0.5),
        # threshold is inclusive
        ([dets((0, 0.5))], [[1]], 0, 0, 0.0, 0.0),
        # mixed: 2 defective (1 escape), 2 good (1 false reject)
        ([dets(), dets((0, 0.9)), dets((1, 0.9)), dets()], [[1], [0, 1], [], []], 1, 1, 0.5, 0.5),
    ],
)
def test_unit_metrics_table(predictions, truth, escapes, false_rejects, escape_rate, frr) -> None:
    m = unit_metrics(predictions, truth, THR)
    assert (m.escapes, m.false_rejects) == (escapes, false_rejects)
    assert m.escape_rate == pytest.approx(escape_rate) and m.false_reject_rate == pytest.approx(frr)
    assert m.defective_units + m.good_units == m.units == len(predictions)
    assert m.thresholds == THR


def test_class_recall_counts_units_per_class() -> None:
    m = unit_metrics([dets((0, 0.9)), dets((1, 0.9)), dets()], [[0, 1], [1], [0]], THR)
    assert m.class_recall == {"a": pytest.approx(1 / 2), "b": pytest.approx(1 / 2)}
    assert unit_metrics([dets()], [[]], THR).class_recall == {"a": None, "b": None}


@pytest.mark.parametrize(
    ("predictions", "truth", "thresholds", "field"),
    [
        ([dets()], [[0]], {"a": 0.5}, "thresholds"),
        ([dets()], [[0]], {"a": 0.5, "b": 1.5}, "thresholds.b"),
        ([dets()], [[0], []], THR, "truth"),
        ([dets()], [[2]], THR, "truth[0]"),
        ([], [], THR, "predictions"),
    ],
)
def test_unit_metrics_rejects_bad_input(predictions, truth, thresholds, field) -> None:
    with pytest.raises(InvalidFieldError) as info:
        unit_metrics(predictions, truth, thresholds)
    assert info.value.field == field


def test_threshold_vector_orders_by_class_id() -> None:
    assert threshold_vector(("b", "a"), THR).tolist() == pytest.approx([0.3, 0.5])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"imgsz": 100}, "imgsz"),
        ({"imgsz": 0}, "imgsz"),
        ({"batch": 0}, "batch"),
        ({"device": "cuda:0"}, "device"),
        ({"device": "0,"}, "device"),
        ({"amp": "fp16"}, "amp"),
        ({"workers": -1}, "workers"),
        ({"hours": 0}, "hours"),
        ({"hours": -1.5}, "hours"),
    ],
)
def test_train_options_name_the_bad_field(overrides, field) -> None:
    with pytest.raises(InvalidFieldError) as info:
        TrainOptions(**overrides)
    assert info.value.field == field


@pytest.mark.parametrize(("device", "gpus"), [("cpu", []), ("0", [0]), ("0,1,2,3", [0, 1, 2, 3])])
def test_train_options_devices(device, gpus) -> None:
    assert TrainOptions(device=device).gpus == gpus


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("yolov8n", "yolov8n.yaml"), ("yolo11s", "yolo11s.yaml"), ("yolov8n.yaml", "yolov8n.yaml")],
)
def test_model_spec_maps_names_to_architecture_yaml(spec, expected) -> None:
    assert resolve_model_spec(spec) == expected


@pytest.mark.parametrize("spec", ["yolov8n.pt", "missing/dir/best.pt", "model.onnx", " "])
def test_model_spec_refuses_what_would_need_a_download(spec) -> None:
    with pytest.raises(InvalidFieldError) as info:
        resolve_model_spec(spec)
    assert info.value.field == "model"


def test_model_spec_accepts_a_local_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"x")
    assert resolve_model_spec(str(ckpt)) == str(ckpt.resolve())


@pytest.mark.parametrize(
    ("arg", "name", "line_id", "thresholds"),
    [
        ("bearing", "bearing", "bearing-01", {"scratch": 0.35, "dent": 0.35, "rust": 0.35, "crack": 0.25}),
        (
            "textile-01",
            "textile",
            "textile-01",
            {"hole": 0.3, "stain": 0.35, "broken_yarn": 0.35, "knot": 0.35},
        ),
        (
            "pv",
            "pv",
            "pv-01",
            dict.fromkeys(("crack", "finger_interruption", "dark_cell", "broken_corner"), 0.35),
        ),
    ],
)
def test_resolve_target_uses_the_line_config(arg, name, line_id, thresholds) -> None:
    target = resolve_target(arg)
    assert (target.name, target.line_id, target.thresholds) == (name, line_id, thresholds)
    assert list(target.classes) == list(thresholds)


def test_resolve_target_for_a_kind_without_lines_uses_defaults(tmp_path: Path) -> None:
    target = resolve_target("pv", name="pv-lab", lines_dir=tmp_path)
    assert target.line_id is None and target.name == "pv-lab"
    assert set(target.thresholds.values()) == {0.25}


@pytest.mark.parametrize(("arg", "name"), [("weaving", None), ("bearing", "Bad Name"), ("bearing", "-x")])
def test_resolve_target_rejects(arg, name) -> None:
    with pytest.raises(InvalidFieldError):
        resolve_target(arg, name=name)


def test_model_names() -> None:
    assert check_model_name("bearing-line_2") == "bearing-line_2"
    with pytest.raises(InvalidFieldError):
        check_model_name("a/b")


def test_dataset_fingerprint_follows_labels(tmp_path: Path) -> None:
    write_tiny_dataset(tmp_path, NAMES, train=3, val=2, test=2, imgsz=64)
    dataset = load_dataset(tmp_path)
    before = dataset.fingerprint()
    assert before == load_dataset(tmp_path / "data.yaml").fingerprint()
    label = dataset.label_for(dataset.images("train")[0])
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    assert dataset.fingerprint() != before
    assert dataset.root == tmp_path.resolve() and dataset.names == NAMES


def test_a_moved_dataset_is_read_from_its_own_folder(tmp_path: Path) -> None:
    """data.yaml keeps the absolute path it was written at; copied to a GPU server, it still loads."""
    write_tiny_dataset(tmp_path / "written", NAMES, train=2, val=1, test=1, imgsz=64)
    yaml_text = (tmp_path / "written" / "data.yaml").read_text()
    (tmp_path / "written").rename(tmp_path / "moved")
    yaml_path = tmp_path / "moved" / "data.yaml"
    yaml_path.write_text(f"path: {tmp_path / 'written'}\n" + "\n".join(
        line for line in yaml_text.splitlines() if not line.startswith("path:")
    ) + "\n")  # fmt: skip
    dataset = load_dataset(tmp_path / "moved")
    assert dataset.root == (tmp_path / "moved").resolve()
    assert dataset.splits["train"] == (tmp_path / "moved").resolve() / "images" / "train"
    assert len(dataset.images("train")) == 2


def test_data_yaml_and_labels_written_by_windows_tools(tmp_path: Path) -> None:
    """Chinese class names in a data.yaml saved as UTF-16 (PowerShell) load; GBK is refused by name."""
    write_tiny_dataset(tmp_path, NAMES, train=2, val=1, test=1, imgsz=64)
    yaml_path = tmp_path / "data.yaml"
    text = yaml_path.read_text().replace(f"0: {NAMES[0]}", "0: 划痕")
    yaml_path.write_bytes(text.encode("utf-16"))
    dataset = load_dataset(tmp_path)
    assert dataset.names[0] == "划痕"
    image = dataset.images("train")[0]
    label, ids = dataset.label_for(image), dataset.classes_in(image)
    label.write_bytes(label.read_text().encode("utf-16"))
    assert dataset.classes_in(image) == ids
    label.write_bytes(b"\x80\x81 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match="label file is not text") as info:
        dataset.classes_in(image)
    assert info.value.path == label
    yaml_path.write_bytes(text.encode("gbk"))
    with pytest.raises(DatasetError, match=r"not UTF-8 text at line \d+ .*save it as UTF-8") as info:
        load_dataset(tmp_path)
    assert info.value.path == yaml_path


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("train: images/train\nval: images/val\n", "names"),
        ("train: images/train\nnames: [a]\n", "'val'"),
        ("train: images/nope\nval: images/val\nnames: [a]\n", "does not exist"),
        ("train: images/train\nval: images/val\nnames: {0: a, 2: b}\n", "ids"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_data_yaml_names_the_problem(tmp_path: Path, yaml_text, message) -> None:
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
    (tmp_path / "data.yaml").write_text(yaml_text)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(tmp_path)
    assert info.value.path == tmp_path / "data.yaml"


def test_bad_label_names_file_and_line(tmp_path: Path) -> None:
    write_tiny_dataset(tmp_path, NAMES, train=2, val=1, test=1, imgsz=64)
    dataset = load_dataset(tmp_path)
    image = dataset.images("train")[0]
    dataset.label_for(image).write_text("0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError) as info:
        dataset.classes_in(image)
    assert info.value.line == 2 and info.value.path == dataset.label_for(image)


@pytest.mark.parametrize(("h", "w"), [(64, 64), (30, 60), (100, 20)])
def test_parity_batch_keeps_aspect_and_pads(h, w) -> None:
    image = np.full((h, w, 3), 255, np.uint8)
    out = preprocess([image], 64)[0][0]
    assert out.shape == (3, 64, 64) and out.dtype == np.float32
    white = (out == 1.0).all(axis=0)
    rows, cols = np.nonzero(white)
    scale = min(64 / h, 64 / w)
    assert rows.ptp() + 1 == round(h * scale) and cols.ptp() + 1 == round(w * scale)
    assert preprocess([image, image], 64)[0].shape == (2, 3, 64, 64)


def test_canonical_command_records_every_option() -> None:
    options = TrainOptions(
        epochs=7, imgsz=320, batch=4, device="0,1", seed=5, amp="bf16", cache=True, hours=0.125
    )
    command = canonical_command("pv", Path("/data/pv"), options, name="pv-x")
    for part in ("--line pv", "--data /data/pv", "--name pv-x", "--epochs 7", "--imgsz 320", "--batch 4"):
        assert part in command
    for part in ("--device 0,1", "--seed 5", "--amp bf16", "--cache", "--model yolov8n", "--hours 0.125"):
        assert part in command
    assert "--hours" not in canonical_command("pv", Path("/data/pv"), TrainOptions(), name=None)


@pytest.mark.parametrize(
    ("options", "from_checkpoint", "expected"),
    [
        (
            TrainOptions(),
            False,
            {"pretrained": False, "amp": False, "cache": False, "device": "cpu", "time": None},
        ),
        (
            TrainOptions(cache=True, amp="bf16", hours=0.5),
            True,
            {"pretrained": True, "amp": False, "cache": "ram", "time": 0.5},
        ),
    ],
)
def test_ultralytics_args(tmp_path: Path, options, from_checkpoint, expected) -> None:
    args = ultralytics_args(
        options, tmp_path / "data.yaml", tmp_path / "runs" / "x", from_checkpoint=from_checkpoint
    )
    assert {k: args[k] for k in expected} == expected  # amp stays off on the CPU whatever was asked
    assert (args["project"], args["name"], args["exist_ok"]) == (str(tmp_path / "runs"), "x", False)
    assert (
        args["epochs"] == options.epochs and args["imgsz"] == options.imgsz and args["deterministic"] is True
    )


def test_dataset_summary_keeps_the_generator_block(tmp_path: Path) -> None:
    write_tiny_dataset(tmp_path, NAMES, train=2, val=1, test=1, imgsz=64)
    plain = load_dataset(tmp_path).summary()
    assert "generator" not in plain and plain["images"] == {"train": 2, "val": 1, "test": 1}
    yaml_path = tmp_path / "data.yaml"
    yaml_path.write_text(yaml_path.read_text() + "synth:\n  kind: bearing\n  seed: 4\n  images: 4\n")
    summary = load_dataset(tmp_path).summary()
    assert summary["generator"] == {"kind": "bearing", "seed": 4, "images": 4}
    assert summary["sha256"] == plain["sha256"]  # the hash covers names, labels and images only
