"""Build a standard Triton model repository from registry versions.

Layout (one Triton model per registry model, e.g. per line kind)::

    <repo>/<name>/config.pbtxt
    <repo>/<name>/<version>/model.onnx
    <repo>/<name>/<version>/model.py        (embedded flavour: Python backend + ONNX Runtime)

Two flavours of the same repository:

* ``embedded`` (CPU): ``backend: "python"`` running :mod:`.python_model`, for the Triton binary
  bundled with ``nvidia-pytriton``.
* ``gpu``: ``platform: "onnxruntime_onnx"`` with the TensorRT execution accelerator (or
  ``tensorrt_plan`` when the version holds a ``model.plan``), ``KIND_GPU`` instances, for
  NVIDIA's Triton container.

The config is built as Triton's own ``ModelConfig`` protobuf and written as text, so it is valid
by construction. Tensor names and dims come from the ONNX graph (checked against the card by
loading it once with ONNX Runtime); the class list, output layout and size go into
``parameters`` (see :mod:`.contract`). The version policy serves exactly the promoted version:
writing a new version and calling ``load`` on the server swaps it without a restart.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from linecheck.errors import ConfigError, ModelContractError, RegistryError
from linecheck.model.registry import ModelVersion, Registry, served_name
from linecheck.serving.triton.contract import PARAM_BATCH_LIMIT, PARAM_THREADS, ModelContract
from linecheck.serving.triton.onnx_detector import OnnxDetector
from linecheck.serving.triton.settings import Flavor, TritonSettings

if TYPE_CHECKING:
    from tritonclient.grpc import model_config_pb2

CONFIG_FILE = "config.pbtxt"
PLAN_FILE = "model.plan"
PYTHON_MODEL = Path(__file__).with_name("python_model.py")


@dataclass(frozen=True, kw_only=True)
class RepositoryOptions:
    """How models are configured in the repository (see :class:`TritonSettings` for the defaults)."""

    flavor: Flavor = "embedded"
    max_batch_size: int = 8
    preferred_batch_sizes: tuple[int, ...] = (4, 8)
    max_queue_delay_us: int = 2000
    instance_count: int = 1
    intra_op_threads: int = 1
    gpu_precision: str = "FP16"
    extra_parameters: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: TritonSettings, *, flavor: Flavor | None = None) -> RepositoryOptions:
        """Options taken from :class:`TritonSettings` (``flavor`` overrides the setting)."""
        flavor = flavor or settings.flavor
        batching = settings.batching(flavor)
        return cls(
            flavor=flavor,
            max_batch_size=batching.max_batch_size,
            preferred_batch_sizes=batching.preferred_batch_sizes,
            max_queue_delay_us=settings.max_queue_delay_us,
            instance_count=batching.instance_count,
            intra_op_threads=settings.intra_op_threads,
            gpu_precision=settings.gpu_precision,
        )


@dataclass(frozen=True, kw_only=True)
class ServedModel:
    """One model written into the repository."""

    name: str
    version: int
    contract: ModelContract
    path: Path
    config_text: str


def _batch_settings(options: RepositoryOptions, batch_limit: int, flavor: Flavor) -> tuple[int, bool]:
    """``max_batch_size`` and whether dynamic batching is on, given what the graph takes in one run."""
    if flavor == "gpu" and batch_limit:
        # The ONNX Runtime backend runs the graph on the whole batch: never hand it more than it answers.
        return batch_limit, False
    return options.max_batch_size, True


def model_config(
    version: ModelVersion, name: str, probe: OnnxDetector, options: RepositoryOptions
) -> model_config_pb2.ModelConfig:
    """Build the Triton ``ModelConfig`` for ``version`` served as ``name``."""
    from tritonclient.grpc import model_config_pb2 as pb

    card = version.card
    sig = probe.signature
    plan = version.path / PLAN_FILE
    max_batch, dynamic = _batch_settings(options, probe.batch_limit, options.flavor)
    config = pb.ModelConfig(name=name, max_batch_size=max_batch)
    if options.flavor == "embedded":
        config.backend = "python"
    elif plan.is_file():
        config.platform = "tensorrt_plan"
        config.default_model_filename = PLAN_FILE
    else:
        config.platform = "onnxruntime_onnx"
        config.default_model_filename = "model.onnx"
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add()
        accelerator.name = "tensorrt"
        accelerator.parameters["precision_mode"] = options.gpu_precision
        accelerator.parameters["max_workspace_size_bytes"] = str(1 << 30)
    config.version_policy.specific.versions.append(card.version)

    contract = contract_of(version, probe, max_batch, options.flavor)
    inp = config.input.add()
    inp.name = contract.input_name
    inp.data_type = pb.DataType.Value(contract.input_dtype)
    inp.dims.extend(contract.item_shape)
    out = config.output.add()
    out.name = sig.output.name
    # The Python-backend model always answers float32; a backend running the graph returns its dtype.
    out.data_type = pb.TYPE_FP32 if options.flavor == "embedded" else pb.DataType.Value(sig.output.dtype)
    out.dims.extend(probe.output_dims)

    if dynamic:
        preferred = sorted({b for b in options.preferred_batch_sizes if 1 <= b <= max_batch})
        config.dynamic_batching.preferred_batch_size.extend(preferred)
        config.dynamic_batching.max_queue_delay_microseconds = options.max_queue_delay_us
    group = config.instance_group.add()
    group.kind = (
        pb.ModelInstanceGroup.KIND_CPU if options.flavor == "embedded" else pb.ModelInstanceGroup.KIND_GPU
    )
    group.count = options.instance_count

    params = {
        **contract.parameters(),
        PARAM_BATCH_LIMIT: str(probe.batch_limit),
        PARAM_THREADS: str(options.intra_op_threads),
        **options.extra_parameters,
    }
    for key, value in sorted(params.items()):
        config.parameters[key].string_value = value
    return config


def contract_of(
    version: ModelVersion, probe: OnnxDetector, max_batch_size: int, flavor: Flavor = "embedded"
) -> ModelContract:
    """The contract a registry version is served under.

    The embedded (CPU) server takes letterboxed uint8 frames and normalises them in its Python
    backend: a quarter of the bytes of float32 on the wire and in shared memory. The GPU flavour
    hands the request straight to the ONNX Runtime / TensorRT backend, so it takes the graph's input.
    """
    card = version.card
    assert card.onnx is not None  # checked by OnnxDetector.from_registry
    return ModelContract(
        classes=tuple(card.classes),
        output_layout=card.onnx.output_layout,
        imgsz=probe.imgsz,
        kind=card.kind,
        registry_version=card.version,
        input_name=probe.signature.input.name,
        output_name=probe.signature.output.name,
        input_dtype="TYPE_UINT8" if flavor == "embedded" else probe.signature.input.dtype,
        max_batch_size=max_batch_size,
        tile=card.native_tile,
    )


def render_config(config: model_config_pb2.ModelConfig) -> str:
    """``config.pbtxt`` text for ``config``."""
    from google.protobuf import text_format

    return str(text_format.MessageToString(config))


def parse_config(text: str) -> model_config_pb2.ModelConfig:
    """Parse ``config.pbtxt`` text back into a ``ModelConfig`` (raises ConfigError naming the problem)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    try:
        return text_format.Parse(text, pb.ModelConfig())
    except text_format.ParseError as exc:
        raise ConfigError(f"{CONFIG_FILE}: not a valid Triton model config: {exc}") from exc


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def add_model_version(
    repository: Path, version: ModelVersion, options: RepositoryOptions, *, name: str | None = None
) -> ServedModel:
    """Write ``version`` into ``repository`` and point the model's config at it.

    The version directory is written completely before the config names it, so a server asked to
    ``load`` the model sees either the old or the new version, never a half-written one. Older
    version directories are kept (for rollback); the config's version policy serves only this one.

    Raises:
        ModelContractError: the version's ONNX graph does not match its card.

    """
    served_name = name or version.card.name
    probe = OnnxDetector.from_registry(version, intra_op_threads=1)
    try:
        config = model_config(version, served_name, probe, options)
        contract = contract_of(version, probe, config.max_batch_size, options.flavor)
    finally:
        probe.close()
    model_dir = Path(repository) / served_name
    target = model_dir / str(version.card.version)
    if not target.is_dir():
        staging = model_dir / f".staging-{version.card.version}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.copy2(version.onnx, staging / "model.onnx")
        if (version.path / PLAN_FILE).is_file():
            shutil.copy2(version.path / PLAN_FILE, staging / PLAN_FILE)
        staging.replace(target)
    # The Python model is refreshed every time so a linecheck upgrade reaches existing repositories.
    shutil.copy2(PYTHON_MODEL, target / "model.py")
    text = render_config(config)
    _write_atomic(model_dir / CONFIG_FILE, text)
    return ServedModel(
        name=served_name, version=version.card.version, contract=contract, path=model_dir, config_text=text
    )


