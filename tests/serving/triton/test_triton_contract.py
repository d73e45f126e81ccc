"""Contract parameters read back from a model config, error conversion, settings."""

from __future__ import annotations

import json

import pytest
from tritonclient.utils import InferenceServerException

from linecheck.errors import (
    InferenceError,
    ModelContractError,
    ModelNotReadyError,
    ServerUnavailableError,
)
from linecheck.serving.triton.contract import ModelContract, contract_from_config
from linecheck.serving.triton.settings import TritonSettings
from linecheck.serving.triton.transport import Target, convert_error, is_transient

CLASSES = ["a", "b"]


def _config(**changes):
    params = {
        "linecheck.classes": json.dumps(CLASSES),
        "linecheck.output_layout": "raw",
        "linecheck.imgsz": "64",
        "linecheck.kind": "pv",
        "linecheck.registry_version": "3",
    }
    params.update(changes.pop("params", {}))
    config = {
        "name": "m",
        "max_batch_size": 4,
        "input": [{"name": "images", "data_type": "TYPE_FP32", "dims": ["3", "64", "64"]}],
        "output": [{"name": "output0", "data_type": "TYPE_FP32", "dims": ["6", "84"]}],
        "parameters": {k: {"string_value": v} for k, v in params.items() if v is not None},
    }
    config.update(changes)
    return config


def test_contract_reads_back_from_a_config():
    contract = contract_from_config(_config(), source="m")
    assert contract == ModelContract(
        classes=("a", "b"),
        output_layout="raw",
        imgsz=64,
        kind="pv",
        registry_version=3,
        input_name="images",
        output_name="output0",
        input_dtype="TYPE_FP32",
        max_batch_size=4,
    )
    assert (
        contract_from_config(
            {**_config(), "parameters": contract.parameters() | {"x": {"string_value": "y"}}}, source="m"
        )
        == contract
    )


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (_config(params={"linecheck.classes": None}), "no linecheck.classes parameter"),
        (
            _config(params={"linecheck.classes": None, "linecheck.output_layout": None}),
            "linecheck.classes, linecheck",
        ),
        (_config(params={"linecheck.classes": "a,b"}), "malformed"),
        (_config(params={"linecheck.classes": "[]"}), "expected a JSON list"),
        (_config(params={"linecheck.classes": "[1, 2]"}), "expected a JSON list"),
        (_config(params={"linecheck.imgsz": "big"}), "malformed"),
        (_config(params={"linecheck.output_layout": "xyxy"}), r"output_layout='xyxy'"),
        (_config(input=[]), "0 inputs and 1 outputs"),
        (
            _config(input=[{"name": "images", "dims": ["3", "32", "32"]}]),
            r"dims \[3, 32, 32\].*needs \[3, 64, 64\]",
        ),
        (
            _config(input=[{"name": "images", "data_type": "TYPE_UINT8", "dims": ["3", "64", "64"]}]),
            r"\(TYPE_UINT8\) has dims \[3, 64, 64\].*needs \[64, 64, 3\]",
        ),
        ({"name": "m"}, "not built by `linecheck serve triton`"),
    ],
)
def test_malformed_contracts_are_refused_naming_the_field(config, match):
    with pytest.raises(ModelContractError, match=match) as info:
        contract_from_config(config, source="Triton at x: model 'm'")
    assert "model 'm'" in str(info.value)


@pytest.mark.parametrize(
    ("expected", "problems"),
    [
        ({}, []),
        ({"classes": ["a", "b"], "imgsz": 64, "output_layout": "raw"}, []),
        ({"classes": ["b", "a"]}, ["classes: expected ['b', 'a'], served ['a', 'b']"]),
        (
            {"imgsz": 640, "output_layout": "nms"},
            ["imgsz: expected 640, served 64", "output_layout: expected 'nms', served 'raw'"],
        ),
    ],
)
def test_mismatches_name_expected_and_served(expected, problems):
    assert contract_from_config(_config(), source="m").mismatches(**expected) == problems


TARGET = Target(url="h:1", protocol="grpc", model="m", version="2", timeout_s=1.5)


