"""Load a script of ``bench/`` as a module, fresh each time, for the bench tests to read its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench_script(name: str) -> ModuleType:
    """``bench/<name>.py`` executed as module ``bench_<name>``.

    ``bench/`` goes on ``sys.path`` (the scripts import their siblings, ``timing``, ``machine``), and the
    module is registered in ``sys.modules`` while it runs (dataclasses look their module up).
    """
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
