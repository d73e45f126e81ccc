"""One demo line through the real stack: embedded Triton with an extra registry, the API, an inspector.

For the tests of the models the demo trains at its first start (the textile anomaly model, the PV
cell classifier): the line runs as the demo runs it, its frames go through Triton to the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from linecheck.config import LineConfig, get_path_settings
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.demo_anomaly import write_lines
from linecheck.inspect.demo_stack import DemoStack
from linecheck.inspect.detectors import triton_factories
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def demo_line_stack(line: LineConfig, extra_registry: Path, workdir: Path) -> Iterator[DemoStack]:
    """Triton (the starter models and ``extra_registry``) and the API for ``line`` as the demo writes it."""
    write_lines([line], ROOT / "configs" / "lines", workdir / "lines")
    with DemoStack(
        lines=[line],
        workdir=workdir,
        registry_root=get_path_settings().models_dir,
        extra_registries=[extra_registry],
        lines_dir=workdir / "lines",
        port=0,
    ) as running:
        yield running


def inspect_all(
    stack: DemoStack,
    line: LineConfig,
    source: SourceSpec,
    inspector_dir: Path,
    observers: Sequence[Callable[..., None]] = (),
) -> None:
    """Run ``line``'s inspector over ``source`` (a finite one) until every result reached the API."""
    service = InspectorService(
        [line],
        detectors=triton_factories([line], url=stack.triton_url, timeout_s=25),
        settings=InspectorSettings(
            inspector_dir=inspector_dir,
            api_url=stack.api_url,
            api_key=stack.line_keys[line.id],
            retry_min_s=0.2,
            send_interval_s=0.05,
            deadline_s=60,
            infer_timeout_s=30,
        ),
        client=ApiClient(stack.api_url, stack.line_keys[line.id]),
        sources=[source],
        observers=list(observers),
    )
    service.start()
    try:
        assert service.wait_sources(240) and service.drain(120) and service.wait_delivered(60)
    finally:
        service.stop()


def api_get(stack: DemoStack, path: str, **params: Any) -> Any:
    """``GET path`` on the stack's API as its viewer: the JSON body."""
    got = httpx.get(
        f"{stack.api_url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {stack.viewer_key}"},
        timeout=30,
    )
    got.raise_for_status()
    return got.json()
