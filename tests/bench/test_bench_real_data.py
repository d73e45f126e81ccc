"""bench/real_data.py on a generated root in the published layouts (ELPV CSV, AITEX folders, NEU-DET VOC)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from bench_scripts import load_bench_script

from linecheck.image_files import evenly_spaced

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "training"))
from fake_sets import fake_voc  # noqa: E402
from lc_image_data import texture, with_defect  # noqa: E402

pytestmark = pytest.mark.slow


def _fake_root(root: Path) -> Path:
    rng = np.random.default_rng(0)
    cells = root / "elpv-cells"
    (cells / "images").mkdir(parents=True)
    rows = []
    for i in range(24):
        defective = i % 3 == 0
        image = texture(rng, 48, 48)
        cv2.imwrite(
            str(cells / "images" / f"cell{i:04d}.png"), with_defect(rng, image) if defective else image
        )
        rows.append(f"images/cell{i:04d}.png  {1.0 if defective else 0.0}  mono")
    (cells / "labels.csv").write_text("\n".join(rows) + "\n")
    fabric = root / "aitex-fabric"
    (fabric / "no_defect" / "roll-a").mkdir(parents=True)
    (fabric / "defect").mkdir()
    for i in range(6):
        cv2.imwrite(str(fabric / "no_defect" / "roll-a" / f"{i:04d}_000_01.png"), texture(rng, 256, 512))
    for i in range(2):
        cv2.imwrite(str(fabric / "defect" / f"{i:04d}_002_01.png"), with_defect(rng, texture(rng, 256, 512)))
    # A roll linked in from elsewhere (a set assembled from links) and a fabric with no defect image.
    (root.parent / "nas" / "roll-b").mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(root.parent / "nas" / "roll-b" / f"{i + 6:04d}_000_01.png"), texture(rng, 256, 512))
    (fabric / "no_defect" / "roll-b").symlink_to(root.parent / "nas" / "roll-b")
    (fabric / "no_defect" / "roll-c").mkdir()
    cv2.imwrite(str(fabric / "no_defect" / "roll-c" / "0000_000_05.png"), texture(rng, 256, 512))
    return root


def test_real_data_bench_prints_one_json_line_with_elpv_and_aitex_figures(tmp_path):
    env = dict(
        os.environ, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(ROOT / "var" / "ultralytics"), ELPV_SIZE="2,64,8"
    )
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "real_data.py"),
            "--root",
            str(_fake_root(tmp_path / "root")),
            "--quick",
            "--skip",
            "neu",
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + (tmp_path / "work" / "cli.log").read_text()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"accuracy", "f1", "escape_rate"} <= set(result["elpv"])
    assert (result["elpv"]["epochs"], result["elpv"]["imgsz"], result["elpv"]["batch"]) == (2, 64, 8)
    card = json.loads((tmp_path / "work" / "models" / "elpv-cells" / "1" / "model_card.json").read_text())
    assert result["elpv"]["tta"] == card["training"]["options"]["tta"] == 8  # through the CLI to the graph
    assert result["aitex"]["per_fabric"]["01"]["defect_test"] == 2
    assert result["aitex"]["per_fabric"]["01"]["good_test"] == 4  # 8 good images, 2 of them linked in
    assert result["aitex"]["codes_with_10_good"] == []  # 8 good images: below the target's 10
    assert result["aitex"]["skipped_fabrics"] == {"05": "1 defect-free images, no defect image to test on"}
    assert "neu_det" not in result


def test_real_data_bench_trains_the_three_neu_det_starts_at_equal_epochs(tmp_path):
    """The NEU-DET part on a generated VOC set: scratch, our checkpoint and the ImageNet start each
    train (one epoch at 64 px through NEU_SIZE) and report mAP50, escape rate and training time."""
    root = tmp_path / "root"
    fake_voc(root / "neu-det-voc")
    env = dict(
        os.environ, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(ROOT / "var" / "ultralytics"), NEU_SIZE="0,1,64"
    )
    args = [sys.executable, str(ROOT / "bench" / "real_data.py"), "--root", str(root), "--quick"]
    args += ["--skip", "elpv", "--skip", "aitex", "--work", str(tmp_path / "work")]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr + (tmp_path / "work" / "cli.log").read_text()
    neu = json.loads(done.stdout.strip().splitlines()[-1])["neu_det"]
    assert (neu["images"], neu["epochs"], neu["imgsz"]) == (14, 1, 64)
    for start in ("scratch", "bearing_checkpoint", "imagenet_lite0"):
        assert 0.0 <= neu[start]["mAP50"] <= 1.0 and neu[start]["train_s"] > 0, neu
    cards = sorted(p.name for p in (tmp_path / "work" / "models").iterdir())
    assert cards == ["neu-bearing-checkpoint", "neu-imagenet-lite0", "neu-scratch"]
    arch = json.loads(
        (tmp_path / "work" / "models" / "neu-imagenet-lite0" / "1" / "model_card.json").read_text()
    )
    assert arch["architecture"] == "yolov8n-lite0"


@pytest.mark.parametrize("layout", ["voc", "neu-det"])
def test_the_neu_det_subset_keeps_evenly_spaced_annotations_with_their_images(tmp_path, layout):
    """VOC (Annotations/ + JPEGImages/) or NEU-DET as published (ANNOTATIONS/ + IMAGES/<class>/)."""
    src = fake_voc(tmp_path / "src", images=10)
    if layout == "neu-det":
        (src / "Annotations").rename(src / "ANNOTATIONS")
        for image in sorted((src / "JPEGImages").glob("*.jpg")):
            (src / "IMAGES" / image.stem.split("_")[0]).mkdir(parents=True, exist_ok=True)
            image.rename(src / "IMAGES" / image.stem.split("_")[0] / image.name)
        (src / "JPEGImages").rmdir()
    bench = load_bench_script("real_data")
    subset, count = bench.voc_subset(src, tmp_path / "subset", 4)
    assert (subset, count) == (tmp_path / "subset", 4)
    xmls = sorted(p.stem for p in (subset / "Annotations").glob("*.xml"))
    assert xmls == sorted(p.stem for p in (subset / "JPEGImages").glob("*.jpg")) and len(xmls) == 4
    # Spread over the sorted names (5 patches_*, then 5 scratches_*), not the first four: both classes stay.
    assert sorted(name.split("_")[0] for name in xmls) == ["patches", "patches", "scratches", "scratches"]
    # A cap at or above the set's size (or 0) keeps the whole set: a smaller copy is used whole.
    assert bench.voc_subset(src, tmp_path / "unused", 0) == (src, 10)
    assert bench.voc_subset(src, tmp_path / "unused", 10) == (src, 10)


def test_sets_absent_from_the_root_are_skipped_and_a_failing_set_is_reported(tmp_path):
    root = tmp_path / "root"
    (root / "elpv-cells").mkdir(parents=True)  # present but without labels.csv: its conversion fails
    args = [sys.executable, str(ROOT / "bench" / "real_data.py"), "--root", str(root), "--quick"]
    args += ["--work", str(tmp_path / "work")]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0 and "failed: elpv" in done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["elpv"]["error"].startswith("linecheck data convert --from csv failed (")
    assert "labels.csv" in result["elpv"]["error"]  # what the CLI said, not only where its log is
    assert result["aitex"] == {"skipped": f"no aitex-fabric/ under {root}"}
    assert result["neu_det"] == {"skipped": f"no neu-det-voc/ under {root}"}


@pytest.mark.parametrize(("good", "defect"), [("no_defect", "defect"), ("NODefect_images", "Defect_images")])
def test_aitex_is_read_in_this_copy_s_layout_and_as_published(tmp_path, good, defect):
    base = tmp_path / "aitex-fabric"
    for name in (
        f"{good}/roll-1/0001_000_02.png",
        f"{good}/roll-2/0002_000_03.png",
        f"{defect}/0003_019_02.png",
    ):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(base / name), np.zeros((8, 32), np.uint8))
    (base / "Mask_images").mkdir()  # published beside them; not read
    bench = load_bench_script("real_data")
    assert {
        code: [p.name for p in paths] for code, paths in bench.by_fabric(base, bench.AITEX_GOOD).items()
    } == {
        "02": ["0001_000_02.png"],
        "03": ["0002_000_03.png"],
    }
    assert list(bench.by_fabric(base, bench.AITEX_DEFECT)) == ["02"]
    with pytest.raises(SystemExit, match="no no_defect or NODefect_images/"):
        bench.by_fabric(tmp_path, bench.AITEX_GOOD)


def test_quick_sizes_keep_evenly_spaced_items_and_a_small_copy_whole() -> None:
    bench = load_bench_script("real_data")
    items = [Path(f"{i:02d}.png") for i in range(25)]
    kept = evenly_spaced(items, bench.AITEX_QUICK_TRAIN)
    assert len(kept) == bench.AITEX_QUICK_TRAIN and kept[0] == items[0] and kept == sorted(kept)
    assert len({p.name[:1] for p in kept}) == 3  # spread over 0x, 1x and 2x, not the first ten
    assert evenly_spaced(items[:6], bench.AITEX_QUICK_TRAIN) == items[:6]
    assert evenly_spaced(items, 0) == items
