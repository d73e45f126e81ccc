"""Modbus TCP line output: a reject coil per gate, and PLC jobs through holding registers (``pymodbus``).

Per line (``outputs.modbus`` in its YAML): ``host``, ``port``, ``unit_id``, ``coil``, ``pulse_ms``, and
``alarm_coil``: held on while the line has a run alarm no operator acknowledged
(:mod:`linecheck.inspect.alarm_watch`; written at start, then whenever the line's alarms change).
A rejected unit (``fail`` or ``not_inspected``, including a unit the reject deadline decided) sets
the coil at once; a releaser thread clears it ``pulse_ms`` later (a reject arriving during a pulse
extends it). Passed units write nothing. A gate that cannot be reached is reconnected on the next
unit; each unit it missed is logged and counted in ``linecheck_inspector_output_failures_total``.

With ``trigger:`` the same server is the PLC's trigger handshake: a counter in holding registers
starts a job per step, and each job's answer is written back next to it
(:mod:`linecheck.inspect.outputs.modbus_trigger`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from linecheck.errors import LinecheckError
from linecheck.inspect.gate import RESULT_EVALUATION, UnitOutcome
from linecheck.inspect.outputs.base import OutputContext, QueuedOutput
from linecheck.inspect.outputs.modbus_trigger import TriggerPoller
from linecheck.inspect.workers import RateLimitedLog
from linecheck.line_outputs import ModbusLineOptions, ModbusTriggerOptions
from linecheck.messages import Verdict

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
    poller: TriggerPoller | None = None
    answers: int = 0
    #: The alarm coil must be written again (the line's alarms changed, or the last write failed).
    alarm_dirty: bool = False
    alarm_on: bool | None = None


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
            gate = self.gates[line.id] = _Gate(line_id=line.id, options=options, client=client)
            if options.trigger is not None:
                gate.poller = self._poller(gate, options.trigger)
        self._releaser = threading.Thread(target=self._release_loop, name="modbus-release", daemon=True)
        self._closing = threading.Event()
        self._alarm_warn = RateLimitedLog(log)
        if context.alarms is not None:
            context.alarms.listen(self._alarms_changed)
        for gate in self.gates.values():
            gate.alarm_dirty = gate.options.alarm_coil is not None  # written at start: off, or on

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
        for gate in self.gates.values():
            if gate.poller is not None:
                gate.poller.start()

    def _poller(self, gate: _Gate, trigger: ModbusTriggerOptions) -> TriggerPoller:
        def read(address: int, count: int) -> list[int]:
            return self._read(gate, address, count)

        def refused(counter: int) -> None:
            self._answer(gate, counter, RESULT_EVALUATION[Verdict.NOT_INSPECTED], 0)

        line = next(line for line in self.context.lines if line.id == gate.line_id)
        return TriggerPoller(
            gate.line_id,
            trigger,
            read=read,
            job=self.context.gate.job,
            refused=refused,
            products=line.product_ids,
        )

    @staticmethod
    def _request(gate: _Gate, what: str, call: Callable[[Any], Any]) -> Any:
        """``call(client)`` on ``gate``'s server, connecting first (the caller holds ``gate.lock``).

        Raises:
            ModbusOutputError: not reachable, the exchange failed (the client is closed), or refused.

        """
        from pymodbus.exceptions import ModbusException

        opts = gate.options
        if not gate.client.connected and not gate.client.connect():
            raise ModbusOutputError(f"{opts.host}:{opts.port} not reachable")
        try:
            answer = call(gate.client)
        except ModbusException as exc:
            gate.client.close()
            raise ModbusOutputError(f"{opts.host}:{opts.port} {what}: {exc}") from exc
        if answer.isError():
            raise ModbusOutputError(f"{opts.host}:{opts.port} {what} refused: {answer}")
        return answer

    def _read(self, gate: _Gate, address: int, count: int) -> list[int]:
        """``count`` holding registers from ``address`` (the trigger poller's read)."""
        unit = gate.options.unit_id
        with gate.lock:
            answer = self._request(
                gate,
                f"registers {address}+{count}",
                lambda client: client.read_holding_registers(address, count=count, device_id=unit),
            )
        return list(answer.registers)

    def _answer(self, gate: _Gate, counter: int, evaluation: int, defects: int) -> None:
        """Write ``[counter, evaluation, defect count]`` at the line's result register, in one request."""
        trigger = gate.options.trigger
        if trigger is None or trigger.result_register is None:
            return
        at, unit = trigger.result_register, gate.options.unit_id
        values = [counter, evaluation, min(defects, 65535)]
        with gate.lock:
            self._request(
                gate,
                f"result registers {at}+3",
                lambda client: client.write_registers(at, values, device_id=unit),
            )
            gate.answers += 1

    @staticmethod
    def _write(gate: _Gate, value: bool) -> None:
        """Write the coil (the caller holds ``gate.lock``)."""
        coil, unit = gate.options.coil, gate.options.unit_id
        ModbusOutput._request(
            gate, f"coil {coil}", lambda client: client.write_coil(coil, value, device_id=unit)
        )

    def deliver(self, outcome: UnitOutcome) -> None:
        """Pulse the coil for a rejected unit; answer a job the trigger registers started.

        A pulse in progress is extended by a reject that comes meanwhile.
        """
        gate = self.gates[outcome.line_id]
        if outcome.reject:
            with gate.lock:
                self._write(gate, True)
                gate.pulses += 1
                gate.off_at = time.monotonic() + gate.options.pulse_ms / 1000.0
        counter = gate.poller.counter_of(outcome.inspection_id) if gate.poller is not None else None
        if counter is not None:
            self._answer(gate, counter, RESULT_EVALUATION[outcome.verdict], len(outcome.defect_classes))

    def _handle(self, outcome: UnitOutcome) -> None:
        gate = self.gates.get(outcome.line_id)
        if outcome.reject or (gate is not None and gate.poller is not None and outcome.job):
            super()._handle(outcome)

    def _alarms_changed(self, line_id: str) -> None:
        """A line's alarms changed (on the judging thread): the releaser writes its alarm coil."""
        gate = self.gates.get(line_id)
        if gate is not None and gate.options.alarm_coil is not None:
            gate.alarm_dirty = True

    def _write_alarm(self, gate: _Gate) -> None:
        """Hold the line's alarm coil on while it has an unacknowledged alarm (retried until written)."""
        coil, unit, watch = gate.options.alarm_coil, gate.options.unit_id, self.context.alarms
        if coil is None:
            return
        snapshot = watch.snapshot(gate.line_id) if watch is not None else None
        on = bool(snapshot and snapshot["unacknowledged"])
        gate.alarm_dirty = False
        try:
            with gate.lock:
                self._request(
                    gate, f"alarm coil {coil}", lambda client: client.write_coil(coil, on, device_id=unit)
                )
        except ModbusOutputError as exc:
            gate.alarm_dirty = True
            self._alarm_warn.warning(
                f"alarm-{gate.line_id}", "modbus: cannot write the alarm coil of %s: %s", gate.line_id, exc
            )
            return
        gate.alarm_on = on

    def _release_loop(self) -> None:
        last_alarm_write = 0.0
        while True:
            now = time.monotonic()
            if now - last_alarm_write >= 0.05:  # alarm coils: at most 20 writes a second per gate
                last_alarm_write = now
                for gate in self.gates.values():
                    if gate.alarm_dirty:
                        self._write_alarm(gate)
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
        """Stop polling, finish the pulses in progress, then close the clients."""
        for gate in self.gates.values():
            if gate.poller is not None:
                gate.poller.stop()
        self._closing.set()
        if self._releaser.is_alive():
            self._releaser.join(timeout=15.0)
        for gate in self.gates.values():
            with gate.lock:
                gate.client.close()

    def status(self) -> dict[str, Any]:
        """Counts plus pulses per line."""
        triggers = {
            lid: {**g.poller.status(), "answers": g.answers}
            for lid, g in self.gates.items()
            if g.poller is not None
        }
        return {
            **super().status(),
            "pulses": {lid: g.pulses for lid, g in self.gates.items()},
            "alarm_coils": {
                lid: g.alarm_on for lid, g in self.gates.items() if g.options.alarm_coil is not None
            },
            **({"triggers": triggers} if triggers else {}),
        }
