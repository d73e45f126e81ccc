"""Detector factories for the inspector: Triton (the normal path) or in-process ONNX Runtime.

A factory builds (connects) one model's detector; the batcher calls it at start and again,
with backoff, after a failure — so an inspector started before Triton, or outliving a Triton
restart, connects by itself when the server is back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Literal

from linecheck.config import LineConfig, ModelRef, get_path_settings, model_of
from linecheck.errors import ConfigError
from linecheck.inspect.batcher import DetectorFactory
from linecheck.inspect.shadow import ShadowSpec, shadow_label
from linecheck.model.detector import Detector
from linecheck.model.union import UnionDetector

Runtime = Literal["triton", "onnx"]


def _label(line: LineConfig) -> str:
    return f"line {line.id}" if line.product is None else f"line {line.id} product {line.product}"


def _by_model(lines: Sequence[LineConfig]) -> dict[str, LineConfig]:
    """One config per model name, over every line and product (:meth:`LineConfig.variants`).

    Lines and products sharing a model must agree on its classes, version and extra models: the
    inspector keeps one detector per model name.
    """
    chosen: dict[str, LineConfig] = {}
    for line in (v for each in lines for v in each.variants()):
        name = model_of(line)
        other = chosen.setdefault(name, line)
        if other is line:
            continue
        if other.classes != line.classes:
            raise ConfigError(
                f"{_label(other)} and {_label(line)} share model {name!r} but list different classes: "
                f"{other.classes} vs {line.classes}"
            )
        if (other.model and other.model.version) != (line.model and line.model.version):
            raise ConfigError(
                f"{_label(other)} and {_label(line)} ask for different versions of model {name!r}"
            )
        if other.extra_models != line.extra_models or other.model != line.model:
            raise ConfigError(
                f"{_label(other)} and {_label(line)} run model {name!r} with different tiles, per-cell "
                "settings or extra models; give one of them its own model"
            )
    return chosen


def _tiled(detector: Detector, ref: ModelRef) -> Detector:
    """``detector`` on native tiles: the line's ``tile:``, else the tile its model was trained on."""
    from linecheck.model.tiling import TiledDetector, native_tile

    tile = native_tile(detector) if ref.tile is None else ref.tile
    if not tile:
        return detector
    return TiledDetector(detector, tile=tile, overlap=min(ref.tile_overlap, tile - 1))


def _per_cell(detector: Detector, ref: ModelRef, line: LineConfig) -> Detector:
    """``detector`` on every cell crop of the line's product when the model entry asks (``per_cell:``)."""
    if not ref.per_cell:
        return detector
    from linecheck.inspect.geometry import cell_boxes
    from linecheck.model.cells import CellClassifier

    return CellClassifier(detector, partial(cell_boxes, line))


def _with_extras(
    line: LineConfig, build_one: Callable[[str, str, Sequence[str] | None], Detector]
) -> Detector:
    """The line's main model, or the union of it and its ``extra_models`` (classes checked with the line)."""
    main = line.model or ModelRef(name=model_of(line))
    if not line.extra_models:
        return _per_cell(_tiled(build_one(main.name, main.version, line.classes), main), main, line)
    refs = [main, *line.extra_models]
    built: list[Detector] = []
    try:
        for ref in refs:
            built.append(_per_cell(_tiled(build_one(ref.name, ref.version, None), ref), ref, line))
        union = UnionDetector(built)
    except BaseException:
        for detector in built:
            detector.close()
        raise
    if list(union.class_names) != list(line.classes):
        union.close()
        raise ConfigError(
            f"line {line.id}: models {[r.name for r in refs]} answer classes {list(union.class_names)}; "
            f"the line lists {line.classes} (list every model's classes, the main model's first)"
        )
    return union


