"""`linecheck demo`: the whole system end to end on one machine.

Starts embedded Triton with the starter models and the API on a fresh SQLite database, runs the
textile, bearing and PV lines as simulated lines (one inspector per line, each with its own
line key and outbox, as on a real shop floor) for ``duration_s``, drains everything to the API,
prints a summary (and writes it as JSON) with a few trace look-ups, then either exits or keeps
the API and Triton up until Ctrl-C.

The textile line also runs an anomaly model next to its detector (``anomaly=False`` leaves it
out), and the PV line a cell classifier on every cell of a module (``cells=False`` leaves it out):
each trained at the first start from the simulated line's own frames and kept in the workdir
(:mod:`linecheck.inspect.demo_anomaly`, :mod:`linecheck.inspect.demo_cells`); all are served by
Triton, a line's verdict is the union of its models, and the summary counts each model's defects
and failed frames. The bearing line runs challenge parts (a red rabbit, a master ring) as a plant
verifies its error-proofing, and the summary gives the API's verification and holds
(:mod:`linecheck.inspect.demo_verification`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live

from linecheck.config import LineConfig, get_path_settings, load_lines
from linecheck.errors import ConfigError
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.demo_anomaly import GOOD_FRAMES, ensure_anomaly_model, with_anomaly_model, write_lines
from linecheck.inspect.demo_cells import FRAMES, ensure_cell_classifier, with_cell_classifier
from linecheck.inspect.demo_models import ModelTally
from linecheck.inspect.demo_outputs import DemoOutputs
from linecheck.inspect.demo_stack import DemoStack, line_models
from linecheck.inspect.demo_summary import build_summary, merge_statuses, render_summary, summarize_trace
from linecheck.inspect.demo_verification import challenge_query, verification_summary, with_challenge_parts
from linecheck.inspect.detectors import triton_factories
from linecheck.inspect.messages import InferredFrame, InspectionResult
from linecheck.inspect.scoring import RecallTracker
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import get_inspector_settings
from linecheck.inspect.status_view import status_view
from linecheck.messages import Verdict
from linecheck.stop_signals import interrupt_on_stop_signals

log = logging.getLogger(__name__)

DEMO_LINES = ("textile-01", "bearing-01", "pv-01")


def _default_workdir() -> Path:
    return get_path_settings().data_dir / "demo"


@dataclass(kw_only=True)
class DemoOptions:
    """How the demo runs.

    Attributes:
        duration_s: how long the simulated lines run.
        exit_after: stop everything after the summary instead of keeping the API up.
        summary_json: where to write the summary document (None: do not write it).
        host, port: where the API listens.
        seed: synthetic line seed.
        rate_scale: multiplies every camera's frame rate from the line configs.
        unreadable_every: every N-th bearing / PV unit gets an unreadable code (0: never).
        workdir: database, images, outboxes, Triton repository and logs (``var/demo``).
        registry_root: the model registry holding the starter models.
        lines_dir: line configs.
        line_ids: lines to simulate.
        anomaly: run an anomaly model next to the detector of each textile line.
        cells: run a cell classifier on every cell of each PV line's modules.

    """

    duration_s: float = 60.0
    exit_after: bool = False
    summary_json: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 1
    rate_scale: float = 1.0
    unreadable_every: int = 15
    workdir: Path = field(default_factory=_default_workdir)
    registry_root: Path = field(default_factory=lambda: get_path_settings().models_dir)
    lines_dir: Path = field(default_factory=lambda: get_path_settings().lines_dir)
    line_ids: Sequence[str] = DEMO_LINES
    anomaly: bool = True
    cells: bool = True


def synth_uri(line: LineConfig, *, seed: int, rate_scale: float, unreadable_every: int) -> str:
    """The simulated camera of ``line`` at its configured rate times ``rate_scale``."""
    rate = line.cameras[0].fps * rate_scale
    uri = f"synth://{line.kind}?seed={seed}&rate={rate:g}"
    if unreadable_every and line.code_source == "frame":
        uri += f"&unreadable={unreadable_every}"
    return uri + challenge_query(line)


class TracePicker:
    """Remembers, per line, a unit worth tracing afterwards (a failed one if there is any)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failed: dict[str, str] = {}
        self.any: dict[str, str] = {}

    def observe(self, result: InspectionResult, inferred: InferredFrame) -> None:
        """Service observer."""
        if result.code is None:
            return
        with self._lock:
            self.any.setdefault(result.line_id, result.code)
            if result.verdict is Verdict.FAIL:
                self.failed.setdefault(result.line_id, result.code)

    def codes(self, line_ids: Sequence[str]) -> list[str]:
        """One code per line, failed units first."""
        with self._lock:
            return [c for lid in line_ids if (c := self.failed.get(lid) or self.any.get(lid))]


#: The share of passed units the demo keeps for audit (/review/audit): enough to see some in a minute; a
#: plant keeps far fewer (a reviewer audits them all; see the README's pass audits).
DEMO_PASS_SAMPLE = 0.05


