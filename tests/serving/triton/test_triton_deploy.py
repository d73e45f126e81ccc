"""Deployment files that cannot run here (no GPU, no docker): checked for the fields that matter."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from linecheck.cli.serve_triton import TRITON_IMAGE

ROOT = Path(__file__).resolve().parents[3]


def test_dockerfile_has_serve_and_train_targets_from_nvidia_images():
    text = (ROOT / "Dockerfile.cuda").read_text()
    stages = dict(re.findall(r"^FROM (\S+) AS (\w+)$", text, flags=re.M))
    assert set(stages.values()) >= {"serve", "train"}
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.M))
    assert args["TRITON_IMAGE"] == TRITON_IMAGE
    assert args["PYTORCH_IMAGE"].startswith("nvcr.io/nvidia/pytorch:")
    assert "--flavor gpu" in text and "--model-control-mode=explicit" in text
    assert "/v2/health/ready" in text


def test_k8s_sketch_requests_a_gpu_probes_readiness_and_exposes_metrics():
    docs = {
        (d["kind"], d["metadata"]["name"]): d
        for d in yaml.safe_load_all((ROOT / "deploy/k8s/triton.yaml").read_text())
    }
    pod = docs[("Deployment", "triton")]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert "--model-control-mode=explicit" in container["args"]
    assert {p["containerPort"] for p in container["ports"]} == {8000, 8001, 8002}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "8002"
    assert any(v.get("persistentVolumeClaim") for v in pod["spec"]["volumes"])
    service_ports = {p["name"]: p["port"] for p in docs[("Service", "triton")]["spec"]["ports"]}
    assert service_ports == {"grpc": 8001, "http": 8000, "metrics": 8002}
