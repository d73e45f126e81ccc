"""The shipped starter models meet their targets on held-out data, re-measured here.

For each kind the production version in ``models/`` is checked the way its card says it was
made: the synthetic dataset is regenerated from the card's generator arguments, then the ONNX graph
is evaluated on its test split at the line's thresholds. Targets (issue 3): mAP50 >= 0.6 and unit
escape rate <= 5 %.

Which image lands in which split is drawn from its own seeded stream, independent of pixel values,
so the test split holds the same images the model never saw on any machine (checked: names and
counts per split). The pixels themselves can differ in the last bits between CPUs (vectorised
float paths in OpenCV / NumPy), which changes the PNG bytes and with them the fingerprint: only
when the fingerprint equals the card's must the re-measured figures also equal the recorded ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from linecheck.config import get_path_settings
from linecheck.datasets.synth import write_dataset
from linecheck.kinds import Kind
from linecheck.model.registry import Registry
from linecheck.training.dataset import load_dataset
from linecheck.training.evaluate import evaluate
from linecheck.training.targets import target_for_model

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MIN_MAP50 = 0.6
MAX_ESCAPE_RATE = 0.05


@pytest.mark.parametrize("kind", [k.value for k in Kind])
def test_starter_model_meets_targets_on_held_out_data(kind: str, tmp_path: Path) -> None:
    registry = Registry(get_path_settings().models_dir)
    version = registry.get(kind)  # production
    card = version.card
    assert card.kind == kind and card.onnx is not None
    generator = card.dataset["generator"]
    data = write_dataset(
        kind,
        tmp_path / "data",
        images=generator["images"],
        seed=generator["seed"],
        imgsz=generator["imgsz"],
        val=generator["val"],
        test=generator["test"],
        defect_free=generator["defect_free"],
    )
    dataset = load_dataset(data.parent)
    counts = {split: len(dataset.images(split)) for split in card.dataset["images"]}
    assert counts == card.dataset["images"], "the regenerated splits differ from the training data's"
    identical = dataset.fingerprint() == card.dataset["sha256"]

    target = target_for_model(
        card.name, kind, line=card.training.get("line"), lines_dir=ROOT / "configs" / "lines"
    )
    report = evaluate(version, dataset, thresholds=target.thresholds, out_dir=tmp_path / "eval", split="test")

    assert report.images == len(dataset.images("test")) > 0
    assert report.map50 >= MIN_MAP50, report.to_dict()
    assert report.units.escape_rate <= MAX_ESCAPE_RATE, report.to_dict()
    if identical:  # the same bytes the card was measured on: the same figures
        recorded = card.metrics
        assert abs(recorded["mAP50"] - report.map50) < 0.01
        assert abs(recorded["escape_rate"] - report.units.escape_rate) < 0.011
