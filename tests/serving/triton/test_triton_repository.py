"""Model repository and config.pbtxt for both flavours (the gpu one is checked as text: no GPU here)."""

from __future__ import annotations

import json
import shutil

import pytest
from lc_tiny_model import CLASSES, IMGSZ, register_tiny
from tritonclient.grpc import model_config_pb2 as pb

from linecheck.errors import ConfigError, ModelContractError, RegistryError
from linecheck.model.registry import CARD_FILE, Registry
from linecheck.serving.triton.contract import contract_from_config
from linecheck.serving.triton.repository import (
    CONFIG_FILE,
    RepositoryOptions,
    add_model_version,
    build_repository,
    parse_config,
)

ANCHORS = sum((IMGSZ // s) ** 2 for s in (8, 16, 32))


def _params(config):
    return {k: v.string_value for k, v in config.parameters.items()}


@pytest.fixture(scope="module")
def built(registry, tmp_path_factory):
    """textile (raw) and bearing (nms) in both flavours."""
    out = {}
    for flavor in ("embedded", "gpu"):
        repo = tmp_path_factory.mktemp(f"repo-{flavor}")
        options = RepositoryOptions(flavor=flavor, max_batch_size=16, preferred_batch_sizes=(4, 16, 32))
        served = build_repository(registry, repo, options, names=["textile", "bearing"])
        out[flavor] = (repo, {s.name: s for s in served})
    return out


@pytest.mark.parametrize(
    ("model", "output_dims"),
    [("textile", [4 + len(CLASSES), ANCHORS]), ("bearing", [300, 6])],
)
def test_embedded_config_is_a_python_backend_with_dims_from_the_graph(built, model, output_dims):
    repo, served = built["embedded"]
    config = parse_config((repo / model / CONFIG_FILE).read_text())
    assert config.backend == "python" and config.platform == ""
    assert config.name == model
    assert config.max_batch_size == 16
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 16]  # 32 > max_batch_size dropped
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert [g.kind for g in config.instance_group] == [pb.ModelInstanceGroup.KIND_CPU]
    assert list(config.version_policy.specific.versions) == [1]
    (inp,) = config.input
    (out,) = config.output
    # the embedded server takes letterboxed uint8 frames and normalises them in the Python backend
    assert (inp.name, inp.data_type, list(inp.dims)) == ("images", pb.TYPE_UINT8, [IMGSZ, IMGSZ, 3])
    assert (out.name, out.data_type, list(out.dims)) == ("output0", pb.TYPE_FP32, output_dims)
    version_dir = repo / model / "1"
    assert sorted(p.name for p in version_dir.iterdir()) == ["model.onnx", "model.py"]
    assert served[model].config_text == (repo / model / CONFIG_FILE).read_text()


@pytest.mark.parametrize(
    ("model", "layout", "kind", "batch_limit"),
    [("textile", "raw", "textile", "0"), ("bearing", "nms", "bearing", "1")],
)
def test_contract_parameters_carry_classes_layout_and_size(built, model, layout, kind, batch_limit):
    for flavor in ("embedded", "gpu"):
        repo, _ = built[flavor]
        params = _params(parse_config((repo / model / CONFIG_FILE).read_text()))
        assert json.loads(params["linecheck.classes"]) == CLASSES
        assert params["linecheck.output_layout"] == layout
        assert params["linecheck.imgsz"] == str(IMGSZ)
        assert params["linecheck.kind"] == kind
        assert params["linecheck.registry_version"] == "1"
        assert params["linecheck.batch_limit"] == batch_limit


def test_gpu_config_uses_onnxruntime_with_tensorrt_fp16_on_gpu_instances(built):
    repo, _ = built["gpu"]
    config = parse_config((repo / "textile" / CONFIG_FILE).read_text())
    assert config.platform == "onnxruntime_onnx" and config.backend == ""
    assert config.default_model_filename == "model.onnx"
    assert [g.kind for g in config.instance_group] == [pb.ModelInstanceGroup.KIND_GPU]
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    assert accelerator.parameters["precision_mode"] == "FP16"
    assert config.max_batch_size == 16 and config.HasField("dynamic_batching")
    assert sorted(p.name for p in (repo / "textile" / "1").iterdir()) == ["model.onnx", "model.py"]


def test_gpu_config_never_batches_a_graph_with_nms_inside(built):
    """Ultralytics' in-graph NMS answers only the first image of a batch: send one at a time."""
    repo, served = built["gpu"]
    config = parse_config((repo / "bearing" / CONFIG_FILE).read_text())
    assert config.max_batch_size == 1
    assert not config.HasField("dynamic_batching")
    assert served["bearing"].contract.max_batch_size == 1


def test_gpu_config_serves_a_tensorrt_plan_when_the_version_has_one(registry, tmp_path):
    reg = Registry(tmp_path / "reg")
    version = register_tiny(reg, "pv", kind="pv")
    (version.path / "model.plan").write_bytes(b"engine bytes")
    served = add_model_version(tmp_path / "repo", version, RepositoryOptions(flavor="gpu"))
    config = parse_config(served.config_text)
    assert config.platform == "tensorrt_plan"
    assert config.default_model_filename == "model.plan"
    assert not config.optimization.HasField("execution_accelerators")
    assert (tmp_path / "repo" / "pv" / "1" / "model.plan").read_bytes() == b"engine bytes"


def test_config_text_reads_back_as_the_contract_a_client_checks(built):
    from google.protobuf import json_format

    repo, served = built["embedded"]
    config = parse_config((repo / "bearing" / CONFIG_FILE).read_text())
    as_json = json_format.MessageToDict(config, preserving_proto_field_name=True)
    assert contract_from_config(as_json, source="test") == served["bearing"].contract


def test_new_version_is_written_beside_the_old_and_the_config_points_at_it(tmp_path):
    reg = Registry(tmp_path / "reg")
    repo = tmp_path / "repo"
    first = register_tiny(reg, "textile")
    add_model_version(repo, first, RepositoryOptions())
    second = register_tiny(reg, "textile")
    served = add_model_version(repo, second, RepositoryOptions())
    assert served.version == 2
    assert sorted(p.name for p in (repo / "textile").iterdir()) == ["1", "2", CONFIG_FILE]
    config = parse_config((repo / "textile" / CONFIG_FILE).read_text())
    assert list(config.version_policy.specific.versions) == [2]
    assert _params(config)["linecheck.registry_version"] == "2"


def test_a_card_that_disagrees_with_its_graph_writes_nothing(tmp_path):
    reg = Registry(tmp_path / "reg")
    version = register_tiny(reg, "textile")
    card = json.loads((version.path / CARD_FILE).read_text())
    card["classes"] = ["a", "b", "c", "d", "e"]
    (version.path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelContractError, match="metadata names classes"):
        build_repository(reg, tmp_path / "repo", RepositoryOptions())
    assert not (tmp_path / "repo" / "textile").exists()


def test_missing_models_and_stages_are_registry_errors(tmp_path, registry):
    with pytest.raises(RegistryError, match="empty"):
        build_repository(Registry(tmp_path / "none"), tmp_path / "repo", RepositoryOptions())
    with pytest.raises(RegistryError, match="'glass' is not in the registry"):
        build_repository(registry, tmp_path / "repo", RepositoryOptions(), names=["glass"])
    with pytest.raises(RegistryError, match="no version at stage 'staging'"):
        build_repository(registry, tmp_path / "repo", RepositoryOptions(), names=["textile"], stage="staging")


def test_card_without_onnx_section_is_refused(tmp_path):
    reg = Registry(tmp_path / "reg")
    version = register_tiny(reg, "textile")
    card = json.loads((version.path / CARD_FILE).read_text())
    card["onnx"] = None
    (version.path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelContractError, match="no 'onnx' section"):
        build_repository(reg, tmp_path / "repo", RepositoryOptions())


def test_parse_config_names_the_problem():
    with pytest.raises(ConfigError, match=r"config\.pbtxt"):
        parse_config("name: 'x' max_batch_size: banana")


def test_repository_copies_are_independent_of_the_registry(tmp_path):
    reg = Registry(tmp_path / "reg")
    version = register_tiny(reg, "textile")
    add_model_version(tmp_path / "repo", version, RepositoryOptions())
    shutil.rmtree(version.path)
    assert (tmp_path / "repo" / "textile" / "1" / "model.onnx").stat().st_size > 1_000_000


def test_a_shadow_candidate_is_served_beside_production_under_its_own_name(tmp_path):
    reg = Registry(tmp_path / "reg")
    register_tiny(reg, "textile")
    candidate = register_tiny(reg, "textile", promote=False)
    reg.promote("textile", candidate.card.version, "staging")
    repo = tmp_path / "repo"
    served = build_repository(
        reg, repo, RepositoryOptions(), candidates=[("textile", "staging"), ("textile", "staging")]
    )
    assert [(s.name, s.version) for s in served] == [("textile", 1), ("textile--staging", 2)]
    config = parse_config((repo / "textile--staging" / CONFIG_FILE).read_text())
    assert config.name == "textile--staging" and list(config.version_policy.specific.versions) == [2]
    assert list(
        parse_config((repo / "textile" / CONFIG_FILE).read_text()).version_policy.specific.versions
    ) == [1]
    # a candidate that is production itself is the production model, served once
    assert [
        s.name
        for s in build_repository(
            reg, tmp_path / "r2", RepositoryOptions(), candidates=[("textile", "production")]
        )
    ] == ["textile"]
    with pytest.raises(RegistryError, match="no version at stage 'canary'"):
        build_repository(reg, tmp_path / "r3", RepositoryOptions(), candidates=[("textile", "canary")])