def with_pass_audit(line: LineConfig) -> LineConfig:
    """``line`` keeping :data:`DEMO_PASS_SAMPLE` of its passed units for audit, unless its YAML says."""
    if line.audit is not None:
        return line
    return LineConfig.model_validate(
        {**line.model_dump(mode="json"), "audit": {"pass_sample": DEMO_PASS_SAMPLE}}
    )


class Demo:
    """One demo run (see the module docstring)."""

    def __init__(self, options: DemoOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console(highlight=False)
        all_lines = load_lines(options.lines_dir)
        unknown = [lid for lid in options.line_ids if lid not in all_lines]
        if unknown:
            raise ConfigError(f"demo line(s) {unknown} not in {options.lines_dir}; have {sorted(all_lines)}")
        if options.duration_s <= 0:
            raise ConfigError(f"--duration {options.duration_s}: expected a positive number of seconds")
        if options.rate_scale <= 0:
            raise ConfigError(f"--rate-scale {options.rate_scale}: expected a positive factor")
        self.lines = [all_lines[lid] for lid in options.line_ids]
        self.tracker = RecallTracker()
        self.picker = TracePicker()
        self.tally = ModelTally({})
        self.services: dict[str, InspectorService] = {}
        self.summary: dict[str, Any] | None = None
        self.outputs: DemoOutputs | None = None

    def _services(self, stack: DemoStack) -> dict[str, InspectorService]:
        base = get_inspector_settings()
        services = {}
        for configured in self.lines:
            line = self.outputs.line(configured) if self.outputs else configured
            settings = base.model_copy(
                update={
                    "inspector_dir": self.options.workdir / "inspector" / line.id,
                    "api_url": stack.api_url,
                    "api_key": stack.line_keys[line.id],
                    "metrics_port": 0,
                    **(self.outputs.settings(line) if self.outputs else {}),
                }
            )
            uri = synth_uri(
                line,
                seed=self.options.seed,
                rate_scale=self.options.rate_scale,
                unreadable_every=self.options.unreadable_every,
            )
            services[line.id] = InspectorService(
                [line],
                detectors=triton_factories(
                    [line], url=stack.triton_url, timeout_s=settings.infer_timeout_s * 0.8
                ),
                settings=settings,
                client=ApiClient(stack.api_url, stack.line_keys[line.id], timeout_s=settings.api_timeout_s),
                sources=[SourceSpec(line_id=line.id, station=line.cameras[0].station, uri=uri)],
                observers=[self.tracker.observe, self.picker.observe, self.tally.observe],
            )
        return services

    def status(self) -> dict[str, Any]:
        """The lines' combined live status."""
        samples: list[float] = []
        for service in self.services.values():
            samples.extend(service.metrics.latencies.samples())
        return merge_statuses({lid: s.status() for lid, s in self.services.items()}, samples)

    def _run_lines(self) -> float:
        """Run every line for the duration with a live status; returns how long they ran."""
        starting = [threading.Thread(target=s.start, name=f"start-{lid}") for lid, s in self.services.items()]
        for thread in starting:  # each inspector's OPC UA server takes a few seconds to build
            thread.start()
        for thread in starting:
            thread.join()
        if self.outputs is not None:
            self.outputs.watch()
        started = time.monotonic()
        with Live(status_view(self.status()), console=self.console, refresh_per_second=2) as live:
            while time.monotonic() - started < self.options.duration_s:
                time.sleep(0.5)
                live.update(status_view(self.status()))
            ran = time.monotonic() - started
            self.console.print(
                "[dim]lines stopped; finishing the frames already read and sending the backlog…[/dim]"
            )
            for service in self.services.values():
                service.drain(120.0)
            for service in self.services.values():
                service.wait_delivered(60.0)
            live.update(status_view(self.status()))
        return ran

    def _traces(self, stack: DemoStack) -> list[dict[str, Any]]:
        out = []
        headers = {"Authorization": f"Bearer {stack.viewer_key}"}
        for code in self.picker.codes([line.id for line in self.lines]):
            try:
                response = httpx.get(f"{stack.api_url}/v1/trace/{code}", headers=headers, timeout=10.0)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("trace look-up of %s failed: %s", code, exc)
                continue
            out.append({**summarize_trace(response.json()), "url": f"{stack.api_url}/v1/trace/{code}"})
        return out

    def _with_trained_models(self) -> tuple[Path, list[Path]]:
        """Textile lines get the anomaly model, PV lines the cell classifier (trained at the first start).

        Every line keeps :data:`DEMO_PASS_SAMPLE` of its passed units for audit (unless its YAML says), and
        the bearing line gets challenge parts (:mod:`linecheck.inspect.demo_verification`).

        Returns the lines folder the API syncs and the extra registries.
        """
        opts = self.options
        registries: list[Path] = []
        plans = (
            ("textile", opts.anomaly, "anomaly model for the textile line", f"{GOOD_FRAMES} good frames",
             ensure_anomaly_model, with_anomaly_model),
            ("pv", opts.cells, "cell classifier for the PV line", f"the cells of {FRAMES} module frames",
             ensure_cell_classifier, with_cell_classifier),
        )  # fmt: skip
        self.lines = [with_challenge_parts(with_pass_audit(line)) for line in self.lines]
        for kind, wanted, what, source, ensure, extend in plans:
            lines = [line for line in self.lines if line.kind == kind]
            if not wanted or not lines:
                continue
            started = time.monotonic()
            self.console.print(f"{what}: ", end="")
            registry, trained = ensure(lines[0], opts.workdir, seed=opts.seed, lines_dir=opts.lines_dir)
            self.console.print(
                f"trained on {source} of the simulated line in {time.monotonic() - started:.0f} s"
                if trained
                else f"reusing the one trained earlier ({registry.parent})"
            )
            self.lines = [extend(line) if line.kind == kind else line for line in self.lines]
            registries.append(registry)
        lines_dir = opts.workdir / "lines"
        write_lines(self.lines, opts.lines_dir, lines_dir)
        return lines_dir, registries

    def run(self) -> dict[str, Any]:
        """Run the demo; returns the summary document."""
        opts = self.options
        c = self.console
        c.print(f"[bold]linecheck demo[/bold]: {', '.join(opts.line_ids)} for {opts.duration_s:g} s")
        t0 = time.monotonic()
        lines_dir, extra_registries = self._with_trained_models()
        stack = DemoStack(
            lines=self.lines,
            workdir=opts.workdir,
            registry_root=opts.registry_root,
            lines_dir=lines_dir,
            extra_registries=extra_registries,
            host=opts.host,
            port=opts.port,
        )
        restore_signals = interrupt_on_stop_signals()  # Ctrl-C or `kill`: a clean stop
        try:
            c.print("starting embedded Triton with the starter models and the API on SQLite…")
            stack.start()
            c.print(
                f"Triton {stack.triton_url} serving {stack.models} ({time.monotonic() - t0:.0f} s); "
                f"API {stack.api_url}"
            )
            self.tally = ModelTally(
                {
                    line.id: [(ref.name, stack.model_classes[ref.name]) for ref in line_models(line)]
                    for line in self.lines
                }
            )
            self.outputs = DemoOutputs(self.lines, opts.workdir, get_inspector_settings())
            self.outputs.start()
            c.print(
                f"line outputs: OPC UA servers {', '.join(self.outputs.endpoints.values())}; "
                f"MQTT {self.outputs.broker_note}; Modbus reject gates on 127.0.0.1:"
                f"{self.outputs.gate.port if self.outputs.gate else '-'}"
            )
            self.services = self._services(stack)
            try:
                ran = self._run_lines()
            finally:
                final = self.status()
                self.outputs.stop_clients()
                for service in self.services.values():
                    service.stop(drain_timeout_s=30.0, deliver_timeout_s=5.0)
                statuses = {lid: s.status() for lid, s in self.services.items()}
                self.outputs.stop()
            verification, holds = verification_summary(stack.api_url, stack.viewer_key, self.lines)
            self.summary = build_summary(
                status=final,
                duration_s=ran,
                api_url=stack.api_url,
                models=stack.models,
                recall=self.tracker.summary(),
                traces=self._traces(stack),
                outputs=self.outputs.summary(statuses),
                per_model=self.tally.summary(),
                verification=verification,
                holds=holds,
            )
            c.print()
            render_summary(self.summary, c)
            if opts.summary_json is not None:
                opts.summary_json.parent.mkdir(parents=True, exist_ok=True)
                opts.summary_json.write_text(_json(self.summary), encoding="utf-8")
                c.print(f"summary written to {opts.summary_json}")
            c.print(f"demo took {time.monotonic() - t0:.0f} s")
            if not opts.exit_after:
                self._serve_until_interrupted(stack)
        except KeyboardInterrupt:
            c.print("interrupted")
        finally:
            restore_signals()
            if self.outputs is not None:
                self.outputs.stop()
            stack.close()
        return self.summary or {}

    def _serve_until_interrupted(self, stack: DemoStack) -> None:
        code = next((t["code"] for t in (self.summary or {}).get("traces", [])), "<code>")
        self.console.print(
            f"\nThe API is still running: [bold]{stack.api_url}/docs[/bold]\n"
            f"  trace a unit:  curl -H 'Authorization: Bearer {stack.viewer_key}' "
            f"{stack.api_url}/v1/trace/{code}\n"
            f"  QA review:     {stack.api_url}/review  (reviewer key: {stack.reviewer_key})\n"
            f"  pass audits:   {stack.api_url}/review/audit  (the passed frames kept for audit)\n"
            f"  Triton gRPC:   {stack.triton_url}\n"
            "Press Ctrl-C to stop."
        )
        while True:
            time.sleep(3600)


def _json(summary: dict[str, Any]) -> str:
    import json

    return json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n"
