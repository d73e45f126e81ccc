"""The GPU host's Python packages, to rehearse a device script on the CPU with only what it will find.

The host (``/work/.library/device/KINDS.md``, read 2026-11-17) runs its own python3 with its own
packages; whatever else a script imports must travel as wheels. :func:`host_site` builds a folder
of links to the distributions installed here that the host also has (:data:`HOST`) or that are
carried; a rehearsal run with ``python -S`` (no site-packages) and that folder on ``PYTHONPATH``
sees only those, so it fails where the host would (a module not found, named), not on device time::

    site=$(.venv/bin/python bench/gpu_host_env.py var/host_site --carry ultralytics pydantic ...)
    PYTHONPATH=$site .venv/bin/python -S bench/gpu_neu.py train ...

The versions are this venv's, not the host's (Python 3.12, torch 2.11 there): the rehearsal checks
what is importable, not how each version behaves.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

#: Distributions in the host's image, as KINDS.md lists them ("Python packages already there",
#: read on a machine on 2026-11-17).
HOST = (
    "absl-py", "accelerate", "aiofiles", "aiohappyeyeballs", "aiohttp", "aiosignal", "annotated-doc",
    "anyio", "attrs", "botorch", "build", "certifi", "charset-normalizer", "chex", "click",
    "cloudpickle", "cmake", "colorama", "contourpy", "coverage", "cuda-bindings", "cuda-core",
    "cuda-pathfinder", "cuda-toolkit", "cupy-cuda13x", "cycler", "cython", "diffrax", "e3nn", "einops",
    "equinox", "etils", "execnet", "filelock", "flatbuffers", "flax", "fonttools", "formulaic",
    "frozenlist", "fsspec", "gpytorch", "grpcio", "h11", "h5py", "hf-xet", "httpcore", "httpx",
    "huggingface-hub", "humanize", "hypothesis", "idna", "imageio", "iniconfig", "interface-meta",
    "jax", "jax-cuda13-pjrt", "jax-cuda13-plugin", "jaxlib", "jaxtyping", "jinja2", "joblib",
    "kiwisolver", "lazy-loader", "lightning", "lightning-utilities", "linear-operator", "lineax",
    "llvmlite", "lxml", "markdown", "markdown-it-py", "markupsafe", "matplotlib", "mdurl", "meson",
    "ml-dtypes", "mpi4py", "mpmath", "msgpack", "multidict", "multipledispatch", "mypy-extensions",
    "nanobind", "narwhals", "networkx", "ninja", "numba", "numba-cuda", "numpy", "numpyro",
    "nvidia-cublas", "nvidia-cuda-cupti", "nvidia-cuda-nvrtc", "nvidia-cuda-runtime",
    "nvidia-cudnn-cu13", "nvidia-cufft", "nvidia-cufile", "nvidia-curand", "nvidia-cusolver",
    "nvidia-cusparse", "nvidia-cusparselt-cu13", "nvidia-ml-py", "nvidia-nccl-cu13", "nvidia-nvjitlink",
    "nvidia-nvshmem-cu13", "nvidia-nvtx", "onnx", "onnx-ir", "onnxruntime", "onnxscript",
    "opencv-python-headless", "optax", "opt-einsum", "opt-einsum-fx", "optimistix", "orbax-checkpoint",
    "packaging", "pandas", "pathspec", "patsy", "peft", "pillow", "pip", "pluggy", "portalocker",
    "prometheus-client", "propcache", "protobuf", "psutil", "pyarrow", "pybind11", "py-cpuinfo",
    "pygments", "pyparsing", "pyproject-hooks", "pyre-extensions", "pytest", "pytest-benchmark",
    "pytest-cov", "pytest-mock", "pytest-timeout", "pytest-xdist", "python-dateutil",
    "pytorch-lightning", "pyyaml", "regex", "requests", "rich", "sacrebleu", "safetensors",
    "scikit-build-core", "scikit-image", "scikit-learn", "scipy", "seaborn", "sentencepiece",
    "sentence-transformers", "setuptools", "shellingham", "simplejson", "six", "sortedcontainers",
    "statsmodels", "sympy", "tabulate", "tensorboard", "tensorboard-data-server", "tensorstore",
    "threadpoolctl", "tifffile", "tiktoken", "timm", "tokenizers", "toolz", "torch", "torchaudio",
    "torchdiffeq", "torch-geometric", "torchmetrics", "torchvision", "tqdm", "transformers",
    "treescope", "triton", "typer", "typing-extensions", "typing-inspect", "urllib3", "uvloop",
    "wadler-lindig", "werkzeug", "wheel", "wrapt", "xarray", "xxhash", "yarl", "zipp",
)  # fmt: skip


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def host_site(target: Path, carried: Iterable[str] = ()) -> Path:
    """``target`` filled with links to every top-level entry of the installed distributions in
    :data:`HOST` or ``carried`` (packages, modules, ``.libs`` folders and their ``.dist-info``)."""
    wanted = {_normal(d) for d in (*HOST, *carried)}
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if _normal(name) not in wanted:
            continue
        base = Path(str(dist.locate_file("")))
        for top in sorted({Path(str(f)).parts[0] for f in dist.files or []}):
            source = base / top
            if top in ("..", "__pycache__") or not source.exists() or (target / top).exists():
                continue
            (target / top).symlink_to(source)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--carry", nargs="*", default=[], help="distributions that travel to the host")
    print(host_site(parser.parse_args().target.resolve(), parser.parse_args().carry))
