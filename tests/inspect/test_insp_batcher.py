"""Channels, batching across lines, deadlines and the fail-safe paths of inference."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from insp_helpers import TableDetector

from linecheck.config import LineConfig
from linecheck.errors import ServerUnavailableError
from linecheck.inspect.batcher import BatchWorker
from linecheck.inspect.messages import CodedFrame, InferredFrame
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.workers import Channel, ChannelClosed
from linecheck.kinds import Kind
from linecheck.messages import CodeStatus, Frame


def test_channel_drains_then_reports_closed() -> None:
    ch: Channel[int] = Channel("t", 4, producers=2)
    assert ch.put(1) and ch.put(2)
    ch.close()
    assert not ch.closed  # one producer left
    ch.close()
    assert [ch.get(0.01), ch.get(0.01)] == [1, 2]
    with pytest.raises(ChannelClosed):
        ch.get(0.01)


def test_channel_put_times_out_when_full() -> None:
    ch: Channel[int] = Channel("t", 1)
    assert ch.put(1, timeout=0.01)
    started = time.monotonic()
    assert not ch.put(2, timeout=0.05)
    assert time.monotonic() - started >= 0.05
    with pytest.raises(ValueError, match="maxsize"):
        Channel("bad", 0)


def _coded(line: LineConfig, seq: int, *, age_s: float = 0.0) -> CodedFrame:
    frame = Frame(
        line_id=line.id,
        station="s",
        seq=seq,
        captured_at=datetime.now(UTC) - timedelta(seconds=age_s),
        image=np.full((32, 32, 3), seq % 255, np.uint8),
    )
    return CodedFrame(
        frame=frame,
        line=line,
        code="BR0000000001",
        code_status=CodeStatus.READ,
        received_at=time.monotonic() - age_s,
    )


def _run(worker: BatchWorker, inbox: Channel[CodedFrame], results: Channel[InferredFrame], n: int):
    worker.start()
    out = []
    while len(out) < n:
        item = results.get(timeout=10)
        assert item is not None, f"only {len(out)} of {n} results arrived"
        out.append(item)
    inbox.close()
    assert worker.join(10)
    return out


def _worker(settings: InspectorSettings, detector: object, inbox, results, metrics=None) -> BatchWorker:
    return BatchWorker(
        model_name="bearing",
        factory=lambda: detector,
        inbox=inbox,
        results=results,
        settings=settings,
        metrics=metrics or InspectorMetrics(),
        stop=threading.Event(),
    )


@pytest.mark.parametrize(
    ("n", "max_batch", "expected_calls"), [(8, 4, [4, 4]), (5, 8, [5]), (7, 3, [3, 3, 1])]
)
def test_frames_from_two_lines_share_batches(
    lines: dict[str, LineConfig],
    settings: InspectorSettings,
    n: int,
    max_batch: int,
    expected_calls: list[int],
) -> None:
    s = settings.model_copy(update={"max_batch": max_batch, "max_delay_ms": 200})
    det = TableDetector(Kind.BEARING)
    inbox: Channel[CodedFrame] = Channel("infer-bearing", 64)
    results: Channel[InferredFrame] = Channel("results", 64)
    other = lines["bearing-01"].model_copy(update={"id": "bearing-02"})
    for i in range(n):  # queued before the worker starts: batches are full up to the remainder
        inbox.put(_coded(lines["bearing-01"] if i % 2 else other, i))
    metrics = InspectorMetrics()
    out = _run(_worker(s, det, inbox, results, metrics), inbox, results, n)
    assert det.calls == expected_calls
    assert sorted(r.coded.frame.seq for r in out) == list(range(n))
    assert {r.coded.line.id for r in out} == {"bearing-01", "bearing-02"}
    assert all(r.failure is None and r.model_version == "7" for r in out)
    assert metrics.total("frames_inferred") == n and len(metrics.latencies) == len(expected_calls)


def test_late_frame_becomes_not_inspected(lines: dict[str, LineConfig], settings: InspectorSettings) -> None:
    s = settings.model_copy(update={"deadline_s": 1.0})
    det = TableDetector(Kind.BEARING)
    inbox: Channel[CodedFrame] = Channel("infer-bearing", 8)
    results: Channel[InferredFrame] = Channel("results", 8)
    inbox.put(_coded(lines["bearing-01"], 0, age_s=5.0))
    inbox.put(_coded(lines["bearing-01"], 1))
    metrics = InspectorMetrics()
    out = {r.coded.frame.seq: r for r in _run(_worker(s, det, inbox, results, metrics), inbox, results, 2)}
    assert out[0].detections is None and "deadline" in (out[0].failure or "")
    assert out[1].detections is not None
    assert metrics.by_key("not_inspected", "bearing-01") == {"deadline": 1}


def test_detector_failure_fails_the_batch_then_recovers(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    broken = threading.Event()
    broken.set()
    det = TableDetector(Kind.BEARING, broken=broken)
    inbox: Channel[CodedFrame] = Channel("infer-bearing", 8)
    results: Channel[InferredFrame] = Channel("results", 8)
    metrics = InspectorMetrics()
    worker = _worker(settings.model_copy(update={"max_batch": 2}), det, inbox, results, metrics)
    worker.start()
    inbox.put(_coded(lines["bearing-01"], 0))
    first = results.get(timeout=10)
    assert (
        first is not None and first.detections is None and "ServerUnavailableError" in (first.failure or "")
    )
    assert det.closed  # a failed detector is closed and rebuilt later
    broken.clear()
    time.sleep(settings.reconnect_min_s * 1.5)
    inbox.put(_coded(lines["bearing-01"], 1))
    second = results.get(timeout=10)
    assert second is not None and second.detections is not None
    inbox.close()
    assert worker.join(10)
    assert metrics.by_key("not_inspected", "bearing-01") == {"error": 1}


def test_detector_that_cannot_connect_fails_frames_until_it_can(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    attempts: list[float] = []
    det = TableDetector(Kind.BEARING)

    def factory() -> TableDetector:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise ServerUnavailableError("test: nobody listening on 127.0.0.1:1")
        return det

    inbox: Channel[CodedFrame] = Channel("infer-bearing", 8)
    results: Channel[InferredFrame] = Channel("results", 64)
    worker = BatchWorker(
        model_name="bearing",
        factory=factory,
        inbox=inbox,
        results=results,
        settings=settings,
        metrics=InspectorMetrics(),
        stop=threading.Event(),
    )
    worker.start()
    outcomes = []
    for seq in range(40):
        inbox.put(_coded(lines["bearing-01"], seq))
        item = results.get(timeout=10)
        assert item is not None
        outcomes.append(item.failure is None)
        if outcomes[-1]:
            break
        time.sleep(0.05)
    inbox.close()
    assert worker.join(10)
    assert outcomes[-1] and not any(outcomes[:-1]) and len(outcomes) >= 2
    assert len(attempts) == 3
    gaps = np.diff(attempts)
    # exponential backoff: no retry before reconnect_min_s, then none before twice that
    assert gaps[0] >= settings.reconnect_min_s * 0.95
    assert gaps[1] >= 2 * settings.reconnect_min_s * 0.95


def test_hung_inference_times_out_as_not_inspected(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    hang = threading.Event()
    hang.set()
    det = TableDetector(Kind.BEARING, hang=hang)
    s = settings.model_copy(update={"infer_timeout_s": 0.3})
    inbox: Channel[CodedFrame] = Channel("infer-bearing", 8)
    results: Channel[InferredFrame] = Channel("results", 8)
    inbox.put(_coded(lines["bearing-01"], 0))
    started = time.monotonic()
    out = _run(_worker(s, det, inbox, results), inbox, results, 1)
    assert time.monotonic() - started < 2.5  # did not wait for the 3 s hang
    assert out[0].detections is None and "timed out" in (out[0].failure or "")


def test_wrong_number_of_results_is_a_failure(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    class Short(TableDetector):
        def detect(self, images):  # type: ignore[no-untyped-def]
            return super().detect(images)[:-1]

    inbox: Channel[CodedFrame] = Channel("infer-bearing", 8)
    results: Channel[InferredFrame] = Channel("results", 8)
    for i in range(2):
        inbox.put(_coded(lines["bearing-01"], i))
    out = _run(
        _worker(settings.model_copy(update={"max_delay_ms": 100}), Short(Kind.BEARING), inbox, results),
        inbox,
        results,
        2,
    )
    assert all(r.detections is None and "1 results for 2 images" in (r.failure or "") for r in out)
