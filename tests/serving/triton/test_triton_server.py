"""Real inference through ONE embedded Triton server (started once per session)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from lc_tiny_model import CLASSES, IMGSZ, REPO_OPTIONS, make_frames, register_tiny

from linecheck.errors import (
    InferenceError,
    InvalidFieldError,
    ModelContractError,
    ModelNotReadyError,
    ServerUnavailableError,
)
from linecheck.model.detector import Detector
from linecheck.serving.triton.client import TritonDetector
from linecheck.serving.triton.embedded import free_port
from linecheck.serving.triton.onnx_detector import OnnxDetector
from linecheck.serving.triton.repository import add_model_version
from linecheck.serving.triton.transport import Target, Transport

pytestmark = pytest.mark.triton


def _assert_same(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
        np.testing.assert_array_equal(a.class_id, b.class_id)
        assert a.class_names == b.class_names


@pytest.fixture(scope="module", params=["grpc", "http"])
def protocol(request):
    return request.param


def _url(server, protocol):
    return server.grpc_url if protocol == "grpc" else server.http_url


def test_server_is_ready_and_serves_the_linecheck_contract(triton_server, protocol):
    assert triton_server.is_ready()
    for model, layout in (("textile", "raw"), ("bearing", "nms")):
        assert triton_server.model_ready(model, 1)
        with TritonDetector(model, url=_url(triton_server, protocol), protocol=protocol) as det:
            assert isinstance(det, Detector)
            assert det.class_names == tuple(CLASSES)
            assert det.contract.output_layout == layout
            assert det.contract.imgsz == IMGSZ
            assert det.contract.max_batch_size == 8
            assert det.model_version == "1"


@pytest.mark.parametrize("model", ["textile", "bearing"])
def test_triton_results_equal_in_process_onnx_runtime(triton_server, registry, frames, protocol, model):
    reference = OnnxDetector.from_registry(registry.get(model)).detect(frames)
    assert sum(len(d) for d in reference) >= 5, "the comparison must be on non-empty outputs"
    with TritonDetector(model, url=_url(triton_server, protocol), protocol=protocol) as det:
        _assert_same(det.detect(frames), reference)


def test_more_frames_than_max_batch_size_are_split_and_kept_in_order(triton_server, registry):
    many = make_frames(19, seed=11)
    reference = OnnxDetector.from_registry(registry.get("textile")).detect(many)
    with TritonDetector("textile", url=triton_server.grpc_url) as det:
        _assert_same(det.detect(many), reference)


def _execution_counts(server, model):
    stats = httpx.get(f"http://{server.http_url}/v2/models/{model}/stats").json()["model_stats"][0]
    return int(stats["inference_count"]), int(stats["execution_count"])


@pytest.mark.parametrize("model", ["textile", "bearing"])
def test_concurrent_single_frame_requests_each_get_their_own_detections(triton_server, registry, model):
    """Dynamic batching merges requests; every frame must still get its own (not the first frame's) boxes."""
    frames = make_frames(8, seed=21)
    reference = OnnxDetector.from_registry(registry.get(model)).detect(frames)
    assert len({len(d) for d in reference}) > 1, "frames should differ in what they show"
    inferences_before, executions_before = _execution_counts(triton_server, model)
    with TritonDetector(model, url=triton_server.grpc_url) as det:
        barrier = threading.Barrier(len(frames))

        def one(frame):
            barrier.wait()
            return det.detect([frame])[0]

        with ThreadPoolExecutor(len(frames)) as pool:
            got = list(pool.map(one, frames))
    _assert_same(got, reference)
    inferences, executions = _execution_counts(triton_server, model)
    assert inferences - inferences_before == len(frames)
    assert executions - executions_before < len(frames), "Triton should have batched some requests together"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"expected_classes": ["hole", "stain", "knot", "broken_yarn"]}, "classes: expected"),
        ({"expected_classes": ["crack"]}, "classes: expected"),
        ({"expected_imgsz": 640}, "imgsz: expected 640, served 320"),
        ({"expected_layout": "nms"}, "output_layout: expected 'nms', served 'raw'"),
    ],
)
def test_client_refuses_a_served_contract_it_was_not_built_for(triton_server, kwargs, match):
    with pytest.raises(ModelContractError, match=match):
        TritonDetector("textile", url=triton_server.grpc_url, **kwargs)


def test_client_accepts_the_matching_contract(triton_server):
    det = TritonDetector(
        "textile",
        url=triton_server.grpc_url,
        expected_classes=CLASSES,
        expected_imgsz=IMGSZ,
        expected_layout="raw",
    )
    det.close()


