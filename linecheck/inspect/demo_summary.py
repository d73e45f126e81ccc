"""The demo's summary: one JSON document (stable keys, for scripts) and its rich rendering.

Summary JSON (``linecheck demo --summary-json PATH``), schema ``linecheck.demo.summary/1``:

=====================  ==========================================================================
``schema``             ``"linecheck.demo.summary/1"``
``duration_s``         seconds the simulated lines ran
``api_url``            base URL of the API the demo started
``models``             ``{model name: served version}``
``totals``             ``frames``, ``units``, ``frames_per_s``, ``verdicts`` (per frame: pass / fail /
                       not_inspected), ``code_unread``, ``defects``
``latency_ms``         inference call latency ``p50``, ``p99`` and ``samples``
``outbox``             ``pending`` (backlog left, 0 when everything reached the API), ``sent``,
                       ``rejected``
``recall``             ground-truth recall at ``iou`` (0.3): ``overall`` and per line
                       (``recall``, ``truth``, ``found``, per-class, frame outcomes)
``lines``              per line: ``kind``, ``frames``, ``units``, ``verdicts``, ``unit_verdicts``,
                       ``code_unread``, ``defects_per_class``, ``not_inspected_causes``, ``grades``
                       (bearing part outcomes pass / rework / reject / scrap, PV module grades
                       A / B / C) and for textile ``rolls`` (code, metres, points per 100 yd², accepted)
``traces``             a few ``GET /v1/trace/{code}`` look-ups: ``code``, ``line_id``, ``kind``,
                       ``inspections``, ``verdicts``, ``defects`` (class and location), ``model_versions``
``per_model``          lines running several models (a detector and an anomaly model): per line and
                       model ``frames`` inspected, ``defects`` reported, ``frames_failed`` and of those
                       ``good_frames_failed`` (frames drawn without defects: its false rejects) and
                       ``defective_frames_failed``
``outputs``            what the line outputs' peers received: ``broker``, ``sparkplug`` (messages per
                       type) and per line ``opcua`` (``events``, ``rejects``, ``states``, ``last``
                       ResultReady), ``mqtt`` (``results``, ``rejects``, ``duplicates``), ``modbus``
                       (``coil``, ``pulses``) and ``fail_safe_rejects``
``verification``       per line with challenge parts, the API's ``GET /v1/lines/{id}/verification``:
                       ``state`` (verified / due / failed), ``problem``, ``due_at``,
                       ``suspect_since`` and ``parts`` (``code``, ``expect``, ``classes``, ``met``,
                       ``verdict``, ``found_classes``)
``holds``              the open holds on those lines (a missed part with ``auto_hold``): ``id``,
                       ``line_id``, ``cause``, ``since``, ``until``, ``units``, ``held``
=====================  ==========================================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from linecheck.inspect.demo_models import render_rows

SCHEMA = "linecheck.demo.summary/1"


def merge_statuses(statuses: Mapping[str, dict[str, Any]], latencies_ms: Sequence[float]) -> dict[str, Any]:
    """One status (as :meth:`InspectorService.status` returns) from several services' statuses."""
    lines: dict[str, Any] = {}
    models: dict[str, Any] = {}
    outbox: Counter[str] = Counter()
    sender_online = True
    sender_error = None
    elapsed = 0.0
    for status in statuses.values():
        lines.update(status["lines"])
        models.update(status["models"])
        outbox.update(status.get("outbox") or {})
        elapsed = max(elapsed, status["elapsed_s"])
        sender = status.get("sender") or {}
        sender_online = sender_online and bool(sender.get("online"))
        sender_error = sender_error or sender.get("last_error")
    samples = np.asarray(latencies_ms, float)
    return {
        "elapsed_s": elapsed,
        "frames_in": sum(line["frames_in"] for line in lines.values()),
        "latency_ms_p50": float(np.percentile(samples, 50)) if samples.size else None,
        "latency_ms_p99": float(np.percentile(samples, 99)) if samples.size else None,
        "latency_samples": int(samples.size),
        "lines": lines,
        "models": models,
        "outbox": dict(outbox),
        "sender": {"online": sender_online, "last_error": sender_error},
    }


def _line_summary(line: dict[str, Any]) -> dict[str, Any]:
    out = {
        "kind": line["kind"],
        "frames": line["frames_in"],
        "units": line.get("units", 0),
        "verdicts": dict(line.get("verdicts", {})),
        "unit_verdicts": dict(line.get("unit_verdicts", {})),
        "code_unread": line.get("codes", {}).get("code_unread", 0),
        "defects_per_class": dict(sorted(line.get("defects", {}).items())),
        "not_inspected_causes": dict(line.get("not_inspected_causes", {})),
        "grades": dict(line.get("grades", {})),
        "audit_samples": sum((line.get("audit_samples") or {}).values()),
    }
    if "rolls" in line:  # a web kind
        out["rolls"] = line.get("rolls", [])
        out["acceptance_points_per_100yd2"] = line.get("acceptance_points_per_100yd2")
    return out


