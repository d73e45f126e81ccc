"""Line definitions (``configs/lines/*.yaml``) and where linecheck keeps its files.

Each service (API, Triton launcher, inspector) has its own pydantic-settings class next to
its code, with its own env prefix (``LINECHECK_API_`` ...; see :mod:`linecheck.settings_env`) and a
cached accessor. This module holds what they share: the paths, the line YAML model and its loader.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from linecheck.alarms import AlarmConfig, unknown_classes
from linecheck.audit import AuditConfig
from linecheck.contract import ProductId
from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.frame_checks import FrameChecks
from linecheck.kinds import FrameView, KindOptions, KindSpec, get_kind, kind_names
from linecheck.line_outputs import LineOutputs
from linecheck.settings_env import SHARED_PREFIX, ServiceSettings, read_settings
from linecheck.text_files import decode_problem, decode_text
from linecheck.verification import VerificationConfig

#: Repository root when running from a checkout (configs/, models/ live there).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _not_empty(value: Any) -> Any:
    if value == "":  # an empty variable would silently mean the current directory
        raise ValueError("expected a directory; unset the variable for the default")
    return value


def _not_a_file(value: Path) -> Path:
    if value.exists() and not value.is_dir():
        raise ValueError("not a directory")
    return value


#: A folder setting: not empty, and not something that exists but is no folder (it may not exist yet).
DirectorySetting = Annotated[Path, BeforeValidator(_not_empty), AfterValidator(_not_a_file)]


class PathSettings(ServiceSettings):
    """Where linecheck finds line configs and the model registry, and keeps its data.

    Shared by every service, so these keep the bare ``LINECHECK_`` prefix (``LINECHECK_DATA_DIR``).
    """

    model_config = SettingsConfigDict(env_prefix=SHARED_PREFIX)
    env_title: ClassVar[str] = "Shared paths"

    lines_dir: DirectorySetting = Field(PROJECT_ROOT / "configs" / "lines", description="line YAML files")
    models_dir: DirectorySetting = Field(PROJECT_ROOT / "models", description="model registry root")
    data_dir: DirectorySetting = Field(
        PROJECT_ROOT / "var", description="databases, images, runs and the Triton repository live here"
    )


@lru_cache(maxsize=1)
def get_path_settings() -> PathSettings:
    """Return the process-wide :class:`PathSettings` (read once from the environment)."""
    return read_settings(PathSettings)


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
    bit_depth: int | None = Field(
        None,
        ge=8,
        le=16,
        description=(
            "bits per pixel of the camera's 16-bit frames (10, 12, 14 for Mono10/12/14 stored in 16 "
            "bits): their top 8 bits are kept; unset reads them from 16 bits (linecheck.pixel_depth)"
        ),
    )
    checks: FrameChecks = Field(
        default_factory=FrameChecks,
        description="what a frame must be to be judged (exposure, contrast, focus, a frozen camera); a "
        "frame failing one is not_inspected, naming it (linecheck.frame_checks)",
    )


def _spec_or_value_error(name: str) -> KindSpec[Any]:
    """The kind's spec; an unknown name becomes a validation error naming the registered kinds."""
    try:
        return get_kind(name)
    except InvalidFieldError:
        raise ValueError(f"unknown kind {name!r}; expected one of {', '.join(kind_names())}") from None