def triton_factories(
    lines: Sequence[LineConfig],
    *,
    url: str | None = None,
    timeout_s: float = 8.0,
    ready_timeout_s: float = 2.0,
) -> dict[str, DetectorFactory]:
    """Model name -> factory of a :class:`~linecheck.serving.triton.client.TritonDetector`.

    ``url`` defaults to the Triton settings (``LINECHECK_TRITON_URL`` or host:grpc_port). The
    served model's classes are checked against the line config at connection time.
    """

    def factory(name: str, line: LineConfig) -> DetectorFactory:
        def one(model: str, version: str, classes: Sequence[str] | None) -> Detector:
            from linecheck.serving.triton.client import TritonDetector

            return TritonDetector(
                model,
                url=url,
                version=version if version.isdigit() else "",  # a stage: the version served
                expected_classes=classes,
                timeout_s=timeout_s,
                retries=0,
                ready_timeout_s=ready_timeout_s,
            )

        def build() -> Detector:
            return _with_extras(line, one)

        return build

    return {name: factory(name, line) for name, line in _by_model(lines).items()}


def onnx_factories(
    lines: Sequence[LineConfig], *, registry_root: Path | None = None, threads: int = 0
) -> dict[str, DetectorFactory]:
    """Model name -> factory of an in-process ONNX Runtime detector from the model registry."""
    from linecheck.model.registry import Registry

    registry = Registry(registry_root or get_path_settings().models_dir)

    def factory(name: str, line: LineConfig) -> DetectorFactory:
        def one(model: str, wanted: str, classes: Sequence[str] | None) -> Detector:
            from linecheck.serving.triton.onnx_detector import OnnxDetector

            version = registry.get(model, wanted)
            if classes is not None and list(version.card.classes) != list(classes):
                raise ConfigError(
                    f"model {model} v{version.card.version} classes {version.card.classes} "
                    f"differ from line {line.id} classes {list(classes)}"
                )
            return OnnxDetector.from_registry(version, intra_op_threads=threads)

        def build() -> Detector:
            return _with_extras(line, one)

        return build

    return {name: factory(name, line) for name, line in _by_model(lines).items()}


def shadow_specs(
    lines: Sequence[LineConfig],
    runtime: Runtime,
    *,
    triton_url: str | None = None,
    timeout_s: float = 8.0,
    registry_root: Path | None = None,
    threads: int = 0,
) -> dict[str, list[ShadowSpec]]:
    """Line id -> its ``shadow:`` models, each with the factory of its detector on ``runtime``.

    On Triton a shadow is asked for by :func:`~linecheck.model.registry.served_name` (``bearing--staging``:
    ``linecheck serve triton`` serves the versions the lines' shadows name under it); with ONNX Runtime it
    is read from the registry at its version or stage. Tiles and per-cell crops apply as for any model.
    """
    from linecheck.model.registry import Registry, served_name

    def on_triton(ref: ModelRef) -> Detector:
        from linecheck.serving.triton.client import TritonDetector

        return TritonDetector(
            served_name(ref.name, ref.version),
            url=triton_url,
            version="",
            expected_classes=None,
            timeout_s=timeout_s,
            retries=0,
            ready_timeout_s=2.0,
        )

    if runtime not in ("triton", "onnx"):
        raise ConfigError(f"runtime={runtime!r}: expected triton or onnx")
    registry = Registry(registry_root or get_path_settings().models_dir) if runtime == "onnx" else None

    def on_onnx(ref: ModelRef) -> Detector:
        from linecheck.serving.triton.onnx_detector import OnnxDetector

        assert registry is not None
        return OnnxDetector.from_registry(registry.get(ref.name, ref.version), intra_op_threads=threads)

    build_one = on_triton if runtime == "triton" else on_onnx

    def factory(ref: ModelRef, line: LineConfig) -> DetectorFactory:
        return lambda: _per_cell(_tiled(build_one(ref), ref), ref, line)

    return {
        line.id: [ShadowSpec(shadow_label(ref.name, ref.version), factory(ref, line)) for ref in line.shadow]
        for line in lines
        if line.shadow
    }


def detector_factories(
    lines: Sequence[LineConfig], runtime: Runtime, *, triton_url: str | None = None, timeout_s: float = 8.0
) -> dict[str, DetectorFactory]:
    """Factories for ``runtime`` (``triton`` or ``onnx``)."""
    if runtime == "triton":
        return triton_factories(lines, url=triton_url, timeout_s=timeout_s)
    if runtime == "onnx":
        return onnx_factories(lines)
    raise ConfigError(f"runtime={runtime!r}: expected triton or onnx")
