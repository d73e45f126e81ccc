"""The models the demo trains at its first start (anomaly model, PV cell classifier): cached, trained once.

Each lives in a registry of its own under the demo's workdir and is reused on later runs while its
card's options are the same. Training runs on one torch thread: on a busy 2-core machine a second
thread waiting for a core made each backbone call tens of times slower (the same effect
``greedy_coreset`` documents).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from linecheck.errors import RegistryError
from linecheck.model.registry import ModelVersion, Registry

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def cached_model(root: Path, name: str, options: DataclassInstance) -> ModelVersion | None:
    """The production version of ``name`` under ``root`` if it was trained with ``options`` (a dataclass)."""
    try:
        version = Registry(root / "models").get(name, "production")
    except RegistryError:
        return None
    trained = version.card.training.get("options")
    return version if trained == json.loads(json.dumps(asdict(options))) else None


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train on one torch thread (see the module docstring), the caller's count restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def ensure_trained(
    root: Path, name: str, options: DataclassInstance, train: Callable[[Path], None]
) -> tuple[Path, bool]:
    """``root/models`` holding ``name`` trained with ``options``, and whether it was trained now.

    A model cached there with the same options is reused; otherwise ``root`` is emptied and
    ``train(root)`` writes its data under ``root`` and registers the model in ``root/models`` (on one
    torch thread), after which everything but the registry is removed.
    """
    if cached_model(root, name, options) is not None:
        return root / "models", False
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with one_torch_thread():
        train(root)
    for path in root.iterdir():
        if path.name != "models":  # the registry keeps the graph and the card
            shutil.rmtree(path, ignore_errors=True)
    return root / "models", True
