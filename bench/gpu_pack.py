"""Assemble ``.gpu_pack/`` (what travels to the GPU host beside the working tree) and measure it.

The device tool copies the working tree (tracked + untracked-not-ignored files) and the paths
named in ``carry``; all of it must stay under 64 MiB. This script:

* downloads (or takes from ``--wheels``) the cp312 manylinux wheels the GPU host lacks for
  ``bench/gpu_check.py``: pydantic + pydantic-core + pydantic-settings + typing-inspection +
  annotated-types + python-dotenv + typing-extensions (linecheck's settings), zxing-cpp (the
  synthetic frames), tritonclient + python-rapidjson (the inspector's Triton client), into
  ``.gpu_pack/wheels`` (5.6 MiB);
* with ``--server``, packs the bundled Triton server of this venv's ``nvidia-pytriton``
  (``tritonserver``, the Python backend, the cp312 stub, ``nvidia_pytriton.libs`` without the
  unused libpython 3.13) as ``.gpu_pack/server.tar.xz`` (about 26 MB; several minutes of xz);
* packs the registry graph ``gpu_check.py`` compares against (``models/bearing/1/model.onnx``,
  ignored by git since ``make install`` exports it; the host has no Ultralytics to build it) as
  ``.gpu_pack/graphs/bearing-1.onnx.xz`` (12.1 MB -> 10.0 MB; ``gpu_check.sh`` unpacks it);
* prints the working tree's size, the pack's, and whether both fit, and writes ``.gpu_pack/SIZES.json``.

    .venv/bin/python bench/gpu_pack.py                # wheels only
    .venv/bin/python bench/gpu_pack.py --server       # + the Triton server (if the tree leaves room)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / ".gpu_pack"
LIMIT = 64 * 1024 * 1024
WHEELS = (
    "pydantic==2.14.4",
    "pydantic-core==2.50.5",
    "pydantic-settings==2.16.3",
    "typing-inspection==0.4.5",
    "annotated-types==0.8.0",
    "python-dotenv==1.2.4",
    "tritonclient==2.73.0",
    "python-rapidjson==1.25",
    "typing-extensions==4.16.0",  # pydantic-core needs a recent one (Sentinel)
    "zxing-cpp==3.1.1",  # linecheck.datasets.synth (the frames) imports it
)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)


def tree_files(*git_args: str) -> list[Path]:
    """Files of the working tree git lists with ``git_args`` (none: tracked; ``--others --exclude-standard``:
    untracked and not ignored), the two kinds the device tool copies without ``carry``."""
    names = subprocess.run(
        ["git", "ls-files", "-z", *git_args], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [ROOT / os.fsdecode(n) for n in names if n and (ROOT / os.fsdecode(n)).is_file()]


def tree_bytes() -> dict[str, int]:
    """Bytes of what travels without ``carry``: tracked files and untracked files git does not ignore."""
    return {
        "tracked": sum(f.stat().st_size for f in tree_files()),
        "untracked_not_ignored": sum(f.stat().st_size for f in tree_files("--others", "--exclude-standard")),
    }


def ensure_excluded(name: str = PACK.name) -> None:
    """``/<name>/`` (a folder in the repository root) in ``.git/info/exclude``: it travels when carried."""
    exclude = ROOT / ".git" / "info" / "exclude"
    text = exclude.read_text() if exclude.is_file() else ""
    if f"/{name}/" not in text.splitlines():
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text(text + ("" if text.endswith("\n") or not text else "\n") + f"/{name}/\n")


def fetch_wheels(target: Path, source: Path | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if source is not None:
        for wheel in source.glob("*.whl"):
            shutil.copy2(wheel, target / wheel.name)
        return
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            *platforms,
            "-d",
            str(target),
            *WHEELS,
        ],
        check=True,
    )


def pack_server(target: Path) -> None:
    """``server.tar.xz``: the bundled server, extracted on the host into the folder on PYTHONPATH."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise SystemExit("--server needs nvidia-pytriton installed in this environment")
    site = Path(spec.origin).parent.parent
    dist = next(site.glob("nvidia_pytriton-*.dist-info"))
    members = [
        "pytriton/__init__.py",
        "pytriton/tritonserver/bin",
        "pytriton/tritonserver/backends",
        "pytriton/tritonserver/python_backend_stubs/3.12",
        "nvidia_pytriton.libs",
        f"{dist.name}/METADATA",
    ]
    tar = subprocess.Popen(
        ["tar", "-C", str(site), "--exclude=__pycache__", "--exclude=libpython3-*", "-cf", "-", *members],
        stdout=subprocess.PIPE,
    )
    with target.open("wb") as out:
        subprocess.run(["xz", "-9e", "-T1"], stdin=tar.stdout, stdout=out, check=True)
    if tar.wait() != 0:
        raise SystemExit("tar of the bundled server failed")


#: What ``.gpu_pack`` weighs built in full (measured 2026-11-30: the wheels 5,905,889 bytes, the bearing graph
#: 9,963,276, the server 25,701,428): the room the tracked tree must leave under :data:`LIMIT` for the
#: prepared device calls of ``bench/gpu_travel.md`` (``tests/bench/test_gpu_travel.py`` holds it to that).
FULL_PACK_BYTES = 5_905_889 + 9_963_276 + 25_701_428

#: Registry graphs gpu_check.py reads on the host, packed as ``graphs/<name>-<version>.onnx.xz``.
GRAPHS = (("bearing", 1),)


def pack_graphs(target: Path) -> None:
    """Each graph of :data:`GRAPHS`, xz-compressed (``gpu_check.sh`` unpacks it into ``models/``)."""
    target.mkdir(parents=True, exist_ok=True)
    for name, version in GRAPHS:
        graph = ROOT / "models" / name / str(version) / "model.onnx"
        if not graph.is_file():
            raise SystemExit(f"{graph.relative_to(ROOT)} is missing: run `make install` (it exports it)")
        with graph.open("rb") as src, (target / f"{name}-{version}.onnx.xz").open("wb") as out:
            subprocess.run(["xz", "-9", "-T1"], stdin=src, stdout=out, check=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wheels", type=Path, help="take the wheels from this folder instead of downloading")
    p.add_argument("--server", action="store_true", help="also pack the bundled Triton server (~26 MB)")
    args = p.parse_args(argv)
    ensure_excluded()
    fetch_wheels(PACK / "wheels", args.wheels)
    pack_graphs(PACK / "graphs")
    if args.server:
        pack_server(PACK / "server.tar.xz")
    pack = {f.relative_to(PACK).as_posix(): f.stat().st_size for f in sorted(PACK.rglob("*")) if f.is_file()}
    pack.pop("SIZES.json", None)
    tree = tree_bytes()
    total = sum(tree.values()) + sum(pack.values())
    sizes = {
        **tree,
        "pack": sum(pack.values()),
        "pack_files": pack,
        "total": total,
        "limit": LIMIT,
        "headroom": LIMIT - total,
    }
    (PACK / "SIZES.json").write_text(json.dumps(sizes, indent=2))
    mib = 1024 * 1024
    print(
        f"tracked {tree['tracked'] / mib:.1f} MiB + untracked {tree['untracked_not_ignored'] / mib:.1f} MiB "
        f"+ .gpu_pack {sizes['pack'] / mib:.1f} MiB = {total / mib:.1f} MiB of 64 "
        f"({'fits' if total <= LIMIT else 'DOES NOT FIT'}, headroom {sizes['headroom'] / mib:.1f} MiB)"
    )
    return 0 if total <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
