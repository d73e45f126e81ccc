"""How linecheck's settings classes are named in the environment, and the names they replaced.

Every service reads its own prefix: ``LINECHECK_API_`` (:class:`~linecheck.serving.api.settings.ApiSettings`),
``LINECHECK_INSPECTOR_`` (:class:`~linecheck.inspect.settings.InspectorSettings`), ``LINECHECK_TRITON_``
(:class:`~linecheck.serving.triton.settings.TritonSettings`), ``LINECHECK_REVIEWS_`` (``linecheck data
from-reviews``) and ``LINECHECK_TEST_`` (the test harness). The paths every service shares keep the bare
``LINECHECK_`` prefix: ``LINECHECK_LINES_DIR``, ``LINECHECK_MODELS_DIR``, ``LINECHECK_DATA_DIR``
(:class:`~linecheck.config.PathSettings`). A field may name its variable outright
(``validation_alias``) when the prefixed name would be clumsy or must be the shared one.

Until 2026-12 the API and the inspector both read ``LINECHECK_<FIELD>``. Those old names (:data:`OLD_FIELDS`)
still work, with a :class:`DeprecatedSettingWarning` naming the new variable; the new variable wins when both
are set. An old name that two services read (``LINECHECK_MAX_BATCH``) meant different things to each, so it is
refused with a :class:`~linecheck.errors.ConfigError` naming both new variables.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from linecheck.errors import ConfigError, LinecheckWarning

#: Prefix of the shared paths and of every old name.
SHARED_PREFIX = "LINECHECK_"

#: Fields each service used to read as ``LINECHECK_<FIELD>``, keyed by the service's prefix now. Frozen:
#: fields added later have no old name. The API's ``data_dir`` / ``lines_dir`` and the inspector's
#: ``inspector_dir`` are absent because their variables did not change.
OLD_FIELDS: dict[str, tuple[str, ...]] = {
    "LINECHECK_API_": (
        "database_url", "images_dir", "migrate_on_start", "sync_lines_on_start", "host", "port",
        "max_batch", "max_body_bytes", "max_image_bytes", "sqlite_busy_timeout_ms", "db_pool_size",
        "rate_limit_per_s", "rate_limit_burst", "key_cache_seconds", "line_cache_seconds", "shift_starts",
        "shift_timezone", "epcis_base_uri", "trace_max_depth",
    ),
    "LINECHECK_INSPECTOR_": (
        "api_url", "api_key", "api_timeout_s", "max_batch", "max_delay_ms", "infer_timeout_s", "deadline_s",
        "reconnect_min_s", "reconnect_max_s", "queue_size", "queue_wait_s", "send_batch", "send_interval_s",
        "retry_min_s", "retry_max_s", "keep_sent_images", "image_store_full_retries", "metrics_host",
        "metrics_port",
    ),
    "LINECHECK_TEST_": ("chromium", "chromedriver"),
}  # fmt: skip


class DeprecatedSettingWarning(LinecheckWarning):
    """An old environment variable name was used; the message names the new one."""


def renamed() -> dict[str, tuple[str, ...]]:
    """Old variable -> the new variable(s) it stood for; two or more means it is refused as ambiguous."""
    table: dict[str, tuple[str, ...]] = {}
    for prefix, fields in OLD_FIELDS.items():
        for field in fields:
            old = SHARED_PREFIX + field.upper()
            table[old] = (*table.get(old, ()), prefix + field.upper())
    return table


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable ``settings_cls`` reads ``field`` from."""
    alias = settings_cls.model_fields[field].validation_alias
    if isinstance(alias, str):
        return alias.upper()
    return str(settings_cls.model_config.get("env_prefix", "")).upper() + field.upper()


class _OldNameSource(EnvSettingsSource):
    """Reads a service's old ``LINECHECK_<FIELD>`` names, below its new names in priority."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls, env_prefix=SHARED_PREFIX)
        self._old = frozenset(OLD_FIELDS.get(str(settings_cls.model_config.get("env_prefix", "")), ()))
        self._renamed = renamed()

    def __call__(self) -> dict[str, Any]:
        for field_name in sorted(self._old):  # here, not per field: pydantic-settings wraps those errors
            old = SHARED_PREFIX + field_name.upper()
            if self._is_set(old):
                self._complain(old)
        return super().__call__()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name not in self._old:
            return None, field_name, False
        return super().get_field_value(field, field_name)

    def _is_set(self, name: str) -> bool:
        return self.env_vars.get(name if self.case_sensitive else name.lower()) is not None

    def _complain(self, old: str) -> None:
        new = self._renamed[old]
        if len(new) > 1:
            raise ConfigError(
                f"{old} is set, but it meant a different setting to each service; "
                f"set {' and '.join(new)} instead and unset {old}"
            )
        message = f"{old} is deprecated; use {new[0]}"
        if self._is_set(new[0]):
            message += f" ({new[0]} is set too and wins)"
        warnings.warn(message, DeprecatedSettingWarning, stacklevel=2)


class ServiceSettings(BaseSettings):
    """Base of every linecheck settings class: its own env prefix, old names read with a warning.

    Subclasses set ``model_config = SettingsConfigDict(env_prefix="LINECHECK_<SERVICE>_")``.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    #: Heading of this class's group in the README's environment variable table.
    env_title: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init arguments, then the new names, then the old names, then .env and secrets."""
        return (
            init_settings,
            env_settings,
            _OldNameSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )
