"""Environment variables: one prefix per service, old names warned about, the README table kept true."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.config import PathSettings
from linecheck.errors import ConfigError
from linecheck.inspect.settings import InspectorSettings
from linecheck.serving.api.settings import ApiSettings
from linecheck.settings_catalog import env_table, settings_classes
from linecheck.settings_env import (
    OLD_FIELDS,
    SHARED_PREFIX,
    DeprecatedSettingWarning,
    ServiceSettings,
    env_name,
    renamed,
)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TABLE_START = "<!-- linecheck config env: start -->\n"
TABLE_END = "<!-- linecheck config env: end -->"


def _all_names() -> dict[str, list[type[ServiceSettings]]]:
    names: dict[str, list[type[ServiceSettings]]] = {}
    for cls in settings_classes():
        for field in cls.model_fields:
            names.setdefault(env_name(cls, field), []).append(cls)
    return names


@pytest.fixture(autouse=True)
def _no_linecheck_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment with no linecheck variable, old or new."""
    for name in [*_all_names(), *renamed()]:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("variable", "changed", "unchanged"),
    [
        ("LINECHECK_API_MAX_BATCH", ApiSettings, InspectorSettings),
        ("LINECHECK_INSPECTOR_MAX_BATCH", InspectorSettings, ApiSettings),
    ],
)
def test_a_service_prefix_changes_only_that_service(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    changed: type[ServiceSettings],
    unchanged: type[ServiceSettings],
) -> None:
    monkeypatch.setenv(variable, "3")
    assert changed().max_batch == 3  # type: ignore[attr-defined]
    assert unchanged().max_batch == unchanged.model_fields["max_batch"].default  # type: ignore[attr-defined]


def test_an_old_name_still_works_with_a_warning_naming_the_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECHECK_DATABASE_URL", "postgresql+psycopg://u@db/old")
    with pytest.warns(
        DeprecatedSettingWarning, match="LINECHECK_DATABASE_URL is deprecated; use LINECHECK_API_DATABASE_URL"
    ):
        settings = ApiSettings()
    assert settings.database_url == "postgresql+psycopg://u@db/old"


def test_an_old_list_value_is_parsed_like_the_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECHECK_SHIFT_STARTS", '["18:00", "06:00"]')
    with pytest.warns(DeprecatedSettingWarning, match="use LINECHECK_API_SHIFT_STARTS"):
        settings = ApiSettings()
    assert [t.hour for t in settings.shift_starts] == [6, 18]


def test_the_new_name_wins_over_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECHECK_API_KEY", "lc_old")
    monkeypatch.setenv("LINECHECK_INSPECTOR_API_KEY", "lc_new")
    with pytest.warns(DeprecatedSettingWarning, match="LINECHECK_INSPECTOR_API_KEY is set too and wins"):
        settings = InspectorSettings()
    assert settings.api_key == "lc_new"


def test_an_old_inspector_name_under_the_api_prefix_is_not_read_by_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINECHECK_API_KEY", "lc_line")
    settings = ApiSettings()  # no warning either: LinecheckWarning is an error in the tests
    assert "lc_line" not in settings.model_dump_json()


@pytest.mark.parametrize("settings_cls", [ApiSettings, InspectorSettings])
def test_an_old_name_two_services_read_is_refused_naming_both_new_ones(
    monkeypatch: pytest.MonkeyPatch, settings_cls: type[ServiceSettings]
) -> None:
    monkeypatch.setenv("LINECHECK_MAX_BATCH", "8")
    with pytest.raises(
        ConfigError, match="LINECHECK_API_MAX_BATCH and LINECHECK_INSPECTOR_MAX_BATCH"
    ) as info:
        settings_cls()
    assert "LINECHECK_MAX_BATCH is set" in str(info.value)


def test_shared_paths_keep_the_bare_prefix_and_the_api_reads_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LINECHECK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LINECHECK_INSPECTOR_DIR", str(tmp_path / "outbox"))
    assert PathSettings().data_dir == ApiSettings().data_dir == tmp_path
    assert InspectorSettings().inspector_dir == tmp_path / "outbox"
    assert ApiSettings(data_dir=tmp_path / "x").data_dir == tmp_path / "x"