def build_summary(
    *,
    status: dict[str, Any],
    duration_s: float,
    api_url: str,
    models: Mapping[str, str],
    recall: dict[str, Any],
    traces: list[dict[str, Any]],
    outputs: dict[str, Any] | None = None,
    per_model: dict[str, Any] | None = None,
    verification: dict[str, Any] | None = None,
    holds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The summary document (see the module docstring for its keys)."""
    lines = {lid: _line_summary(line) for lid, line in sorted(status["lines"].items())}
    verdicts: Counter[str] = Counter()
    for line in lines.values():
        verdicts.update(line["verdicts"])
    frames = sum(line["frames"] for line in lines.values())
    outbox = status.get("outbox") or {}
    return {
        "schema": SCHEMA,
        "duration_s": round(duration_s, 2),
        "api_url": api_url,
        "models": dict(models),
        "totals": {
            "frames": frames,
            "units": sum(line["units"] for line in lines.values()),
            "frames_per_s": round(frames / duration_s, 2) if duration_s else 0.0,
            "verdicts": {k: verdicts.get(k, 0) for k in ("pass", "fail", "not_inspected")},
            "code_unread": sum(line["code_unread"] for line in lines.values()),
            "defects": sum(sum(line["defects_per_class"].values()) for line in lines.values()),
        },
        "latency_ms": {
            "p50": _round(status.get("latency_ms_p50")),
            "p99": _round(status.get("latency_ms_p99")),
            "samples": status.get("latency_samples", 0),
        },
        "outbox": {k: int(outbox.get(k, 0)) for k in ("pending", "sent", "rejected")},
        "recall": recall,
        "lines": lines,
        "traces": traces,
        "per_model": per_model or {},
        "outputs": outputs or {},
        "verification": verification or {},
        "holds": holds or [],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summarize_trace(trace: dict[str, Any]) -> dict[str, Any]:
    """The gist of a ``GET /v1/trace/{code}`` answer."""
    inspections = trace.get("inspections", [])
    defects = [
        {"class_name": d["class_name"], "confidence": d["confidence"], "location": d.get("location")}
        for inspection in inspections
        for d in inspection.get("defects", [])
    ]
    unit = trace.get("unit") or {}
    return {
        "code": trace["code"],
        "line_id": unit.get("line_id"),
        "kind": unit.get("kind"),
        "inspections": len(inspections),
        "verdicts": dict(Counter(i["verdict"] for i in inspections)),
        "defects": defects,
        "model_versions": [_model_text(m) for m in trace.get("model_versions", [])],
    }


def _model_text(model: Mapping[str, Any]) -> str:
    """``textile v2``, or a union's own ``textile:2+textile-anomaly:1``."""
    version = str(model["model_version"])
    return version if ":" in version else f"{model['model_name']} v{version}"


def _location_text(location: Mapping[str, Any] | None) -> str:
    if not location:
        return "-"
    if "zone" in location:
        return str(location["zone"])
    if "row" in location:
        return f"cell r{location['row']}c{location['col']}"
    return f"{location.get('along_m', 0):.2f} m along, {location.get('across_m', 0):.2f} m across"


def render_summary(summary: dict[str, Any], console: Console) -> None:
    """Print the summary tables."""
    totals = summary["totals"]
    lat = summary["latency_ms"]
    recall = summary["recall"]["overall"]
    head = (
        f"{totals['units']} units, {totals['frames']} frames in {summary['duration_s']:.0f} s "
        f"({totals['frames_per_s']:.1f} frames/s); "
        f"inference latency p50 {lat['p50']} ms, p99 {lat['p99']} ms; "
        f"outbox backlog {summary['outbox']['pending']}; recall {recall['recall']} "
        f"({recall['found']}/{recall['truth']} defects at IoU >= {summary['recall']['iou']})"
    )
    table = Table(title="Per line", header_style="bold")
    for column in (
        "line",
        "units",
        "frames",
        "pass",
        "fail",
        "not insp.",
        "code unread",
        "audit",
        "recall",
        "defects per class",
    ):
        table.add_column(column)
    for line_id, line in summary["lines"].items():
        v = line["verdicts"]
        r = summary["recall"]["lines"].get(line_id, {}).get("recall")
        table.add_row(
            line_id,
            str(line["units"]),
            str(line["frames"]),
            str(v.get("pass", 0)),
            str(v.get("fail", 0)),
            str(v.get("not_inspected", 0)),
            str(line["code_unread"]),
            str(line.get("audit_samples", 0)),
            "-" if r is None else f"{r:.2f}",
            ", ".join(f"{k} {n}" for k, n in line["defects_per_class"].items()) or "-",
        )
    parts: list[RenderableType] = [head, table]
    rolls = [roll for line in summary["lines"].values() for roll in line.get("rolls", [])]
    if rolls:
        roll_table = Table(title="Rolls (four-point for textile)", header_style="bold")
        for column in ("roll", "metres", "defects", "points", "pts/100yd²", "accepted"):
            roll_table.add_column(column)
        for roll in rolls[-8:]:
            roll_table.add_row(
                roll["code"],
                f"{roll['inspected_m']:.1f}",
                str(roll["defects"]),
                str(roll.get("points", "-")),
                f"{roll['points_per_100yd2']:.1f}" if "points_per_100yd2" in roll else str(roll.get("grade")),
                "yes" if roll["accepted"] else "[red]no[/red]",
            )
        parts.append(roll_table)
    if summary.get("per_model"):
        parts.append(_per_model_table(summary["per_model"]))
    if summary.get("outputs", {}).get("lines"):
        parts.append(_outputs_table(summary["outputs"]))
    if summary.get("verification"):
        parts.append(_verification_table(summary["verification"], summary.get("holds", [])))
    for trace in summary["traces"]:
        defects = (
            "; ".join(f"{d['class_name']} @ {_location_text(d['location'])}" for d in trace["defects"][:4])
            or "no defects"
        )
        more = f" (+{len(trace['defects']) - 4} more)" if len(trace["defects"]) > 4 else ""
        parts.append(
            Panel(
                f"{trace['kind']} on {trace['line_id']}: "
                f"{trace['inspections']} inspection(s) {trace['verdicts']}\n"
                f"{defects}{more}\nmodels: {', '.join(trace['model_versions']) or '-'}",
                title=f"GET /v1/trace/{trace['code']}",
                expand=False,
            )
        )
    console.print(Group(*parts))


def _per_model_table(per_model: dict[str, Any]) -> RenderableType:
    """Each model of a multi-model line: what it reported and which frames it failed."""
    table = Table(title="Per model (the verdict is their union)", header_style="bold")
    for column in ("line", "model", "frames", "defects", "failed", "of them good frames", "defective frames"):
        table.add_column(column)
    for row in render_rows(per_model):
        table.add_row(*row)
    return table


def _outputs_table(outputs: dict[str, Any]) -> RenderableType:
    """What the OPC UA client, the MQTT subscriber and the Modbus reject gate received, per line."""
    table = Table(
        title="Line outputs: what the OPC UA client, the MQTT subscriber and the reject gate received",
        header_style="bold",
    )
    for column in (
        "line",
        "OPC UA ResultReady (rejects)",
        "last result",
        "states",
        "MQTT results (rejects)",
        "Modbus pulses",
        "fail-safe",
    ):
        table.add_column(column)
    for line_id, line in outputs["lines"].items():
        opcua, mqtt, modbus = line["opcua"], line["mqtt"], line["modbus"]
        last = opcua.get("last") or {}
        table.add_row(
            line_id,
            f"{opcua['events']} ({opcua['rejects']})",
            f"{last.get('MeasId', '-')} {last.get('PartId') or ''} {last.get('Verdict', '')}".strip(),
            " > ".join(opcua["states"][-3:]) or "-",
            f"{mqtt['results']} ({mqtt['rejects']})",
            f"coil {modbus['coil']}: {modbus['pulses']}",
            str(line["fail_safe_rejects"]),
        )
    spb = ", ".join(f"{k} {v}" for k, v in sorted(outputs.get("sparkplug", {}).items())) or "none"
    return Group(table, f"MQTT broker: {outputs.get('broker')}; Sparkplug B messages: {spb}")


_STATE_STYLE = {"verified": "green", "due": "yellow", "failed": "bold red"}


def _verification_table(verification: dict[str, Any], holds: Sequence[dict[str, Any]]) -> RenderableType:
    """Each line's error-proofing verification (its challenge parts) and the holds a missed part placed."""
    table = Table(
        title="Error-proofing: challenge parts (GET /v1/lines/{id}/verification)", header_style="bold"
    )
    for column in ("line", "state", "part", "must", "judged", "met"):
        table.add_column(column)
    for line_id, answer in verification.items():
        style = _STATE_STYLE.get(answer["state"], "")
        state = f"[{style}]{answer['state']}[/{style}]" if style else answer["state"]
        for i, part in enumerate(answer["parts"] or [{}]):
            must = f"{part.get('expect', '-')} {', '.join(part.get('classes') or [])}".strip()
            judged = (
                f"{part.get('verdict') or 'not run'} {', '.join(part.get('found_classes') or [])}".strip()
            )
            met = {True: "yes", False: "[bold red]no[/bold red]", None: "-"}[part.get("met")]
            table.add_row(
                line_id if i == 0 else "", state if i == 0 else "", part.get("code", "-"), must, judged, met
            )
    notes: list[RenderableType] = [table]
    for line_id, answer in verification.items():
        if answer.get("problem"):
            notes.append(f"{line_id}: {answer['problem']}")
    for hold in holds:
        notes.append(
            f"[bold]hold {hold['id']}[/bold] on {hold['line_id']} ({hold['cause']}): {hold['held']} of "
            f"{hold['units']} units made since {hold['since']} held (GET /v1/holds/{hold['id']}/units)"
        )
    return Group(*notes)
