"""What a ``--line`` argument names: a line id from ``configs/lines`` or a bare kind.

A line id gives the registry model the line runs (``model.name`` in its YAML), its classes
and its per-class thresholds. A kind gives the model named after the kind, the kind's
canonical classes and the thresholds of the first line of that kind that runs this model
(else the line defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linecheck.config import LineConfig, get_path_settings, load_lines
from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.kinds import get_kind, kind_names

_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"


@dataclass(frozen=True, kw_only=True)
class Target:
    """The registry model a training / evaluation run is for.

    Attributes:
        name: registry model name (``models/<name>/``).
        kind: line kind.
        classes: class names in class-id order.
        thresholds: per-class confidence thresholds used for unit-level metrics.
        line_id: the line whose config supplied the thresholds (``None`` for kind defaults).

    """

    name: str
    kind: str
    classes: tuple[str, ...]
    thresholds: dict[str, float]
    line_id: str | None


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a valid registry model name (lower-case letters, digits, ``_ -``)."""
    if not name or name[0] in "_-" or any(c not in _NAME_CHARS for c in name) or len(name) > 64:
        raise InvalidFieldError(
            "name", name, "expected 1-64 characters of a-z, 0-9, '_' or '-', not first '_'/'-'"
        )
    return name


def _lines(lines_dir: Path | None) -> dict[str, LineConfig]:
    directory = lines_dir or get_path_settings().lines_dir
    return load_lines(directory) if directory.is_dir() else {}


def _from_line(line: LineConfig, name: str | None) -> Target:
    model_name = check_model_name(name or (line.model.name if line.model else line.kind))
    return Target(
        name=model_name,
        kind=line.kind,
        classes=tuple(line.classes),
        thresholds={c: line.threshold(c) for c in line.classes},
        line_id=line.id,
    )


def resolve_target(line_or_kind: str, *, name: str | None = None, lines_dir: Path | None = None) -> Target:
    """Resolve ``--line`` (a line id or a kind) and an optional registry ``name`` override."""
    lines = _lines(lines_dir)
    if line_or_kind in lines:
        return _from_line(lines[line_or_kind], name)
    if line_or_kind not in kind_names():
        known = sorted(lines) + kind_names()
        raise InvalidFieldError("line", line_or_kind, f"expected a line id or a kind: {known}")
    spec = get_kind(line_or_kind)
    kind = spec.name
    model_name = check_model_name(name or kind)
    for line in lines.values():
        if line.kind == kind and line.model is not None and line.model.name == model_name:
            return _from_line(line, model_name)
    defaults = LineConfig(id=f"{kind}-defaults", kind=kind)
    return Target(
        name=model_name,
        kind=kind,
        classes=spec.classes,
        thresholds={c: defaults.threshold(c) for c in spec.classes},
        line_id=None,
    )


def target_for_model(
    name: str, kind: str, *, line: str | None = None, lines_dir: Path | None = None
) -> Target:
    """Target of an already registered model: its thresholds come from ``line`` or its kind's lines."""
    target = resolve_target(line or kind, name=name, lines_dir=lines_dir)
    if target.kind != kind:
        raise ConfigError(f"line {line!r} is a {target.kind} line but model {name!r} is for {kind}")
    return target
