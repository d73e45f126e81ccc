"""The kinds linecheck knows: the three built-ins and plug-ins from the ``linecheck.kinds`` entry points.

A third-party package adds a kind without editing linecheck by declaring, in its packaging
metadata::

    [project.entry-points."linecheck.kinds"]
    glass = "linecheck_glass:SPEC"

where ``SPEC`` is a :class:`~linecheck.kinds.base.KindSpec` instance (or subclass) whose ``name``
matches the entry point's name. Entry points are read once per process, on first look-up;
:func:`reload_kinds` reads them again (tests, hot-installed plug-ins).
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points
from typing import Any

from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.kinds.base import KindSpec

ENTRY_POINT_GROUP = "linecheck.kinds"

_lock = threading.Lock()
_kinds: dict[str, KindSpec[Any]] | None = None


def _builtins() -> list[KindSpec[Any]]:
    from linecheck.kinds.bearing import BearingSpec
    from linecheck.kinds.pv import PVSpec
    from linecheck.kinds.textile import TextileSpec

    return [TextileSpec(), BearingSpec(), PVSpec()]


def _as_spec(obj: Any, origin: str) -> KindSpec[Any]:
    if isinstance(obj, type) and issubclass(obj, KindSpec):
        obj = obj()
    if not isinstance(obj, KindSpec):
        raise ConfigError(f"{origin}: expected a linecheck KindSpec (instance or subclass), got {obj!r}")
    for attr in ("name", "classes", "code_prefix", "options_model", "location_model"):
        if not hasattr(obj, attr):
            raise ConfigError(f"{origin}: kind spec {type(obj).__name__} does not set {attr!r}")
    return obj


def _load() -> dict[str, KindSpec[Any]]:
    kinds: dict[str, KindSpec[Any]] = {spec.name: spec for spec in _builtins()}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP})"
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plug-in must say which one it is
            raise ConfigError(f"{origin}: cannot be loaded: {exc}") from exc
        spec = _as_spec(loaded, origin)
        if spec.name != ep.name:
            raise ConfigError(f"{origin}: the spec is named {spec.name!r}, expected {ep.name!r}")
        if spec.name in kinds:
            raise ConfigError(f"{origin}: kind {spec.name!r} is already registered")
        kinds[spec.name] = spec
    return kinds


def all_kinds() -> dict[str, KindSpec[Any]]:
    """Every registered kind by name (built-ins first, then plug-ins by name)."""
    global _kinds
    with _lock:
        if _kinds is None:
            _kinds = _load()
        return dict(_kinds)


def kind_names() -> list[str]:
    """Names of the registered kinds."""
    return list(all_kinds())


def get_kind(name: str) -> KindSpec[Any]:
    """The spec of kind ``name``, or an error naming the registered kinds."""
    kinds = all_kinds()
    spec = kinds.get(name) if isinstance(name, str) else None
    if spec is None:
        raise InvalidFieldError("kind", name, f"expected one of {', '.join(kinds)}")
    return spec


def register_kind(spec: KindSpec[Any]) -> None:
    """Register ``spec`` in this process (plug-ins normally use the entry point instead)."""
    spec = _as_spec(spec, f"register_kind({type(spec).__name__})")
    all_kinds()
    with _lock:
        assert _kinds is not None
        if spec.name in _kinds and _kinds[spec.name] is not spec:
            raise ConfigError(f"kind {spec.name!r} is already registered")
        _kinds[spec.name] = spec


def reload_kinds() -> None:
    """Forget the registered kinds; the next look-up reads the built-ins and entry points again."""
    global _kinds
    with _lock:
        _kinds = None