class ModelRef(BaseModel):
    """Which registry model (and stage or version) a line runs."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = "production"
    tile: int | None = Field(
        None,
        ge=0,
        description="cut frames into native tiles of this many pixels (wide line-scan frames); 0: whole "
        "frames; unset: the tile the model was trained on (its card's, e.g. `train --tile 256`)",
    )
    tile_overlap: int = Field(32, ge=0, description="pixels shared by neighbouring tiles")
    per_cell: bool = Field(
        False,
        description="run on the crop of every cell of the product (a cell classifier: PV cells, in the "
        "line's geometry); a cell it flags becomes a defect at that cell",
    )


def _thresholds_in_range(value: dict[str, float]) -> dict[str, float]:
    for name, thr in value.items():
        if not 0.0 <= thr <= 1.0:
            raise ValueError(f"thresholds.{name}={thr!r}: expected a value in [0, 1]")
    return value


Thresholds = Annotated[dict[str, float], AfterValidator(_thresholds_in_range)]


class ProductConfig(BaseModel):
    """One product (recipe) a line makes, written under the line's ``products:``.

    A changeover (the PLC's ``PrepareProduct``, ``POST /product``, a job's ``product``) or the unit's
    code (``code_pattern``) picks it; the unit is then judged with the line's config and this product's
    changes over it (:meth:`LineConfig.for_product`): thresholds and the kind's section merged key by
    key, the model, the line speed, and its cameras' frame checks (``checks``, per station, merged key by key
    over ``cameras[].checks``: a darker fabric's brightness range and baseline). Classes, the cameras
    themselves and the outputs stay the line's.
    """

    model_config = ConfigDict(extra="forbid")

    id: ProductId
    name: str = ""
    code_pattern: str | None = Field(
        None,
        description="a unit whose code matches it (whole, a regular expression) is this product, whatever "
        "product the line is on; codes must still match the line's code_pattern to be read",
    )
    thresholds: Thresholds = Field(default_factory=dict, description="per class, over the line's")
    model: ModelRef | None = Field(None, description="its own model (the line's classes); unset: the line's")
    extra_models: list[ModelRef] | None = Field(None, description="its own extra models; unset: the line's")
    speed_m_per_min: float | None = Field(None, gt=0)
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="changes to the kind's section, written under the kind's name (``pv: {cols: 12}``)",
    )
    checks: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per camera station, changes to its frame checks while the line is on this product "
        "(``{face: {brightness: [20, 140]}}``, merged key by key over ``cameras[].checks``)",
    )

    @field_validator("code_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"code_pattern={value!r} is not a regular expression: {exc}") from None
        return value


class LineConfig(BaseModel):
    """One production line, as written in ``configs/lines/<id>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = ""
    kind: str = Field(description="a registered kind (built-in: textile, bearing, pv; plug-ins add more)")
    classes: list[str] = Field(default_factory=list)
    thresholds: Thresholds = Field(default_factory=dict, description="per-class; 'default' for the rest")
    code_pattern: str = ""
    code_source: Literal["frame", "trigger"] = "frame"
    speed_m_per_min: float = Field(30.0, gt=0)
    cameras: list[CameraConfig] = Field(default_factory=lambda: [CameraConfig()])
    model: ModelRef | None = None
    extra_models: list[ModelRef] = Field(
        default_factory=list,
        description="more models run on every frame (a classifier, an anomaly model); the verdict is "
        "the union; ``classes`` lists every model's classes, the main model's first",
    )
    shadow: list[ModelRef] = Field(
        default_factory=list,
        description="candidate models judged beside the line's on every frame it inspects and compared, "
        "never acted on (linecheck.inspect.shadow; `linecheck models shadow` reports)",
    )
    verification: VerificationConfig | None = Field(
        None,
        description="challenge parts (a red rabbit that must fail, a master that must pass) run every "
        "every_h hours to prove the station still catches defects (linecheck.verification)",
    )
    options: SerializeAsAny[KindOptions] = Field(
        default_factory=KindOptions,
        description="the kind's own section, written in YAML under the kind's name (``pv:``, ``textile:``)",
    )
    outputs: LineOutputs = Field(
        default_factory=LineOutputs,
        description="reject deadline and the line outputs it uses (OPC UA, MQTT, Modbus; see line_outputs)",
    )
    alarms: AlarmConfig | None = Field(
        None,
        description="run alarms (andon) over the line's newest frames: failures in a row, a fail rate, one "
        "defect repeating at one place of the product (linecheck.alarms)",
    )
    audit: AuditConfig | None = Field(
        None,
        description="the share of passed units kept for a person to audit, for escapes (linecheck.audit)",
    )
    products: list[ProductConfig] = Field(
        default_factory=list,
        description="the products (recipes) the line makes, each with its changes to this config; a "
        "changeover or the unit's code picks one (for_product)",
    )
    default_product: ProductId | None = Field(
        None, description="the product the line is on at start-up; unset: the line's own config"
    )

    #: Per product id, the line's config as that product changes it (built once, after validation).
    _variants: dict[str, LineConfig] = PrivateAttr(default_factory=dict)
    #: The product this config is the variant of (None: the line's own).
    _product: str | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _kind_section(cls, data: Any) -> Any:
        """Validate the section named after the kind (``pv: {rows: 6}``) with the kind's options model."""
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            return data
        spec = _spec_or_value_error(data["kind"])
        data = dict(data)
        others = sorted(set(data) & set(kind_names()) - {spec.name})
        if others:
            raise ValueError(
                f"section {others[0]!r} belongs to {others[0]} lines; this line's kind is {spec.name}"
            )
        if spec.name in data and "options" in data:
            raise ValueError(f"give the kind's options once, as {spec.name!r}, not also as 'options'")
        raw = data.pop(spec.name, data.pop("options", None))
        try:
            data["options"] = spec.options(raw)
        except ValidationError as exc:
            raise ValueError(_problems(exc, spec.name)) from None
        if isinstance(data.get("products"), list):
            data["products"] = [_product_section(p, i, spec.name) for i, p in enumerate(data["products"])]
        return data

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, value: str) -> str:
        return _spec_or_value_error(value).name

    @model_serializer(mode="wrap")
    def _dump_kind_section(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        """Dump ``options`` under the kind's name, as the YAML writes it."""
        data = handler(self)
        if isinstance(data, dict) and "options" in data:
            data[self.kind] = data.pop("options")
        for product in (data.get("products") or ()) if isinstance(data, dict) else ():
            if isinstance(product, dict) and "options" in product:
                options = product.pop("options")
                if options:
                    product[self.kind] = options
        return data

    @model_validator(mode="after")
    def _fill_kind_defaults(self) -> LineConfig:
        spec = get_kind(self.kind)
        if not isinstance(self.options, spec.options_model):
            self.options = spec.options(self.options.model_dump())
        if not self.classes:
            self.classes = list(spec.classes)
        if not self.code_pattern:
            self.code_pattern = spec.code_pattern
        if self.model is None:
            self.model = ModelRef(name=self.kind)
        unknown = sorted(set(self.thresholds) - set(self.classes) - {"default"})
        if unknown:
            raise ValueError(f"thresholds names unknown classes {unknown}; line classes are {self.classes}")
        self._per_cell_models_have_cells(spec)
        self._job_stations_are_cameras()
        self._shadows_are_other_models()
        self._challenge_parts_fit_the_line()
        self._alarm_classes_are_the_lines()
        self._variants = self._build_variants()  # private attributes are set before "after" validators
        return self

    def _build_variants(self) -> dict[str, LineConfig]:
        """Each product's config (a ValueError naming ``products.N`` when one is not a valid line)."""
        ids = self.product_ids
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"products: {twice} listed more than once")
        if self.default_product is not None and self.default_product not in ids:
            raise ValueError(f"default_product={self.default_product!r} is not one of the products {ids}")
        # the line's challenge parts stay the line's (they may name its products, which a variant has not)
        base = self.model_dump(mode="json", exclude={"products", "default_product", "verification"})
        variants: dict[str, LineConfig] = {}
        for i, product in enumerate(self.products):
            data = {**base, "thresholds": {**self.thresholds, **product.thresholds}}
            data[self.kind] = {**base[self.kind], **product.options}
            if product.model is not None:
                data["model"] = product.model.model_dump(mode="json")
            if product.extra_models is not None:
                data["extra_models"] = [m.model_dump(mode="json") for m in product.extra_models]
            if product.speed_m_per_min is not None:
                data["speed_m_per_min"] = product.speed_m_per_min
            if product.checks:
                data["cameras"] = self._cameras_checked(base["cameras"], product, i)
            try:
                variant = LineConfig.model_validate(data)
            except ValidationError as exc:
                raise ValueError(f"products.{i} ({product.id}): {_problems(exc)}") from None
            variant._product = product.id
            variants[product.id] = variant
        return variants

    @staticmethod
    def _cameras_checked(
        cameras: list[dict[str, Any]], product: ProductConfig, i: int
    ) -> list[dict[str, Any]]:
        """The line's cameras (as dumped) with ``product``'s changes to their frame checks."""
        stations = [c["station"] for c in cameras]
        unknown = sorted(set(product.checks) - set(stations))
        if unknown:
            raise ValueError(
                f"products.{i} ({product.id}): checks names {unknown}, not stations of the line's cameras "
                f"{stations}"
            )
        return [{**c, "checks": {**c["checks"], **product.checks.get(c["station"], {})}} for c in cameras]

    @property
    def product(self) -> str | None:
        """The product this config is for (None: the line's own config)."""
        return self._product

    def for_product(self, product: str | None) -> LineConfig:
        """The line's config for ``product`` (None: the line's own).

        Raises:
            InvalidFieldError: ``product`` is not one of the line's products.

        """
        if product is None:
            return self
        try:
            return self._variants[product]
        except KeyError:
            raise InvalidFieldError(
                "product",
                product,
                f"not a product of line {self.id}; its products are {list(self._variants)}",
            ) from None

    def camera(self, station: str) -> CameraConfig | None:
        """The camera at ``station`` (None: the line has none there)."""
        return next((c for c in self.cameras if c.station == station), None)

    def frame_checks(self, station: str) -> FrameChecks:
        """The frame checks of the camera at ``station`` (the defaults for a station the line has not)."""
        camera = self.camera(station)
        return camera.checks if camera is not None else FrameChecks()

    @property
    def product_ids(self) -> list[str]:
        """The ids of the line's products, in the YAML's order."""
        return [p.id for p in self.products]

    def product_for_code(self, code: str | None) -> str | None:
        """The first product whose ``code_pattern`` matches ``code`` whole (None: no product claims it)."""
        if code is None:
            return None
        for product in self.products:
            if product.code_pattern is not None and re.fullmatch(product.code_pattern, code):
                return product.id
        return None

    def variants(self) -> list[LineConfig]:
        """The line's own config and each product's: every model and geometry it may run."""
        return [self, *self._variants.values()]

    def _challenge_parts_fit_the_line(self) -> None:
        if self.verification is None:
            return
        for i, part in enumerate(self.verification.parts):
            if not re.fullmatch(self.code_pattern, part.code):
                raise ValueError(
                    f"verification.parts.{i}.code={part.code!r} does not match the line's code_pattern "
                    f"{self.code_pattern} (the line could not read it)"
                )
            unknown = sorted(set(part.classes) - set(self.classes))
            if unknown:
                raise ValueError(
                    f"verification.parts.{i}.classes names {unknown}, not classes of the line {self.classes}"
                )
            products = self.product_ids
            strangers = [p for p in part.products if p not in products]
            if strangers:
                raise ValueError(
                    f"verification.parts.{i}.products names {strangers}, not products of the line {products}"
                )

    def _alarm_classes_are_the_lines(self) -> None:
        unknown = unknown_classes(self.alarms, self.classes) if self.alarms is not None else []
        if unknown:
            raise ValueError(f"alarms.repeat.classes names {unknown}, not classes of the line {self.classes}")
        modbus = self.outputs.section("modbus")
        if self.alarms is None and getattr(modbus, "alarm_coil", None) is not None:
            raise ValueError(
                "outputs.modbus.alarm_coil is set, but the line has no alarms: section to raise it"
            )

    def _job_stations_are_cameras(self) -> None:
        stations = self.outputs.job_stations
        cameras = [c.station for c in self.cameras]
        unknown = [s for s in stations if s not in cameras]
        if unknown:
            raise ValueError(
                f"outputs.job_stations names {unknown}, not stations of the line's cameras {cameras}"
            )
        if len(set(stations)) != len(stations):
            raise ValueError(f"outputs.job_stations lists a station twice: {stations}")

    def _shadows_are_other_models(self) -> None:
        seen: set[tuple[str, str]] = set()
        for ref in self.shadow:
            key = (ref.name, ref.version)
            if key in seen:
                raise ValueError(f"shadow {ref.name}@{ref.version} is listed twice")
            seen.add(key)
            if self.model is not None and key == (self.model.name, self.model.version):
                raise ValueError(
                    f"shadow {ref.name}@{ref.version} is the line's own model; a shadow is a candidate "
                    "(another version or stage, e.g. version: staging, or another model)"
                )

    def _per_cell_models_have_cells(self, spec: KindSpec[Any]) -> None:
        for ref in [self.model, *self.extra_models, *self.shadow]:
            if ref is None or not ref.per_cell:
                continue
            if ref.tile:
                raise ValueError(f"model {ref.name}: per_cell and tile exclude each other")
            camera = self.cameras[0] if self.cameras else CameraConfig()
            if not spec.cell_boxes(FrameView(width=camera.width, height=camera.height), self.options):
                raise ValueError(f"model {ref.name}: per_cell, but {spec.name} products have no cells")

    @classmethod
    def from_stored(cls, config: dict[str, Any]) -> LineConfig:
        """A line stored by an earlier linecheck, which wrote every built-in kind's section on every line."""
        kind = config.get("kind")
        legacy = {k for k in ("textile", "bearing", "pv") if k != kind and k in config}
        return cls.model_validate({k: v for k, v in config.items() if k not in legacy})

    def threshold(self, class_name: str) -> float:
        """Confidence threshold for ``class_name`` (its own, else ``default``, else 0.25)."""
        return self.thresholds.get(class_name, self.thresholds.get("default", 0.25))


