"""Line definitions (``configs/lines/*.yaml``) and where linecheck keeps its files.

Each service (API, Triton launcher, inspector) has its own pydantic-settings class next to
its code, with the ``LINECHECK_`` env prefix and a cached accessor. This module holds what
they share: the line YAML model and its loader.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from linecheck.errors import ConfigError
from linecheck.kinds import CLASSES, CODE_PATTERNS, Kind

#: Repository root when running from a checkout (configs/, models/ live there).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class PathSettings(BaseSettings):
    """Where linecheck finds line configs and the model registry, and keeps its data."""

    model_config = SettingsConfigDict(env_prefix="LINECHECK_", extra="ignore")

    lines_dir: Path = PROJECT_ROOT / "configs" / "lines"
    models_dir: Path = PROJECT_ROOT / "models"
    data_dir: Path = PROJECT_ROOT / "var"


@lru_cache(maxsize=1)
def get_path_settings() -> PathSettings:
    """Return the process-wide :class:`PathSettings` (read once from the environment)."""
    return PathSettings()


class CameraConfig(BaseModel):
    """One camera (station) on a line."""

    model_config = ConfigDict(extra="forbid")

    station: str = "cam1"
    source: str = Field(
        "synth://", description="frame source URI: synth://, file path, folder, rtsp://, usb:N"
    )
    width: int = Field(640, gt=0)
    height: int = Field(640, gt=0)
    fps: float = Field(5.0, gt=0)


class TextileConfig(BaseModel):
    """Textile specifics: roll geometry and four-point grading options."""

    model_config = ConfigDict(extra="forbid")

    roll_width_m: float = Field(1.6, gt=0, description="cuttable width of the fabric")
    frame_length_m: float = Field(0.5, gt=0, description="length of fabric one frame covers")
    frame_width_m: float = Field(0.5, gt=0, description="width of fabric one frame covers")
    roll_length_m: float = Field(20.0, gt=0, description="length of one roll on this line")
    acceptance_points_per_100yd2: float = Field(40.0, gt=0, description="four-point acceptance limit")


class BearingConfig(BaseModel):
    """Bearing specifics: the face geometry used to name defect zones."""

    model_config = ConfigDict(extra="forbid")

    inner_radius_frac: float = Field(0.28, gt=0, lt=1, description="bore edge, as a fraction of outer radius")
    race_split_frac: float = Field(0.64, gt=0, lt=1, description="inner/outer race boundary, same units")


class PVConfig(BaseModel):
    """PV specifics: module cell grid and grade rules."""

    model_config = ConfigDict(extra="forbid")

    rows: int = Field(6, gt=0)
    cols: int = Field(10, gt=0)
    b_grade_classes: list[str] = Field(default_factory=lambda: ["crack", "finger_interruption"])
    c_grade_classes: list[str] = Field(default_factory=lambda: ["dark_cell", "broken_corner"])


class ModelRef(BaseModel):
    """Which registry model (and stage or version) a line runs."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = "production"


class LineConfig(BaseModel):
    """One production line, as written in ``configs/lines/<id>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = ""
    kind: Kind
    classes: list[str] = Field(default_factory=list)
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="per-class; 'default' for the rest"
    )
    code_pattern: str = ""
    code_source: Literal["frame", "trigger"] = "frame"
    speed_m_per_min: float = Field(30.0, gt=0)
    cameras: list[CameraConfig] = Field(default_factory=lambda: [CameraConfig()])
    model: ModelRef | None = None
    textile: TextileConfig = Field(default_factory=TextileConfig)
    bearing: BearingConfig = Field(default_factory=BearingConfig)
    pv: PVConfig = Field(default_factory=PVConfig)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for name, thr in value.items():
            if not 0.0 <= thr <= 1.0:
                raise ValueError(f"thresholds.{name}={thr!r}: expected a value in [0, 1]")
        return value

    @model_validator(mode="after")
    def _fill_kind_defaults(self) -> LineConfig:
        if not self.classes:
            self.classes = list(CLASSES[self.kind])
        if not self.code_pattern:
            self.code_pattern = CODE_PATTERNS[self.kind]
        if self.model is None:
            self.model = ModelRef(name=self.kind.value)
        unknown = sorted(set(self.thresholds) - set(self.classes) - {"default"})
        if unknown:
            raise ValueError(f"thresholds names unknown classes {unknown}; line classes are {self.classes}")
        return self

    def threshold(self, class_name: str) -> float:
        """Confidence threshold for ``class_name`` (its own, else ``default``, else 0.25)."""
        return self.thresholds.get(class_name, self.thresholds.get("default", 0.25))


def load_line(path: Path) -> LineConfig:
    """Load and validate one line YAML file; errors name the file and the field."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read line config: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return LineConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: invalid line config: {problems}") from exc


def load_lines(directory: Path | None = None) -> dict[str, LineConfig]:
    """Load every ``*.yaml`` line config in ``directory`` (default: settings' lines_dir), keyed by id."""
    directory = directory or get_path_settings().lines_dir
    if not directory.is_dir():
        raise ConfigError(f"lines directory {directory} does not exist")
    lines: dict[str, LineConfig] = {}
    for path in sorted(directory.glob("*.yaml")):
        line = load_line(path)
        if line.id in lines:
            raise ConfigError(f"{path}: line id {line.id!r} is already defined by another file")
        lines[line.id] = line
    return lines