@pytest.mark.parametrize(("model", "version"), [("no-such-model", ""), ("textile", "7")])
def test_missing_model_or_version_is_model_not_ready(triton_server, protocol, model, version):
    with pytest.raises(ModelNotReadyError, match=f"{model}.*version {version or '.served.'}"):
        TritonDetector(model, url=_url(triton_server, protocol), protocol=protocol, version=version)


def test_server_down_is_server_unavailable_naming_the_url(protocol):
    url = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ServerUnavailableError, match=url):
        TritonDetector("textile", url=url, protocol=protocol, ready_timeout_s=0.5)
    assert time.monotonic() - started < 5, "readiness wait must be bounded"


def test_wrong_input_is_refused_by_client_and_by_server(triton_server):
    with TritonDetector("textile", url=triton_server.grpc_url) as det:
        with pytest.raises(ModelContractError, match=r"\(1, 3, 640, 640\).*uint8 \(N, 320, 320, 3\)"):
            det.infer(np.zeros((1, 3, 640, 640), np.float32))
        with pytest.raises(ModelContractError, match=r"\(float32\).*uint8"):
            det.infer(np.zeros((1, 320, 320, 3), np.float32))
        with pytest.raises(InvalidFieldError, match=r"images\[0\]"):
            det.detect([np.zeros((32, 32), np.uint8)])
    # Bypassing the client's check, the server's rejection arrives as the same error type.
    transport = Transport(Target(url=triton_server.grpc_url, protocol="grpc", model="textile"))
    with pytest.raises(ModelContractError, match="unexpected shape for input 'images'"):
        transport.infer("images", np.zeros((1, 640, 640, 3), np.uint8), "output0", "TYPE_UINT8")
    transport.close()


def test_request_timeout_is_an_inference_error_after_bounded_retries(triton_server):
    with TritonDetector(
        "textile", url=triton_server.grpc_url, timeout_s=0.0005, retries=2, retry_backoff_s=0.01
    ) as det:
        started = time.monotonic()
        with pytest.raises(InferenceError, match=r"timed out after 0\.0005 s"):
            det.detect(make_frames(8, seed=3))
        assert time.monotonic() - started < 5


def test_metrics_endpoint_counts_successful_requests(triton_server, frames):
    with TritonDetector("bearing", url=triton_server.grpc_url) as det:
        det.detect(frames[:2])
    text = httpx.get(triton_server.metrics_url).text
    line = next(
        ln for ln in text.splitlines() if ln.startswith('nv_inference_request_success{model="bearing"')
    )
    assert float(line.rsplit(" ", 1)[1]) >= 1


def test_new_version_swaps_in_while_requests_are_in_flight(triton_server, triton_repository, registry):
    """Promote v(N+1) of pv, write it into the repository and load it: no request may fail."""
    frames = make_frames(4, seed=31)
    before = registry.resolve("pv", "production")
    new = register_tiny(registry, "pv", layout="raw", kind="pv")
    assert new.card.version == before + 1
    seen: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    with TritonDetector("pv", url=triton_server.grpc_url, expected_classes=CLASSES) as det:

        def hammer():
            while not stop.is_set():
                try:
                    det.detect(frames)
                    seen.append(det.model_version)
                except BaseException as exc:  # collected and asserted below
                    errors.append(exc)

        workers = [threading.Thread(target=hammer) for _ in range(3)]
        for w in workers:
            w.start()
        time.sleep(0.5)
        add_model_version(triton_repository, registry.get("pv", "production"), REPO_OPTIONS)
        triton_server.load("pv")
        deadline = time.monotonic() + 20
        while det.model_version != str(new.card.version) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        stop.set()
        for w in workers:
            w.join()
    assert errors == []
    assert str(before) in seen and str(new.card.version) in seen
    assert triton_server.model_ready("pv", new.card.version)
    assert not triton_server.model_ready("pv", before), "the version policy serves only the promoted version"


def test_unloaded_model_is_not_ready_and_reloads(triton_server, frames):
    triton_server.unload("pv")
    try:
        deadline = time.monotonic() + 10
        while triton_server.model_ready("pv") and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(ModelNotReadyError, match="'pv'"):
            TritonDetector("pv", url=triton_server.grpc_url)
    finally:
        triton_server.load("pv")
    with TritonDetector("pv", url=triton_server.grpc_url) as det:
        assert len(det.detect(frames)) == len(frames)