def test_only_the_max_batch_old_name_is_ambiguous() -> None:
    ambiguous = {old: new for old, new in renamed().items() if len(new) > 1}
    assert ambiguous == {"LINECHECK_MAX_BATCH": ("LINECHECK_API_MAX_BATCH", "LINECHECK_INSPECTOR_MAX_BATCH")}


def test_every_old_field_still_exists_under_its_prefixed_name() -> None:
    by_prefix = {str(cls.model_config["env_prefix"]): cls for cls in settings_classes()}
    for prefix, fields in OLD_FIELDS.items():
        for field in fields:
            assert env_name(by_prefix[prefix], field) == prefix + field.upper()


def test_no_old_name_is_also_a_current_name() -> None:
    assert set(renamed()) & set(_all_names()) == set()


def test_each_service_has_its_own_prefix_and_only_shared_paths_are_read_twice() -> None:
    prefixes = [str(cls.model_config["env_prefix"]) for cls in settings_classes()]
    assert len(set(prefixes)) == len(prefixes)
    assert all(p == SHARED_PREFIX or (p.startswith(SHARED_PREFIX) and p.endswith("_")) for p in prefixes)
    shared = {env_name(PathSettings, f) for f in PathSettings.model_fields}
    read_twice = {name for name, owners in _all_names().items() if len(owners) > 1}
    assert read_twice <= shared


def test_every_settings_class_in_linecheck_is_registered() -> None:
    found: set[str] = set()
    for path in (ROOT / "linecheck").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", "")) in ("BaseSettings", "ServiceSettings")
                for base in node.bases
            ):
                found.add(node.name)
    assert found - {"ServiceSettings"} == {cls.__name__ for cls in settings_classes()}
    assert all(issubclass(cls, ServiceSettings) and cls.env_title for cls in settings_classes())


def test_every_field_has_a_meaning() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls in settings_classes()
        for name, field in cls.model_fields.items()
        if not field.description
    ]
    assert missing == []


def test_readme_lists_every_variable_as_linecheck_config_env_prints_it() -> None:
    text = README.read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text, "README lost its environment variable section markers"
    section = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    listed = set(re.findall(r"^\| `(LINECHECK_[A-Z0-9_]+)` \|", section, flags=re.MULTILINE))
    assert set(_all_names()) - listed == set(), "run `linecheck config env` and paste it into the README"
    assert section == env_table(), "README table is stale: paste the output of `linecheck config env`"


def test_linecheck_config_env_prints_the_table() -> None:
    result = CliRunner().invoke(app, ["config", "env"])
    assert result.exit_code == 0, result.output
    assert result.output == env_table()


def test_docs_and_code_name_only_current_variables() -> None:
    """Every ``LINECHECK_*`` name outside the tests and the rename rules is one a settings class reads."""
    current = set(_all_names())
    prefixes = {str(cls.model_config["env_prefix"]) for cls in settings_classes()}
    files = [
        *(ROOT / "linecheck").rglob("*.py"),
        *(ROOT / "bench").rglob("*.py"),
        *(ROOT / "docs").rglob("*.md"),
    ]
    files += [
        *(ROOT / "deploy").rglob("*.md"),
        ROOT / "Makefile",
        ROOT / "Dockerfile.cuda",
        ROOT / ".ci" / "run",
    ]
    texts = {path: path.read_text(encoding="utf-8") for path in files if path.is_file()}
    readme = README.read_text(encoding="utf-8")
    head, _, rest = readme.partition("## Environment variables\n")
    texts[README] = head + rest.split(TABLE_END, 1)[-1]
    stale = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path, text in texts.items()
        if path.name != "settings_env.py"
        for name in re.findall(r"\bLINECHECK_[A-Z0-9_]*", text)
        if name not in current and name not in prefixes
    )
    assert stale == []
