"""A bad setting stops every command with one line naming its variable and the value; secrets stay hidden."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from linecheck.config import PathSettings, get_path_settings
from linecheck.errors import ConfigError, SettingsError
from linecheck.inspect.settings import InspectorSettings
from linecheck.serving.api.settings import ApiSettings, get_api_settings
from linecheck.serving.triton.settings import TritonSettings
from linecheck.settings_catalog import settings_classes
from linecheck.settings_env import ServiceSettings, env_name, is_secret, read_settings, renamed, shown

ROOT = Path(__file__).resolve().parents[1]
LINECHECK = [sys.executable, "-m", "linecheck.cli.main"]
INSPECT = ["inspect", "--line", "textile-01", "--source", "synth://textile", "--no-send", "--duration", "1"]


class _Secrets(ServiceSettings):
    """A settings class with one field of each kind of secret (tests only)."""

    model_config = SettingsConfigDict(env_prefix="LINECHECK_SECRETS_")
    env_title: ClassVar[str] = "secrets"

    password: SecretStr = SecretStr("")
    token_ttl_s: float = 1.0
    api_token: str = Field("", max_length=8)
    users: dict[str, str] = Field(default_factory=dict, repr=False)
    key_file: Path | None = None
    low: int = 0
    high: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> _Secrets:
        if self.high < self.low:
            raise ValueError(f"{shown(self, 'high')} must be >= {shown(self, 'low')}")
        return self


def _all_names() -> set[str]:
    names = {env_name(cls, field) for cls in [*settings_classes(), _Secrets] for field in cls.model_fields}
    return names | set(renamed())


@pytest.fixture(autouse=True)
def _no_linecheck_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from an environment with no linecheck variable, and no settings read before it."""
    for name in _all_names():
        monkeypatch.delenv(name, raising=False)
    get_path_settings.cache_clear()
    get_api_settings.cache_clear()
    yield
    get_path_settings.cache_clear()
    get_api_settings.cache_clear()


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real ``linecheck`` command, as a user runs it, with ``env`` in a linecheck-free environment."""
    clean = {k: v for k, v in os.environ.items() if k not in _all_names()}
    return subprocess.run(
        [*LINECHECK, *args], env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(
            INSPECT,
            {"LINECHECK_INSPECTOR_MAX_BATCH": "abc"},
            "LINECHECK_INSPECTOR_MAX_BATCH='abc': Input should be a valid integer",
            id="inspector",
        ),
        pytest.param(
            ["db", "upgrade"],
            {"LINECHECK_API_PORT": "x"},
            "LINECHECK_API_PORT='x': Input should be a valid integer",
            id="api-through-database-url",
        ),
        pytest.param(
            ["serve", "triton"],
            {"LINECHECK_TRITON_FLAVOR": "cpu"},
            "LINECHECK_TRITON_FLAVOR='cpu': Input should be 'embedded' or 'gpu'",
            id="triton",
        ),
        pytest.param(
            ["models", "list"],
            {"LINECHECK_MODELS_DIR": str(ROOT / "README.md")},
            f"LINECHECK_MODELS_DIR='{ROOT / 'README.md'}': not a directory",
            id="paths",
        ),
        pytest.param(
            INSPECT,
            {"LINECHECK_DATA_DIR": ""},
            "LINECHECK_DATA_DIR='': expected a directory",
            id="paths-read-inside-the-inspector-settings",
        ),
        pytest.param(
            ["config", "env"],  # no errors_exit of its own: the root command catches it
            {"LINECHECK_LINES_DIR": ""},
            "LINECHECK_LINES_DIR='': expected a directory",
            id="a-command-without-errors-exit",
        ),
        pytest.param(
            ["serve", "api", "--root-path", "plant/3", "--port", "1"],
            {},
            "LINECHECK_API_ROOT_PATH='plant/3': expected '' or a path",
            id="an-option-written-into-the-environment",
        ),
        pytest.param(
            INSPECT,
            {"LINECHECK_INSPECTOR_MAX_BATCH": "0", "LINECHECK_INSPECTOR_QUEUE_SIZE": "many"},
            "LINECHECK_INSPECTOR_MAX_BATCH='0': Input should be greater than or equal to 1; "
            "LINECHECK_INSPECTOR_QUEUE_SIZE='many': Input should be a valid integer",
            id="several-problems-in-one-line",
        ),
    ],
)
def test_a_bad_setting_stops_the_command_with_one_line(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    result = _run(args, env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"plc": 31337}', "LINECHECK_INSPECTOR_OPCUA_USERS['plc']='***': Input should be a valid string"),
        ('{"plc": "31337"', "LINECHECK_INSPECTOR_OPCUA_USERS='***': expected JSON"),
    ],
)
def test_a_secret_setting_is_named_but_its_value_is_not_printed(value: str, expected: str) -> None:
    result = _run(INSPECT, {"LINECHECK_INSPECTOR_OPCUA_USERS": value})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert expected in result.stderr
    assert "31337" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("field", "secret"),
    [
        ("password", True),  # a secret type
        ("api_token", True),  # a name ending in a secret word
        ("token_ttl_s", False),  # a secret word, but the name says how long, not what
        ("users", True),  # hidden from repr
        ("key_file", False),  # a path says where a secret is, not what it is
        ("low", False),
    ],
)
def test_which_fields_are_secret(field: str, secret: bool) -> None:
    assert is_secret(_Secrets, field) is secret


def test_every_bad_value_is_named_and_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECHECK_SECRETS_TOKEN_TTL_S", "soon")
    monkeypatch.setenv("LINECHECK_SECRETS_API_TOKEN", "s3cret-and-too-long")
    monkeypatch.setenv("LINECHECK_SECRETS_LOW", "x")
    with pytest.raises(SettingsError) as info:
        read_settings(_Secrets)
    assert info.value.problems == (
        "LINECHECK_SECRETS_TOKEN_TTL_S='soon': Input should be a valid number, unable to parse string as a "
        "number",
        "LINECHECK_SECRETS_API_TOKEN='***': String should have at most 8 characters",
        "LINECHECK_SECRETS_LOW='x': Input should be a valid integer, unable to parse string as an integer",
    )
    assert str(info.value) == "; ".join(info.value.problems) and "s3cret" not in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_a_rule_over_several_fields_names_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECHECK_SECRETS_LOW", "5")
    with pytest.raises(SettingsError, match=r"^LINECHECK_SECRETS_HIGH=0 must be >= LINECHECK_SECRETS_LOW=5$"):
        read_settings(_Secrets)
    monkeypatch.setenv("LINECHECK_INSPECTOR_RETRY_MIN_S", "40")
    expected = r"^LINECHECK_INSPECTOR_RETRY_MAX_S=30\.0 must be >= LINECHECK_INSPECTOR_RETRY_MIN_S=40\.0$"
    with pytest.raises(SettingsError, match=expected):
        read_settings(InspectorSettings)


def test_a_value_given_in_code_is_named_by_its_variable_too() -> None:
    with pytest.raises(SettingsError, match=r"^LINECHECK_API_MAX_BATCH=0: Input should be greater"):
        read_settings(ApiSettings, max_batch=0)


def test_the_api_app_started_by_uvicorn_fails_with_the_same_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from linecheck.serving.api.app import create_app

    monkeypatch.setenv("LINECHECK_API_SHIFT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError, match=r"^LINECHECK_API_SHIFT_TIMEZONE='Mars/Olympus': not a known"):
        create_app()


@pytest.mark.parametrize(
    ("settings_cls", "variable", "value", "field", "expected"),
    [
        (InspectorSettings, "LINECHECK_INSPECTOR_MAX_BATCH", "3", "max_batch", 3),
        (ApiSettings, "LINECHECK_API_PORT", "8080", "port", 8080),
        (TritonSettings, "LINECHECK_TRITON_PREFERRED_BATCH_SIZES", "[2, 4]", "preferred_batch_sizes", [2, 4]),
        (PathSettings, "LINECHECK_MODELS_DIR", "/srv/models", "models_dir", Path("/srv/models")),
    ],
)
def test_valid_settings_still_load(
    monkeypatch: pytest.MonkeyPatch,
    settings_cls: type[ServiceSettings],
    variable: str,
    value: str,
    field: str,
    expected: object,
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(read_settings(settings_cls), field) == expected


@pytest.mark.parametrize("settings_cls", settings_classes(), ids=lambda cls: cls.__name__)
def test_every_settings_class_loads_from_an_empty_environment(settings_cls: type[ServiceSettings]) -> None:
    assert isinstance(read_settings(settings_cls), settings_cls)


def test_linecheck_builds_its_settings_only_through_read_settings() -> None:
    """``XSettings()`` anywhere in linecheck/ would bring the traceback back for that path."""
    names = {cls.__name__ for cls in settings_classes()}
    direct = sorted(
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in (ROOT / "linecheck").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in names
    )
    assert direct == []
