"""ApiSettings: LINECHECK_API_ environment variables, defaults and rejected values."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from linecheck.serving.api.settings import ApiSettings


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LINECHECK_API_DATABASE_URL", "postgresql+psycopg://u@db/lc")
    monkeypatch.setenv("LINECHECK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LINECHECK_API_SHIFT_STARTS", '["14:00", "06:00"]')
    monkeypatch.setenv("LINECHECK_API_MIGRATE_ON_START", "false")
    settings = ApiSettings()
    assert settings.resolved_database_url() == "postgresql+psycopg://u@db/lc"
    assert settings.resolved_images_dir() == tmp_path / "images"
    assert settings.shift_starts == [time(6), time(14)]
    assert settings.migrate_on_start is False


def test_default_database_is_sqlite_under_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LINECHECK_API_DATABASE_URL", raising=False)
    settings = ApiSettings(data_dir=tmp_path)
    assert settings.resolved_database_url() == f"sqlite+pysqlite:///{tmp_path.resolve() / 'linecheck.db'}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("shift_timezone", "Mars/Olympus"),
        ("epcis_base_uri", "no scheme here"),
        ("shift_starts", []),
        ("max_batch", 0),
        ("port", 70000),
    ],
)
def test_bad_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        ApiSettings(**{field: value})  # type: ignore[arg-type]
    assert field in str(info.value)