@pytest.mark.parametrize(
    ("exc", "kind", "match", "transient"),
    [
        (
            InferenceServerException("failed to connect", status="StatusCode.UNAVAILABLE"),
            ServerUnavailableError,
            "h:1",
            True,
        ),
        (ConnectionRefusedError(111, "Connection refused"), ServerUnavailableError, "h:1", True),
        (
            InferenceServerException("Deadline Exceeded", status="StatusCode.DEADLINE_EXCEEDED"),
            InferenceError,
            "1.5 s",
            True,
        ),
        (TimeoutError(), InferenceError, "timed out", True),
        (
            InferenceServerException(
                "Request for unknown model: 'm' is not found", status="StatusCode.NOT_FOUND"
            ),
            ModelNotReadyError,
            "'m' version 2",
            False,
        ),
        (InferenceServerException("unknown model", status="404"), ModelNotReadyError, "'m'", False),
        (
            InferenceServerException("unexpected shape", status="StatusCode.INVALID_ARGUMENT"),
            ModelContractError,
            "unexpected shape",
            False,
        ),
        (InferenceServerException("bad", status="400"), ModelContractError, "rejected", False),
        (
            InferenceServerException("onnx blew up", status="StatusCode.INTERNAL"),
            InferenceError,
            "onnx blew up",
            False,
        ),
    ],
)
def test_transport_errors_are_converted_by_meaning(exc, kind, match, transient):
    error = convert_error(exc, TARGET)
    assert type(error) is kind
    assert match in str(error)
    assert is_transient(error) is transient


def test_settings_read_the_linecheck_triton_env(monkeypatch):
    monkeypatch.setenv("LINECHECK_TRITON_GRPC_PORT", "9101")
    monkeypatch.setenv("LINECHECK_TRITON_PROTOCOL", "http")
    monkeypatch.setenv("LINECHECK_TRITON_HTTP_PORT", "9100")
    monkeypatch.setenv("LINECHECK_TRITON_PREFERRED_BATCH_SIZES", "[2, 4]")
    settings = TritonSettings()
    assert settings.grpc_port == 9101
    assert settings.client_url() == "127.0.0.1:9100"
    assert settings.preferred_batch_sizes == [2, 4]


@pytest.mark.parametrize(
    ("name", "value"), [("GRPC_PORT", "70000"), ("PROTOCOL", "smtp"), ("TIMEOUT_S", "0")]
)
def test_settings_refuse_bad_values_naming_the_field(monkeypatch, name, value):
    from pydantic import ValidationError

    monkeypatch.setenv(f"LINECHECK_TRITON_{name}", value)
    with pytest.raises(ValidationError, match=name.lower()):
        TritonSettings()


def test_batching_defaults_follow_the_flavor_unless_set(monkeypatch):
    from linecheck.serving.triton.repository import RepositoryOptions

    for name in ("MAX_BATCH_SIZE", "PREFERRED_BATCH_SIZES", "INSTANCE_COUNT", "FLAVOR"):
        monkeypatch.delenv(f"LINECHECK_TRITON_{name}", raising=False)
    embedded = RepositoryOptions.from_settings(TritonSettings())
    assert (embedded.max_batch_size, embedded.preferred_batch_sizes, embedded.instance_count) == (
        4,
        (2, 4),
        2,
    )
    gpu = RepositoryOptions.from_settings(TritonSettings(), flavor="gpu")
    assert (gpu.flavor, gpu.max_batch_size, gpu.instance_count) == ("gpu", 32, 1)
    monkeypatch.setenv("LINECHECK_TRITON_MAX_BATCH_SIZE", "16")
    monkeypatch.setenv("LINECHECK_TRITON_INSTANCE_COUNT", "3")
    chosen = RepositoryOptions.from_settings(TritonSettings(), flavor="gpu")
    assert (chosen.max_batch_size, chosen.preferred_batch_sizes, chosen.instance_count) == (
        16,
        (8, 16, 32),
        3,
    )


def test_uint8_frames_contract_reads_back_hwc():
    config = _config(input=[{"name": "images", "data_type": "TYPE_UINT8", "dims": ["64", "64", "3"]}])
    contract = contract_from_config(config, source="m")
    assert contract.takes_frames and contract.item_shape == (64, 64, 3)
    assert not contract_from_config(_config(), source="m").takes_frames