def model_of(line: LineConfig) -> str:
    """The model name a line (or one of its products) runs: its ``model.name``, default the kind."""
    return line.model.name if line.model else line.kind


def _problems(exc: ValidationError, *prefix: str) -> str:
    """A validation error's problems on one line: ``field.path: message; ...`` (under ``prefix``)."""
    parts = []
    for err in exc.errors():
        where = ".".join([*prefix, *(str(p) for p in err["loc"])])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _product_section(product: Any, index: int, kind: str) -> Any:
    """A product's entry with its changes to the kind's section (written under the kind's name) as options."""
    if not isinstance(product, dict):
        return product
    others = sorted(set(product) & set(kind_names()) - {kind})
    if others:
        raise ValueError(
            f"products.{index}: section {others[0]!r} belongs to {others[0]} lines; this line is {kind}"
        )
    if kind in product:
        product = dict(product)
        product["options"] = product.pop(kind)
    return product


def load_line(path: Path) -> LineConfig:
    """Load and validate one line YAML file; errors name the file and the field."""
    try:
        data = path.read_bytes()
        raw: Any = yaml.safe_load(decode_text(data))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read line config: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text at {decode_problem(exc, data)}; save the file as UTF-8 "
            "(Notepad: Save as, Encoding UTF-8)"
        ) from None
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
