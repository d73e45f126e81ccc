"""Modbus TCP reject output: a coil per reject gate, pulsed for each rejected unit (``pymodbus``).

Per line (``outputs.modbus`` in its YAML): ``host``, ``port``, ``unit_id``, ``coil``, ``pulse_ms``.
A rejected unit (``fail`` or ``not_inspected``, including a unit the reject deadline decided) sets
the coil at once; a releaser thread clears it ``pulse_ms`` later (a reject arriving during a pulse
extends it). Passed units write nothing. A gate that cannot be reached is reconnected on the next
unit; each unit it missed is logged and counted in ``linecheck_inspector_output_failures_total``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from linecheck.errors import LinecheckError
from linecheck.inspect.gate import UnitOutcome
from linecheck.inspect.outputs.base import OutputContext, QueuedOutput
from linecheck.line_outputs import ModbusLineOptions

log = logging.getLogger(__name__)


class ModbusOutputError(LinecheckError):
    """A Modbus TCP server did not take a coil write."""


@dataclass(kw_only=True)
class _Gate:
    """One line's reject coil and its client."""

    line_id: str
    options: ModbusLineOptions
    client: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    off_at: float | None = None
    pulses: int = 0


class ModbusOutput(QueuedOutput):
    """Pulses each line's reject coil on a Modbus TCP server."""

    name: ClassVar[str] = "modbus"

    def __init__(self, context: OutputContext) -> None:
        from pymodbus.client import ModbusTcpClient

        super().__init__(context)
        self.gates: dict[str, _Gate] = {}
        for line in context.lines:
            options = line.outputs.section(self.name)
            assert isinstance(options, ModbusLineOptions)
            client = ModbusTcpClient(
                options.host, port=options.port, timeout=options.timeout_s, retries=0, reconnect_delay=0
            )
            self.gates[line.id] = _Gate(line_id=line.id, options=options, client=client)
        self._releaser = threading.Thread(target=self._release_loop, name="modbus-release", daemon=True)
        self._closing = threading.Event()

    def connect(self) -> None:
        """Connect every gate (one that is down is connected again on its next reject)."""
        for gate in self.gates.values():
            with gate.lock:
                if not gate.client.connect():
                    log.warning(
                        "modbus: reject gate of %s at %s:%d not reachable yet",
                        gate.line_id,
                        gate.options.host,
                        gate.options.port,
                    )
        self._releaser.start()

    @staticmethod
    def _write(gate: _Gate, value: bool) -> None:
        """Write the coil (the caller holds ``gate.lock``)."""
        from pymodbus.exceptions import ModbusException

        opts = gate.options
        if not gate.client.connected and not gate.client.connect():
            raise ModbusOutputError(f"{opts.host}:{opts.port} not reachable")
        try:
            answer = gate.client.write_coil(opts.coil, value, device_id=opts.unit_id)
        except ModbusException as exc:
            gate.client.close()
            raise ModbusOutputError(f"{opts.host}:{opts.port} coil {opts.coil}: {exc}") from exc
        if answer.isError():
            raise ModbusOutputError(f"{opts.host}:{opts.port} coil {opts.coil} refused: {answer}")

    def deliver(self, outcome: UnitOutcome) -> None:
        """Set the coil for a rejected unit and schedule its release (a pulse in progress is extended)."""
        if not outcome.reject:
            return
        gate = self.gates[outcome.line_id]
        with gate.lock:
            self._write(gate, True)
            gate.pulses += 1
            gate.off_at = time.monotonic() + gate.options.pulse_ms / 1000.0

    def _handle(self, outcome: UnitOutcome) -> None:
        if outcome.reject:
            super()._handle(outcome)

    def _release_loop(self) -> None:
        while True:
            now = time.monotonic()
            for gate in self.gates.values():
                if gate.off_at is None or now < gate.off_at:
                    continue
                with gate.lock:
                    if gate.off_at is None or time.monotonic() < gate.off_at:
                        continue  # extended by a reject that came meanwhile
                    gate.off_at = None
                    try:
                        self._write(gate, False)
                    except ModbusOutputError as exc:
                        self.context.output_metrics.failed(self.name, gate.line_id)
                        log.error("modbus: cannot release the reject coil of %s: %s", gate.line_id, exc)
            if self._closing.is_set() and all(g.off_at is None for g in self.gates.values()):
                return
            time.sleep(0.002)

    def disconnect(self) -> None:
        """Finish the pulses in progress, then close the clients."""
        self._closing.set()
        if self._releaser.is_alive():
            self._releaser.join(timeout=15.0)
        for gate in self.gates.values():
            with gate.lock:
                gate.client.close()

    def status(self) -> dict[str, Any]:
        """Counts plus pulses per line."""
        return {**super().status(), "pulses": {lid: g.pulses for lid, g in self.gates.items()}}
