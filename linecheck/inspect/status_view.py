"""Rich renderings of an inspector's status: the live status line and the per-line table."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from linecheck.inspect.alarm_watch import alarm_text
from linecheck.inspect.clock import describe


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def unit_text(line: dict[str, Any]) -> Text:
    """The unit-level part of a line's status (web kinds: the running roll score)."""
    roll = line.get("current_roll")
    if "current_roll" in line:  # a web kind: units are rolls
        if not roll:
            return Text("no roll in progress", style="dim")
        ok = roll["accepted"]
        limit = line.get("acceptance_points_per_100yd2")
        if roll.get("points_per_100yd2") is None or limit is None:
            return Text.assemble(
                f"roll {roll['code']} {roll['inspected_m']:.1f} m ",
                (str(roll.get("grade") or "-"), "green" if ok else "bold red"),
            )
        return Text.assemble(
            f"roll {roll['code']} {roll['inspected_m']:.1f} m ",
            (f"{roll['points_per_100yd2']:.1f}", "green" if ok else "bold red"),
            f" pts/100yd² (limit {limit:g})",
        )
    grades = line.get("grades") or {}
    detail = (
        ", ".join(f"{k} {v}" for k, v in grades.items())
        or f"{line.get('unit_verdicts', {}).get('fail', 0)} failed"
    )
    return Text(f"{line.get('units', 0)} units ({detail})")


def not_inspected_text(line: dict[str, Any]) -> Text:
    """Frames not inspected, the checks a camera's refusals failed (a lamp, a lens), and drifting cameras."""
    count = line.get("verdicts", {}).get("not_inspected", 0)
    text = Text(str(count), style="yellow" if count else "")
    refused = {
        station: failed
        for station, camera in (line.get("cameras") or {}).items()
        if (failed := camera.get("frame_checks_failed"))
    }
    if refused:
        checks = sorted({check for failed in refused.values() for check in failed})
        text.append(f" ({', '.join(refused)}: {', '.join(checks)})", style="bold red")
    drifting = [
        f"{station} {measure} {100 * float(drift['change']):+.0f} %"
        for station, camera in (line.get("cameras") or {}).items()
        for measure, drift in (camera.get("drift") or {}).items()
        if drift.get("drifting")
    ]
    if drifting:  # an early warning: the frames are still judged
        text.append(f" drifting: {', '.join(drifting)}", style="yellow")
    return text


def challenge_text(line: dict[str, Any]) -> Text:
    """The line's challenge parts seen: a red rabbit missed is the first thing an operator must see."""
    runs = line.get("challenge_parts") or {}
    missed = sorted(code for code, run in runs.items() if not run.get("met"))
    state = (line.get("verification") or {}).get("state")
    if missed:
        return Text(f"CHALLENGE PART MISSED: {', '.join(missed)}", style="bold red")
    if state == "failed":
        return Text("VERIFICATION FAILED", style="bold red")
    if state == "due":
        return Text("verification due: run the challenge parts", style="bold yellow")
    if state == "verified":
        return Text("verified", style="green")
    return Text(f"{len(runs)} challenge part(s) met", style="green") if runs else Text("")


def alarms_text(line: dict[str, Any]) -> Text:
    """The line's newest run alarm shown (red while unacknowledged, yellow once acknowledged)."""
    alarms = line.get("alarms")
    text = alarm_text(alarms)
    if not text:
        return Text("")
    return Text(text, style="bold red" if (alarms or {}).get("unacknowledged") else "yellow")


def lines_table(status: dict[str, Any]) -> Table:
    """One row per line: frames, verdicts, codes, unit state."""
    elapsed = status.get("elapsed_s") or 0.0
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in ("line", "frames", "fps", "pass", "fail", "not insp.", "code unread", "units"):
        table.add_column(column, justify="left" if column in ("line", "units") else "right")
    for line_id, line in status.get("lines", {}).items():
        verdicts = line.get("verdicts", {})
        fps = line["frames_in"] / elapsed if elapsed else 0.0
        waiting = line.get("waiting_files", 0)
        frames = Text(str(line["frames_in"]))
        if waiting:  # images still in a hot folder: a growing count is a line falling behind
            frames.append(f" +{waiting} waiting", style="yellow")
        name = Text(line_id)
        if line.get("product"):  # the product (recipe) the line is on: what a changeover set
            name.append(f" {line['product']}", style="cyan")
        table.add_row(
            name,
            frames,
            f"{fps:.1f}",
            Text(str(verdicts.get("pass", 0)), style="green"),
            Text(str(verdicts.get("fail", 0)), style="red" if verdicts.get("fail") else ""),
            not_inspected_text(line),
            str(line.get("codes", {}).get("code_unread", 0)),
            Text.assemble(unit_text(line), " ", challenge_text(line), " ", alarms_text(line)),
        )
    return table


def footer(status: dict[str, Any]) -> Text:
    """Latency, detector state, outbox backlog and API link in one line."""
    parts: list[Text | str] = [
        f"inference p50 {_ms(status.get('latency_ms_p50'))} p99 {_ms(status.get('latency_ms_p99'))}  ",
    ]
    styles = {"up": "green", "down": "bold red", "stopped": "dim"}
    for name, model in status.get("models", {}).items():
        state = model.get("state", "up" if model.get("connected") else "down")
        parts.append(Text(f"{name}:{state} ", style=styles.get(state, "")))
    outbox = status.get("outbox") or {}
    parts.append(f" outbox pending {outbox.get('pending', 0)} sent {outbox.get('sent', 0)}")
    if outbox.get("rejected"):
        parts.append(Text(f" rejected {outbox['rejected']}", style="bold red"))
    sender = status.get("sender")
    if sender is not None:
        if sender.get("online"):
            parts.append(Text("  API online", style="green"))
        elif sender.get("last_error"):
            parts.append(Text("  API offline (buffering in the outbox)", style="yellow"))
        else:
            parts.append(Text("  API not contacted yet", style="dim"))
        clock = sender.get("clock") or {}
        if clock.get("skewed"):
            warning = f"  clock {describe(clock['offset_s'])}: fix its time service"
            parts.append(Text(warning, style="bold red"))
    return Text.assemble(*parts)


def status_view(status: dict[str, Any]) -> RenderableType:
    """The live status block: the lines table and the footer."""
    return Group(lines_table(status), footer(status))
