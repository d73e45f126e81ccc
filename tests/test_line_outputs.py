"""The ``outputs:`` section of a line YAML: sections found by name, each refused with its field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from linecheck.config import LineConfig, load_lines
from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.line_outputs import ModbusLineOptions, MqttLineOptions, get_output, output_names

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pv() -> dict:
    return load_lines(ROOT / "configs" / "lines")["pv-01"].model_dump(mode="json")


def test_the_built_in_outputs_are_registered() -> None:
    assert {"opcua", "mqtt", "modbus"} <= set(output_names())
    assert get_output("modbus").options_model is ModbusLineOptions
    with pytest.raises(InvalidFieldError, match="expected one of"):
        get_output("profibus")


def test_sections_round_trip_under_their_names(pv: dict) -> None:
    outputs = {
        "reject_deadline_ms": 400,
        "mqtt": {"results_topic": "plant/{line_id}/results"},
        "modbus": {"host": "10.0.0.17", "coil": 3},
    }
    line = LineConfig.model_validate({**pv, "outputs": outputs})
    mqtt = line.outputs.section("mqtt")
    assert (
        isinstance(mqtt, MqttLineOptions) and mqtt.topic(mqtt.results_topic, line.id) == "plant/pv-01/results"
    )
    assert line.outputs.section("opcua") is None and line.outputs.reject_deadline_ms == 400
    dumped = line.model_dump(mode="json")["outputs"]
    assert set(dumped) == {"reject_deadline_ms", "mqtt", "modbus"} and dumped["modbus"]["coil"] == 3
    assert LineConfig.model_validate({**pv, "outputs": dumped}).outputs == line.outputs


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"profibus": {}}, "unknown output 'profibus'"),
        ({"modbus": {"host": "plc"}}, "modbus.coil: Field required"),
        ({"modbus": {"host": "plc", "coil": 1, "pulse_ms": 0}}, "modbus.pulse_ms"),
        ({"mqtt": {"results_topic": "a/#"}}, "mqtt.results_topic"),
        ({"opcua": {"vision_system": "has space"}}, "opcua.vision_system"),
        ({"reject_deadline_ms": 0}, "reject_deadline_ms"),
        ({"opcua": {"colour": "red"}}, "opcua.colour: Extra inputs are not permitted"),
        ({"mqtt": {"trigger_topic": "plc/+/trigger"}}, "mqtt.trigger_topic"),
        (
            {"modbus": {"host": "plc", "coil": 1, "trigger": {}}},
            "modbus.trigger.counter_register: Field required",
        ),
        (
            {
                "modbus": {
                    "host": "plc",
                    "coil": 1,
                    "trigger": {"counter_register": 100, "result_register": 102},
                }
            },
            "result_register=102: overlaps the trigger block",
        ),
        (
            {"modbus": {"host": "plc", "coil": 1, "trigger": {"counter_register": 65534}}},
            "counter_register=65534: its 3 registers run past 65535",
        ),
        (
            {
                "modbus": {
                    "host": "plc",
                    "coil": 1,
                    "trigger": {"counter_register": 0, "word_order": "middle"},
                }
            },
            "modbus.trigger.word_order",
        ),
    ],
)
def test_a_bad_section_is_refused_naming_the_field(
    pv: dict, outputs: dict, message: str, tmp_path: Path
) -> None:
    import yaml

    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump({**pv, "outputs": outputs}), encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        from linecheck.config import load_line

        load_line(path)
