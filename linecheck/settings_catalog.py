"""Every settings class of linecheck and the README's table of environment variables built from them.

Above the services (it imports each one's settings), below the CLI (``linecheck config env``) and the
tests that keep the README true. The naming rules themselves live in :mod:`linecheck.settings_env`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import TypeAdapter

from linecheck.settings_env import ServiceSettings, env_name


def settings_classes() -> list[type[ServiceSettings]]:
    """Every settings class, in the README's order (imported here, lazily)."""
    from linecheck.config import PathSettings
    from linecheck.datasets.review_settings import ReviewExportSettings
    from linecheck.harness_settings import HarnessSettings
    from linecheck.inspect.settings import InspectorSettings
    from linecheck.serving.api.settings import ApiSettings
    from linecheck.serving.triton.settings import TritonSettings

    return [
        PathSettings,
        ApiSettings,
        InspectorSettings,
        TritonSettings,
        ReviewExportSettings,
        HarnessSettings,
    ]


def _shown(value: Any, annotation: Any, data_dir: Path, root: Path) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        if value.is_relative_to(data_dir) and value != data_dir:
            return f"$LINECHECK_DATA_DIR/{value.relative_to(data_dir).as_posix()}"
        return value.relative_to(root).as_posix() if value.is_relative_to(root) else str(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, list):
        return json.dumps(TypeAdapter(annotation).dump_python(value, mode="json"))
    return str(value)


def _rows(settings_cls: type[ServiceSettings], skip: set[str]) -> Iterator[tuple[str, str, str]]:
    from linecheck.config import PROJECT_ROOT, get_path_settings

    data_dir = get_path_settings().data_dir
    for name, field in settings_cls.model_fields.items():
        variable = env_name(settings_cls, name)
        if variable in skip:
            continue
        default = field.get_default(call_default_factory=True, validated_data={})
        meaning = field.description or ""
        if get_origin(field.annotation) is Literal:
            meaning += f" ({' or '.join(str(v) for v in get_args(field.annotation))})"
        yield variable, _shown(default, field.annotation, data_dir, PROJECT_ROOT), meaning.replace("|", r"\|")


def env_table() -> str:
    """The README's environment variable section body: one markdown table per settings class."""
    out: list[str] = []
    listed: set[str] = set()
    for settings_cls in settings_classes():
        prefix = str(settings_cls.model_config.get("env_prefix", ""))
        out += [f"**{settings_cls.env_title}** (`{prefix}*`, `{settings_cls.__name__}`)", ""]
        out += ["| variable | default | meaning |", "|---|---|---|"]
        rows = list(_rows(settings_cls, listed))
        out += [f"| `{v}` | `{d}` | {m} |" for v, d, m in rows]
        shared = [env_name(settings_cls, n) for n in settings_cls.model_fields]
        also = [v for v in shared if v in listed]
        if also:
            out += ["", f"Also reads {', '.join(f'`{v}`' for v in also)}."]
        listed.update(v for v, _, _ in rows)
        out.append("")
    return "\n".join(out).rstrip() + "\n"