def build_repository(
    registry: Registry,
    repository: Path,
    options: RepositoryOptions,
    *,
    names: Sequence[str] | None = None,
    stage: str = "production",
    candidates: Sequence[tuple[str, str]] = (),
) -> list[ServedModel]:
    """Write the ``stage`` version of each model in ``names`` (default: every registered model).

    ``candidates``: (model, version or stage) pairs served beside them under
    :func:`~linecheck.model.registry.served_name` (``bearing--staging``): the lines' shadow models.

    Raises:
        RegistryError: a model is missing or has no version at ``stage``.
        ModelContractError: a graph does not match its card.

    """
    selected = list(names) if names else registry.names()
    if not selected:
        raise RegistryError(f"no models to serve: the registry at {registry.root} is empty")
    Path(repository).mkdir(parents=True, exist_ok=True)
    served: list[ServedModel] = []
    for model in selected:
        served.append(add_model_version(repository, _exported(registry.get(model, stage)), options))
    for model, wanted in dict.fromkeys(candidates):
        name = served_name(model, wanted)
        if all(m.name != name for m in served):
            served.append(
                add_model_version(repository, _exported(registry.get(model, wanted)), options, name=name)
            )
    return served


def _exported(version: ModelVersion) -> ModelVersion:
    """``version``, if it has an ONNX graph to serve."""
    if version.card.onnx is None:
        raise ModelContractError(f"{version.path}: model card has no 'onnx' section; export the model first")
    return version
