"""The ``outputs:`` section of a line YAML: reject timing and how the line appears on each line output.

A line output (OPC UA Machine Vision server, MQTT, Modbus TCP reject coil, ...) is one
:class:`OutputSpec` found by name under the ``linecheck.outputs`` entry point group: the name of its
YAML section, the pydantic model of that section, and where its runtime lives (``module:attr``,
imported only by the inspector). The built-ins are declared below and registered in
``pyproject.toml``; a plug-in package adds one the same way::

    [project.entry-points."linecheck.outputs"]
    profinet = "linecheck_profinet:SPEC"

.. code-block:: yaml

    outputs:
      reject_deadline_ms: 400     # a unit not judged this long after its trigger is rejected anyway
      opcua: {vision_system: BearingLine1}
      mqtt: {results_topic: plant/bearing-01/results, status_topic: plant/bearing-01/status}
      modbus: {host: 10.0.0.17, port: 502, unit_id: 1, coil: 0, pulse_ms: 100}

Only the sections a line names are active for it; what is process-wide (the OPC UA endpoint and
its users, the MQTT broker) is in the inspector's settings (``LINECHECK_INSPECTOR_OPCUA_ENDPOINT``,
``LINECHECK_INSPECTOR_OPCUA_USERS``, ``LINECHECK_INSPECTOR_MQTT_URL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from linecheck.errors import InvalidFieldError

#: Entry point group the line outputs are registered under.
ENTRY_POINT_GROUP = "linecheck.outputs"

#: A topic, browse name or device id: no wildcards, no spaces.
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/{}-]{0,127}$"


class OutputOptions(BaseModel):
    """Base of every output's per-line section (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")


class OpcUaLineOptions(OutputOptions):
    """How a line appears in the inspector's OPC UA server (OPC 40100-1 Machine Vision)."""

    vision_system: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="browse name; default the line id"
    )
    start_continuous: bool = Field(
        True,
        description="start in ContinuousExecution (free-running camera); false: Ready, a PLC starts jobs",
    )


class MqttLineOptions(OutputOptions):
    """The line's MQTT topics (``{line_id}`` is replaced by the line id)."""

    results_topic: str = Field("linecheck/{line_id}/results", pattern=_NAME)
    status_topic: str = Field("linecheck/{line_id}/status", pattern=_NAME)
    status_interval_s: float = Field(5.0, gt=0, description="line status period (also sent retained)")
    trigger_topic: str | None = Field(
        None,
        pattern=_NAME,
        description="subscribe to trigger requests here (the JSON of POST /trigger: a PLC job or the current "
        "code), answered on <trigger_topic>/answer; off unless set (whoever may publish there starts jobs: "
        "give it a broker ACL)",
    )
    sparkplug_device: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Sparkplug B device id under the inspector's edge node; default the line id",
    )

    def topic(self, template: str, line_id: str) -> str:
        """``template`` with the line id filled in."""
        return template.replace("{line_id}", line_id)


class ModbusTriggerOptions(OutputOptions):
    """A PLC's trigger handshake in holding registers, polled by the inspector.

    The trigger block at ``counter_register``: the unit counter (the PLC adds 1 for each unit at the
    photo-eye; 16 bits, wrapping), the encoder count at the trigger (32 bits signed, two registers), then
    the unit's code (``code_registers`` registers, two ASCII characters each, NUL- or space-padded), then
    with ``product_number`` the unit's product (one register: 1..N the line's ``products:``). For
    each job the inspector writes ``[counter, evaluation, defect count]`` at ``result_register`` in one
    request (evaluation 1 OK, 2 NotOK, 3 NotDecidable as OPC UA's ``ResultEvaluation``).
    """

    counter_register: int = Field(
        ge=0, le=65535, description="first register of the trigger block: the counter"
    )
    code_registers: int = Field(
        0,
        ge=0,
        le=60,
        description="registers of the unit code after the encoder count (0: the PLC sends none)",
    )
    result_register: int | None = Field(
        None, ge=0, le=65535, description="where the answer of each job goes (None: the coil only)"
    )
    product_number: bool = Field(
        False,
        description="the block ends with one more register: the number of the product the unit is (1 "
        "to N: the line's products in YAML order; 0: the line's own config), the PLC's recipe number",
    )
    poll_ms: float = Field(5.0, ge=1, le=1000, description="how often the counter is read")
    word_order: Literal["big", "little"] = Field(
        "big", description="of the 32-bit encoder count: big (high word first) or little"
    )
    max_step: int = Field(
        8,
        ge=1,
        le=1000,
        description="a counter step larger than this is a PLC restart (counter reset), not units passed",
    )

    @property
    def block_size(self) -> int:
        """Registers of the trigger block: counter, encoder count (2), code, product number."""
        return 3 + self.code_registers + int(self.product_number)

    @model_validator(mode="after")
    def _blocks_apart(self) -> ModbusTriggerOptions:
        last = self.counter_register + self.block_size - 1
        if last > 65535:
            raise ValueError(
                f"counter_register={self.counter_register}: its {self.block_size} registers run past 65535"
            )
        answer = self.result_register
        if answer is not None:
            if answer + 2 > 65535:
                raise ValueError(f"result_register={answer}: its 3 registers run past 65535")
            if answer <= last and self.counter_register <= answer + 2:
                raise ValueError(
                    f"result_register={answer}: overlaps the trigger block ({self.counter_register}..{last})"
                )
        return self


