"""deploy/systemd's units: commands that exist, with options they take, and variables linecheck reads."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from linecheck.cli.main import app
from linecheck.settings_catalog import settings_classes
from linecheck.settings_env import env_name

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
UNITS = sorted(DEPLOY.glob("*.service"))
VENV_LINECHECK = "/opt/linecheck/.venv/bin/linecheck"


def _settings(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of every setting of a unit file, repeated keys kept."""
    out, section = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def _command(argv: list[str]) -> tuple[Any, list[str]]:
    """The (click) command ``linecheck argv...`` runs, and the arguments left for it."""
    command: Any = typer.main.get_command(app)
    rest = list(argv)
    while rest and rest[0] in (getattr(command, "commands", None) or {}):
        command = command.commands[rest.pop(0)]
    return command, rest


def test_the_units_are_there() -> None:
    assert [p.name for p in UNITS] == [
        "linecheck-api.service",
        "linecheck-inspector@.service",
        "linecheck-triton.service",
    ]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_every_command_a_unit_runs_exists_with_the_options_it_gives(unit: Path) -> None:
    commands = [v for s, k, v in _settings(unit) if s == "Service" and k in ("ExecStart", "ExecStartPre")]
    assert commands
    for text in commands:
        argv = shlex.split(text)
        assert argv[0] == VENV_LINECHECK
        command, rest = _command(argv[1:])
        assert not hasattr(command, "commands"), f"{unit.name}: {text!r} names a group, not a command"
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        given = [token for token in rest if token.startswith("-")]
        assert set(given) <= known, f"{unit.name}: {text!r}: unknown option(s) {sorted(set(given) - known)}"


def test_every_variable_the_units_and_examples_set_is_one_linecheck_reads() -> None:
    known = {env_name(cls, name) for cls in settings_classes() for name in cls.model_fields}
    found: dict[str, str] = {}
    for path in [*UNITS, *sorted(DEPLOY.glob("*.env.example"))]:
        for match in re.finditer(r"\b(LINECHECK_[A-Z0-9_]+)=", path.read_text(encoding="utf-8")):
            found[match.group(1)] = path.name
    assert len(found) >= 8
    unknown = {name: where for name, where in found.items() if name not in known}
    assert not unknown, f"variables linecheck does not read: {unknown}"


def test_each_inspector_instance_keeps_its_own_outbox_and_has_time_to_drain() -> None:
    unit = _settings(DEPLOY / "linecheck-inspector@.service")
    env = [v for s, k, v in unit if k == "Environment"]
    assert "LINECHECK_INSPECTOR_DIR=/var/lib/linecheck/inspector/%i" in env
    assert ("Service", "ExecStart", f"{VENV_LINECHECK} inspect --line %i --quiet") in unit
    stop = int(next(v for _s, k, v in unit if k == "TimeoutStopSec"))
    assert stop >= 60 and ("Service", "Restart", "always") in unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on copies run from this venv (no linecheck user or /etc/linecheck here)."""
    executable = Path(sys.executable).with_name("linecheck")
    assert executable.is_file()
    names = []
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace(VENV_LINECHECK, str(executable))
        text = re.sub(r"^(User|Group)=.*$", "", text, flags=re.M)
        text = text.replace("EnvironmentFile=/", "EnvironmentFile=-/").replace(
            "/opt/linecheck", str(tmp_path)
        )
        name = unit.name.replace("@.", "@pv-01.")
        (tmp_path / name).write_text(text, encoding="utf-8")
        names.append(f"./{name}")
    result = subprocess.run(
        ["systemd-analyze", "verify", *names], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
