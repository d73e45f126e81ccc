from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from linecheck.config import LineConfig, load_line, load_lines
from linecheck.errors import ConfigError, InvalidFieldError, RegistryError
from linecheck.kinds import Kind, check_code, get_kind, make_code, parse_kind
from linecheck.messages import Detections, Frame
from linecheck.model.card import ModelCard, OnnxInfo
from linecheck.model.registry import Registry

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_line_configs_load() -> None:
    lines = load_lines(ROOT / "configs" / "lines")
    assert {line.kind for line in lines.values()} == set(Kind)
    for line in lines.values():
        assert line.classes == list(get_kind(line.kind).classes)
        assert line.model is not None


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("id: Bad Id\nkind: pv\n", "id"),
        ("id: x1\nkind: glass\n", "kind"),
        ("id: x1\nkind: pv\nthresholds: {crack: 1.5}\n", "thresholds"),
        ("id: x1\nkind: pv\nthresholds: {scratch: 0.5}\n", "unknown classes"),
        ("id: x1\nkind: pv\ncolour: red\n", "colour"),
        ("- just\n- a list\n", "mapping"),
        ("id: [unclosed\n", "YAML"),
    ],
)
def test_bad_line_config_names_file_and_field(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "line.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_line(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_a_line_file_saved_by_windows_tools(tmp_path: Path) -> None:
    text = (ROOT / "configs" / "lines" / "pv-01.yaml").read_text(encoding="utf-8")
    text = text.replace("name: Module line 1 - post-lamination EL", "name: 组件线1 - 层压后EL")
    path = tmp_path / "pv-01.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # Notepad's "UTF-8 with BOM"
    assert load_line(path).name == "组件线1 - 层压后EL"
    path.write_bytes(text.encode("utf-16"))
    assert load_line(path).name == "组件线1 - 层压后EL"
    path.write_bytes(text.encode("gbk"))  # older Notepad's "ANSI" on Chinese Windows
    with pytest.raises(ConfigError) as info:
        load_line(path)
    message = str(info.value)
    assert (
        str(path) in message and "not UTF-8 text at line 3" in message and "save the file as UTF-8" in message
    )


def test_threshold_falls_back_to_default() -> None:
    line = LineConfig(id="t1", kind=Kind.TEXTILE, thresholds={"default": 0.4, "hole": 0.2})
    assert line.threshold("hole") == 0.2
    assert line.threshold("stain") == 0.4


@pytest.mark.parametrize("kind", list(Kind))
def test_made_codes_match_default_pattern(kind: Kind) -> None:
    code = make_code(kind, 42)
    assert check_code(code, get_kind(kind).code_pattern) == code
    with pytest.raises(InvalidFieldError, match="code"):
        check_code(code + "X", get_kind(kind).code_pattern)


def test_parse_kind_names_accepted_values() -> None:
    assert parse_kind("pv") is Kind.PV
    with pytest.raises(InvalidFieldError, match="textile, bearing, pv"):
        parse_kind("glass")


def _frame(image: np.ndarray, **kw: object) -> Frame:
    args: dict[str, object] = {
        "line_id": "l",
        "station": "s",
        "seq": 0,
        "captured_at": datetime.now(UTC),
        "image": image,
    }
    args.update(kw)
    return Frame(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "extra", "field"),
    [
        (np.zeros((4, 4), np.uint8), {}, "image"),
        (np.zeros((4, 4, 3), np.float32), {}, "image"),
        (np.zeros((0, 4, 3), np.uint8), {}, "image"),
        (np.zeros((4, 4, 3), np.uint8), {"seq": -1}, "seq"),
        (np.zeros((4, 4, 3), np.uint8), {"captured_at": datetime(2026, 1, 1)}, "captured_at"),
    ],
)
def test_frame_rejects_bad_fields(image: np.ndarray, extra: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        _frame(image, **extra)
    assert info.value.field == field


def test_detections_validate_and_filter() -> None:
    det = Detections(
        xyxy=np.array([[0, 0, 1, 1], [2, 2, 3, 3]], np.float32),
        confidence=np.array([0.9, 0.1], np.float32),
        class_id=np.array([1, 0], np.int64),
        class_names=("a", "b"),
    )
    assert det.names() == ["b", "a"]
    assert len(det.filter(det.confidence > 0.5)) == 1
    assert len(Detections.empty(("a",))) == 0
    with pytest.raises(InvalidFieldError, match="class_id"):
        Detections(
            xyxy=np.zeros((1, 4), np.float32),
            confidence=np.zeros(1, np.float32),
            class_id=np.array([2], np.int64),
            class_names=("a", "b"),
        )


def test_registry_round_trip_and_promotion(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "models")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"graph")
    card = ModelCard(
        name="pv", version=0, kind="pv", classes=list(get_kind(Kind.PV).classes), imgsz=320, onnx=OnnxInfo()
    )
    v1 = reg.register(card, {"model.onnx": onnx})
    v2 = reg.register(ModelCard(name="pv", version=0, kind="pv", classes=["crack"], imgsz=320), {})
    assert (v1.card.version, v2.card.version) == (1, 2)
    with pytest.raises(RegistryError, match="production"):
        reg.get("pv")
    reg.promote("pv", 1)
    got = reg.get("pv")
    assert got.card.classes == list(get_kind(Kind.PV).classes)
    assert got.onnx.read_bytes() == b"graph"
    assert reg.get("pv", "latest").card.version == 2
    reg.update_metrics("pv", 1, {"mAP50": 0.7})
    assert reg.get("pv", 1).card.metrics == {"mAP50": 0.7}
    with pytest.raises(RegistryError, match="no version 9"):
        reg.get("pv", 9)
    with pytest.raises(RegistryError, match="not in the registry"):
        reg.get("bearing")


def test_the_cli_prints_every_threads_stack_on_sigusr1_and_runs_on() -> None:
    """`kill -USR1 <pid>` of a linecheck command shows where it waits (faulthandler) and does not stop it."""
    import subprocess
    import sys

    code = (
        "import os, signal, linecheck.cli.main; os.kill(os.getpid(), signal.SIGUSR1); print('still running')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "still running" in done.stdout
    assert "most recent call first" in done.stderr and "<module>" in done.stderr


def test_stop_signals_interrupt_even_a_process_started_with_sigint_ignored() -> None:
    """A service started as a script's background job inherits SIGINT ignored; Ctrl-C must still stop it."""
    import signal
    import subprocess
    import sys

    code = (
        "import os, signal\n"
        "from linecheck.stop_signals import interrupt_on_stop_signals\n"
        "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN\n"
        "for sig in (signal.SIGINT, signal.SIGTERM):\n"
        "    restore = interrupt_on_stop_signals()\n"
        "    try:\n"
        "        os.kill(os.getpid(), sig)\n"
        "        print('not interrupted', sig)\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', int(sig))\n"
        "    restore()\n"
        "print('restored', signal.getsignal(signal.SIGINT) is signal.SIG_IGN)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["interrupted 2", "interrupted 15", "restored True"], done.stdout
