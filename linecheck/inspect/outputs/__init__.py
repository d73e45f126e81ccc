"""Line outputs: OPC UA Machine Vision server, MQTT (+ Sparkplug B), Modbus TCP reject coil, signals.

Each output is found by name through :mod:`linecheck.line_outputs` (entry point group
``linecheck.outputs``); :func:`build_outputs` builds one per output named by any of the lines.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import replace

from linecheck.config import LineConfig
from linecheck.errors import ConfigError
from linecheck.inspect.outputs.base import LineOutput, OutputContext
from linecheck.line_outputs import get_output


def _runtime(target: str) -> type[LineOutput]:
    module_name, _, attr = target.partition(":")
    runtime = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(runtime, type) and issubclass(runtime, LineOutput)):
        raise ConfigError(f"line output runtime {target!r} is not a LineOutput subclass")
    return runtime


def build_outputs(lines: Sequence[LineConfig], context: OutputContext) -> list[LineOutput]:
    """One output per output name that ``lines`` use, each for the lines naming it (not started)."""
    names = sorted({name for line in lines for name in line.outputs.sections})
    outputs: list[LineOutput] = []
    for name in names:
        spec = get_output(name)
        users = [line for line in lines if name in line.outputs.sections]
        outputs.append(_runtime(spec.runtime)(_for(context, users)))
    return outputs


def _for(context: OutputContext, lines: Sequence[LineConfig]) -> OutputContext:
    return replace(context, lines=list(lines))
