"""The three ways the pipeline benchmark runs the same model on the same frames.

* :class:`UltralyticsPath` - ``YOLO(weights).predict(frame)`` one frame at a time, as a user would.
* :class:`OnnxRuntimePath` - ONNX Runtime in-process on pre-processed batches: the compute limit.
* :class:`InspectorPath` - linecheck's inspector batching stage (:class:`BatchWorker`) with a
  :class:`TritonDetector` against the embedded Triton server (dynamic batching), end to end:
  letterbox + normalise, gRPC, Triton, decode + NMS + box mapping, one ``InferredFrame`` per frame.

Each ``run(frames)`` returns a :class:`PathRun`: frames, wall seconds, per-frame latencies and
the number of detections (a sanity check that the paths ran the same model).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from bench_model import BenchModel
from cputime import CpuMeter
from timing import LatencySummary

from linecheck.config import LineConfig, ModelRef
from linecheck.inspect.batcher import BatchWorker
from linecheck.inspect.detectors import triton_factories
from linecheck.inspect.messages import CodedFrame, InferredFrame
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.workers import Channel, ChannelClosed
from linecheck.kinds import Kind, make_code
from linecheck.messages import CodeStatus, Frame
from linecheck.model.processing import preprocess

Image = npt.NDArray[np.uint8]
#: The thresholds every path uses (linecheck's defaults; Ultralytics' predict defaults are the same).
CONF, IOU, MAX_DET = 0.25, 0.45, 300


@dataclass(kw_only=True)
class PathRun:
    """One pass of one path over the frames."""

    frames: int
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    detections: int = 0
    cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        """Frames per second over the pass."""
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    @property
    def cpu_ms_per_frame(self) -> float:
        """CPU milliseconds spent per frame (this process plus the server's, where there is one)."""
        return 1000.0 * self.cpu_s / self.frames if self.frames else float("nan")

    def latency(self) -> LatencySummary:
        """Per-frame latency summary."""
        return LatencySummary.of_seconds(self.latencies_s)


class UltralyticsPath:
    """``YOLO(weights.pt).predict(frame, imgsz=...)``, one frame per call, torch on the CPU."""

    name = "ultralytics"

    def __init__(self, model: BenchModel, *, torch_threads: int) -> None:
        import torch

        from linecheck.training.offline import prepare_ultralytics

        prepare_ultralytics()
        from ultralytics import YOLO

        torch.set_num_threads(torch_threads)
        self.imgsz = model.imgsz
        self.yolo = YOLO(str(model.weights), task="detect")

    def _predict(self, image: Image) -> int:
        results: Any = self.yolo.predict(
            image, imgsz=self.imgsz, conf=CONF, iou=IOU, max_det=MAX_DET, device="cpu", verbose=False
        )
        return len(results[0].boxes)

    def warm_up(self, frames: list[Image]) -> None:
        """Load and fuse the model (the first call does it) and run a few frames."""
        for image in frames[:3]:
            self._predict(image)

    def run(self, frames: list[Image]) -> PathRun:
        """Predict every frame in turn."""
        latencies: list[float] = []
        found = 0
        meter = CpuMeter()
        started = time.perf_counter()
        for image in frames:
            t0 = time.perf_counter()
            found += self._predict(image)
            latencies.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - started
        return PathRun(
            frames=len(frames),
            seconds=seconds,
            latencies_s=latencies,
            detections=found,
            cpu_s=sum(meter.read()),
        )


class OnnxRuntimePath:
    """``session.run`` on batches pre-processed before the clock starts: nothing but compute."""

    name = "onnxruntime"

    def __init__(self, model: BenchModel, *, threads: int, batch: int, spinning: bool) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.session = ort.InferenceSession(
            str(model.onnx), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.imgsz = model.imgsz
        self.batch = batch

    def batches(self, frames: list[Image]) -> list[npt.NDArray[np.float32]]:
        """The frames letterboxed and normalised, in batches of ``batch``."""
        return [
            preprocess(frames[i : i + self.batch], self.imgsz)[0] for i in range(0, len(frames), self.batch)
        ]

    def warm_up(self, frames: list[Image]) -> None:
        """First runs allocate ONNX Runtime's buffers."""
        for tensor in self.batches(frames[: self.batch])[:1] * 2:
            self.session.run(None, {self.input_name: tensor})

    def run_batches(self, batches: list[npt.NDArray[np.float32]]) -> PathRun:
        """Run every pre-processed batch; a frame's latency is its batch's run time."""
        latencies: list[float] = []
        frames = 0
        meter = CpuMeter()
        started = time.perf_counter()
        for tensor in batches:
            t0 = time.perf_counter()
            self.session.run(None, {self.input_name: tensor})
            took = time.perf_counter() - t0
            latencies.extend([took] * tensor.shape[0])
            frames += tensor.shape[0]
        seconds = time.perf_counter() - started
        return PathRun(frames=frames, seconds=seconds, latencies_s=latencies, cpu_s=sum(meter.read()))


def bench_line(model: BenchModel) -> LineConfig:
    """A line running ``model`` (its kind decides nothing here but the unit code format)."""
    kind = (
        Kind(model.version.card.kind) if model.version.card.kind in {k.value for k in Kind} else Kind.TEXTILE
    )
    return LineConfig(
        id=f"bench-{kind.value}",
        kind=kind,
        classes=model.classes,
        model=ModelRef(name=model.name, version="production"),
    )


class InspectorPath:
    """Frames through the inspector's batching stage and the Triton client, as the service runs them.

    A feeder thread plays the camera: it wraps each image in a ``Frame`` / ``CodedFrame`` and puts
    it on the batcher's bounded inbox (``queue_size``), blocking when the inbox is full. The
    :class:`BatchWorker` flushes batches of ``max_batch`` (or after ``max_delay_ms``) to a
    :class:`TritonDetector`; this thread collects the ``InferredFrame`` s. A frame's latency runs
    from when it entered the inbox to when its result came out.
    """

    name = "linecheck"

    def __init__(
        self, model: BenchModel, *, grpc_url: str, settings: InspectorSettings, server_pgid: int | None
    ) -> None:
        self.server_pgid = server_pgid
        self.line = bench_line(model)
        self.model_name = model.name
        self.settings = settings
        # The Triton client decodes with TritonSettings' conf / iou / max_det: the same defaults as CONF etc.
        self.factory = triton_factories([self.line], url=grpc_url)[model.name]

    def _feed(
        self,
        frames: list[Image],
        inbox: Channel[CodedFrame],
        stop: threading.Event,
        slots: threading.Semaphore,
        rate_fps: float | None,
    ) -> None:
        code = make_code(self.line.kind, 1)
        start = time.monotonic()
        try:
            for seq, image in enumerate(frames):
                if rate_fps:
                    delay = start + seq / rate_fps - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        return
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                frame = Frame(
                    line_id=self.line.id,
                    station="cam1",
                    seq=seq,
                    captured_at=datetime.now(UTC),
                    image=image,
                    trigger_code=code,
                )
                coded = CodedFrame(
                    frame=frame,
                    line=self.line,
                    code=code,
                    code_status=CodeStatus.TRIGGER,
                    received_at=time.monotonic(),
                )
                if not inbox.put_until(coded, stop):
                    return
        finally:
            inbox.close()

    def warm_up(self, frames: list[Image]) -> None:
        """Connect once and send one batch (Triton's first request allocates the session's buffers)."""
        self.run(frames[: self.settings.max_batch * 2])

    def run(self, frames: list[Image], *, window: int = 0, rate_fps: float | None = None) -> PathRun:
        """Push every frame through the batcher; fails loudly if any frame was not inferred.

        Args:
            frames: the images.
            window: at most this many frames in flight (0: only the inbox bounds them).
            rate_fps: offer frames at this rate, like a camera (None: as fast as they are taken).

        """
        stop = threading.Event()
        slots = threading.Semaphore(window or len(frames) + 1)
        inbox: Channel[CodedFrame] = Channel(f"infer-{self.model_name}", self.settings.queue_size)
        results: Channel[InferredFrame] = Channel("results", len(frames) + 1)
        metrics = InspectorMetrics()
        worker = BatchWorker(
            model_name=self.model_name,
            factory=self.factory,
            inbox=inbox,
            results=results,
            settings=self.settings,
            metrics=metrics,
            stop=stop,
        )
        worker.setup()  # connect before the clock starts, as a running inspector would be
        if worker.detector is None:
            raise RuntimeError(f"inspector path: cannot connect to Triton: {worker.last_error}")
        feeder = threading.Thread(
            target=self._feed, args=(frames, inbox, stop, slots, rate_fps), name="bench-feed", daemon=True
        )
        runner = threading.Thread(target=self._work, args=(worker,), name="bench-batch", daemon=True)
        latencies: list[float] = []
        failures: list[str] = []
        found = 0
        meter = CpuMeter(self.server_pgid)
        started = time.perf_counter()
        feeder.start()
        runner.start()
        try:
            while len(latencies) + len(failures) < len(frames):
                try:
                    item = results.get(timeout=1.0)
                except ChannelClosed:
                    break
                if item is None:
                    continue
                done = time.monotonic()
                slots.release()
                if item.detections is None:
                    failures.append(item.failure or "?")
                    continue
                latencies.append(done - item.coded.received_at)
                found += len(item.detections)
            seconds = time.perf_counter() - started
            own_cpu, server_cpu = meter.read()
        finally:
            stop.set()
            feeder.join(timeout=10)
            runner.join(timeout=30)
        if failures or len(latencies) != len(frames):
            raise RuntimeError(
                f"inspector path: {len(latencies)} of {len(frames)} frames inferred; failures: {failures[:3]}"
            )
        return PathRun(
            frames=len(frames),
            seconds=seconds,
            latencies_s=latencies,
            detections=found,
            cpu_s=own_cpu + server_cpu,
            extra={"batches": worker.batches, "cpu_client_s": own_cpu, "cpu_server_s": server_cpu},
        )

    @staticmethod
    def _work(worker: BatchWorker) -> None:
        try:
            worker.run()
        finally:
            worker.teardown()