class ModbusLineOptions(OutputOptions):
    """The line's reject gate on a Modbus TCP server (a PLC or a remote I/O coupler), and its triggers."""

    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=247)
    coil: int = Field(ge=0, le=65535, description="coil address pulsed for each rejected unit")
    pulse_ms: float = Field(100.0, gt=0, le=10_000, description="how long the coil stays on")
    timeout_s: float = Field(0.5, gt=0, le=30, description="connect / request timeout")
    trigger: ModbusTriggerOptions | None = Field(
        None, description="PLC jobs from a counter in holding registers (polled), answered in registers"
    )
    alarm_coil: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="coil held on while the line has a run alarm no operator acknowledged (alarms: in the "
        "line YAML): stop the line, sound the horn",
    )

    @model_validator(mode="after")
    def _alarm_coil_is_another_coil(self) -> ModbusLineOptions:
        if self.alarm_coil is not None and self.alarm_coil == self.coil:
            raise ValueError(f"alarm_coil={self.alarm_coil} is the reject coil: give the alarm its own coil")
        return self


@dataclass(frozen=True, kw_only=True, slots=True)
class OutputSpec:
    """One line output: its section name, the section's model and its runtime (``module:attr``)."""

    name: str
    options_model: type[OutputOptions]
    runtime: str
    description: str = ""


OPCUA = OutputSpec(
    name="opcua",
    options_model=OpcUaLineOptions,
    runtime="linecheck.inspect.outputs.opcua:OpcUaOutput",
    description="OPC UA server, OPC 40100-1 Machine Vision subset (results, ResultReady events, jobs)",
)
MQTT = OutputSpec(
    name="mqtt",
    options_model=MqttLineOptions,
    runtime="linecheck.inspect.outputs.mqtt:MqttOutput",
    description="per-unit results and line status over MQTT (QoS 1, from the outbox), Sparkplug B metrics",
)
MODBUS = OutputSpec(
    name="modbus",
    options_model=ModbusLineOptions,
    runtime="linecheck.inspect.outputs.modbus:ModbusOutput",
    description="Modbus TCP reject coil pulsed per rejected unit",
)


@lru_cache(maxsize=1)
def _registered() -> dict[str, OutputSpec]:
    specs: dict[str, OutputSpec] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        spec = ep.load()
        if not isinstance(spec, OutputSpec) or spec.name != ep.name:
            raise InvalidFieldError(
                f"entry point {ENTRY_POINT_GROUP}:{ep.name}", ep.value, "expected an OutputSpec of that name"
            )
        specs[ep.name] = spec
    for spec in (OPCUA, MQTT, MODBUS):  # an editable install without entry points still has the built-ins
        specs.setdefault(spec.name, spec)
    return specs


def output_names() -> list[str]:
    """Names of every registered line output."""
    return sorted(_registered())


def get_output(name: str) -> OutputSpec:
    """The output registered as ``name``."""
    try:
        return _registered()[name]
    except KeyError:
        raise InvalidFieldError("outputs", name, f"expected one of {', '.join(output_names())}") from None


class LineOutputs(BaseModel):
    """A line's ``outputs:`` section: the reject deadline and one section per output it uses."""

    model_config = ConfigDict(extra="forbid")

    reject_deadline_ms: float | None = Field(
        None,
        gt=0,
        le=600_000,
        description="a unit not judged this long after its trigger fires the reject anyway and is recorded "
        "not_inspected; unset: no deadline (results are sent whenever they are ready)",
    )
    job_stations: list[str] = Field(
        default_factory=list,
        description="the cameras (stations) a PLC job takes one frame of each: the unit's one decision waits "
        "for all and rejects unless every frame passed; empty: a job takes the line's next frame",
    )
    sections: dict[str, OutputOptions] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _output_sections(cls, data: Any) -> Any:
        """Validate each ``<output name>: {...}`` key with that output's options model."""
        if not isinstance(data, dict) or "sections" in data:
            return data
        out: dict[str, Any] = {}
        sections: dict[str, OutputOptions] = {}
        for key, value in data.items():
            if key in ("reject_deadline_ms", "job_stations"):
                out[key] = value
                continue
            try:
                spec = get_output(key)
            except InvalidFieldError:
                known = ", ".join(output_names())
                raise ValueError(
                    f"unknown output {key!r}; expected reject_deadline_ms, job_stations or {known}"
                ) from None
            try:
                sections[key] = spec.options_model.model_validate(value or {})
            except ValidationError as exc:
                problems = "; ".join(
                    f"{key}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
                )
                raise ValueError(problems) from None
        out["sections"] = sections
        return out

    @model_serializer(mode="wrap")
    def _dump_sections(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Dump the sections under their output names, as the YAML writes them."""
        data = handler(self)
        if isinstance(data, dict):
            data.pop("sections", None)
            if not data.get("job_stations"):
                data.pop("job_stations", None)
            data.update({name: section.model_dump() for name, section in self.sections.items()})
        return data

    def section(self, name: str) -> OutputOptions | None:
        """The line's section of output ``name`` (None when the line does not use it)."""
        return self.sections.get(name)
