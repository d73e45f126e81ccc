"""`linecheck data synth` end to end through the real CLI app."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from linecheck.cli.main import app


def test_data_synth_writes_a_dataset_and_prints_its_yaml(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    args = ["data", "synth", "--kind", "pv", "--images", "6", "--seed", "3", "--imgsz", "160"]
    result = CliRunner().invoke(app, [*args, "--val", "0.34", "--test", "0", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out / "data.yaml")
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["synth"]["kind"] == "pv" and "test" not in data
    assert len(list((out / "images" / "train").glob("*.png"))) == 4
    assert len(list((out / "images" / "val").glob("*.png"))) == 2


def test_data_synth_reports_bad_input_and_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["data", "synth", "--kind", "glass", "--images", "4", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert "kind='glass'" in result.output
    assert not (tmp_path / "x").exists()
