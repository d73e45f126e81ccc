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

Settings are built with :func:`read_settings`: a bad value becomes a :class:`~linecheck.errors.SettingsError`
naming its variable and the value given (a secret's value shown as ``'***'``); the CLI prints it as one line.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args

from pydantic import SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceParseError

from linecheck.errors import ConfigError, LinecheckWarning, SettingsError

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


#: A field whose name ends in one of these (``api_key``, ``mqtt_password``) is secret: an error shows its
#: value as ``'***'``. Only the last word counts: ``key_cache_seconds`` and ``token_ttl_s`` say how, not what.
SECRET_WORDS = ("key", "password", "secret", "token")

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


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


def is_secret(settings_cls: type[BaseSettings], field: str) -> bool:
    """Whether ``field``'s value must never be printed.

    A secret type, a name ending in one of :data:`SECRET_WORDS` or a field hidden from ``repr`` is secret; a
    path is not (it says where a secret is kept, not what it is).
    """
    info = settings_cls.model_fields[field]
    if _holds(info.annotation, (SecretStr, SecretBytes)):
        return True
    if _holds(info.annotation, (Path,)):
        return False
    return not info.repr or field.lower().rsplit("_", 1)[-1] in SECRET_WORDS


def shown(settings: BaseSettings, field: str) -> str:
    """``VARIABLE='value'`` (or ``VARIABLE unset``) of one field, as a rule over several fields names it."""
    settings_cls = type(settings)
    value = getattr(settings, field)
    if value is None:
        return f"{env_name(settings_cls, field)} unset"
    return f"{env_name(settings_cls, field)}={_value(settings_cls, field, value)}"


def read_settings(settings_cls: type[SettingsT], **values: Any) -> SettingsT:
    """``settings_cls(**values)``, the rest read from the environment; every bad value named in one error.

    Raises:
        SettingsError: a value is not accepted; the message names each one by its environment variable and
            the value given (``LINECHECK_API_PORT='x': Input should be a valid integer``), joined by ``'; '``.

    """
    try:
        return settings_cls(**values)
    except ValidationError as exc:
        raise SettingsError([_problem(settings_cls, error) for error in exc.errors()]) from None
    except SourceParseError as exc:  # a list or dict value that is not JSON
        raise SettingsError([_unparsed(settings_cls, exc)]) from None


def _holds(annotation: Any, types: tuple[type, ...]) -> bool:
    """Whether ``annotation`` is one of ``types`` or has one inside (``SecretStr | None``, ``list[Path]``)."""
    if isinstance(annotation, type) and issubclass(annotation, types):
        return True
    return any(_holds(arg, types) for arg in get_args(annotation))


def _value(settings_cls: type[BaseSettings], field: str, value: Any) -> str:
    if is_secret(settings_cls, field):
        return repr("***")
    if isinstance(value, bool | int | float | str):
        return repr(value)
    return repr(str(value))


def _field(settings_cls: type[BaseSettings], key: object) -> str | None:
    """The field an error's location starts with: its name, or the variable it reads (its alias)."""
    for name, info in settings_cls.model_fields.items():
        alias = info.validation_alias
        if key == name or (isinstance(alias, str) and str(key).upper() == alias.upper()):
            return name
    return None


def _problem(settings_cls: type[BaseSettings], error: ErrorDetails) -> str:
    reason = error["msg"].removeprefix("Value error, ")
    loc = error["loc"]
    field = _field(settings_cls, loc[0]) if loc else None
    if field is None:  # a rule over several fields: its message names their variables (see shown)
        return reason
    where = env_name(settings_cls, field) + "".join(f"[{part!r}]" for part in loc[1:])
    if error["type"] == "missing":
        return f"{where}: {reason}"
    return f"{where}={_value(settings_cls, field, error['input'])}: {reason}"


def _unparsed(settings_cls: type[BaseSettings], exc: SourceParseError) -> str:
    found = re.search(r'field "(\w+)"', str(exc))
    field = _field(settings_cls, found.group(1)) if found else None
    cause = exc.__cause__
    if field is None or not isinstance(cause, json.JSONDecodeError):
        return str(exc)
    value = _value(settings_cls, field, cause.doc)
    return f"{env_name(settings_cls, field)}={value}: expected JSON ({cause.msg})"


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
