"""PLC jobs from holding registers: the handshake of a PLC that speaks Modbus TCP and not OPC UA.

Many line PLCs (and the remote I/O of older lines) offer only Modbus TCP. The PLC keeps a trigger
block in holding registers (:class:`~linecheck.line_outputs.ModbusTriggerOptions`): a unit counter it
adds 1 to at each photo-eye pulse, the encoder count at that moment and, when the PLC owns identity,
the unit's code. The inspector reads the block every ``poll_ms``; each step of the counter is one
job on the reject gate (:meth:`~linecheck.inspect.gate.RejectGate.job`, its ``trigger_id`` the counter
value the PLC logged), and the answer goes back in one write at ``result_register``:
``[counter, evaluation, defect count]`` (1 OK, 2 NotOK, 3 NotDecidable), so the PLC's shift register
matches it to the unit at the gate by the counter it sent.

What a poll cannot see is said, not guessed: a counter that moved by more than one between two
reads is that many units (the ones in between have no encoder count or code of their own, and a
warning says the poll is too slow); a step beyond ``max_step`` is a PLC restart (a counter reset),
logged, and no job; a read that fails is retried with backoff while the reject deadline rejects the
units it missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from linecheck.errors import InvalidFieldError
from linecheck.inspect.gate import Trigger
from linecheck.inspect.workers import RateLimitedLog
from linecheck.line_outputs import ModbusTriggerOptions

log = logging.getLogger(__name__)

#: The counter is one 16-bit register.
COUNTER_MODULUS = 65536


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerBlock:
    """One read of the trigger block."""

    counter: int
    encoder_count: int
    code: str | None
    product_number: int | None = None

    @classmethod
    def decode(cls, registers: list[int], options: ModbusTriggerOptions) -> TriggerBlock:
        """The block from its registers (pymodbus's own conversions; an empty code is None)."""
        from pymodbus.client import ModbusTcpClient

        convert = ModbusTcpClient.convert_from_registers
        encoder = convert(registers[1:3], ModbusTcpClient.DATATYPE.INT32, word_order=options.word_order)
        code: str | None = None
        end = 3 + options.code_registers
        if options.code_registers:
            text = convert(registers[3:end], ModbusTcpClient.DATATYPE.STRING, string_encoding="latin-1")
            code = str(text).replace("\x00", " ").strip() or None
        assert isinstance(encoder, int)
        product = registers[end] if options.product_number else None
        return cls(counter=registers[0], encoder_count=encoder, code=code, product_number=product)


def counter_steps(last: int, now: int, max_step: int) -> list[int] | None:
    """The counter values between two reads (``last`` excluded), or None for a reset (a step too large)."""
    step = (now - last) % COUNTER_MODULUS
    if step > max_step:
        return None
    return [(last + k) % COUNTER_MODULUS for k in range(1, step + 1)]


class TriggerPoller:
    """Reads one line's trigger block and starts a job for each counter step (its own thread).

    Args:
        line_id: the line.
        options: the block's layout and polling.
        read: reads ``count`` holding registers at an address (raises on failure).
        job: :meth:`RejectGate.job`.
        refused: called with a counter the gate refused (its code, say): answered NotDecidable.
        products: the line's product ids, in YAML order (product number ``n`` is ``products[n - 1]``).

    """

    def __init__(
        self,
        line_id: str,
        options: ModbusTriggerOptions,
        *,
        read: Callable[[int, int], list[int]],
        job: Callable[..., Trigger],
        refused: Callable[[int], None],
        products: Sequence[str] = (),
    ) -> None:
        self.line_id = line_id
        self.products = list(products)
        self.options = options
        self.read = read
        self.job = job
        self.refused = refused
        self.jobs: dict[str, int] = {}  # inspection id -> counter (the result write needs it)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"modbus-trigger-{line_id}", daemon=True)
        self._warn = RateLimitedLog(log, every_s=30.0)
        self.last: int | None = None
        self.started = 0
        self.skipped = 0  # units that passed between two reads
        self.resets = 0
        self.failed_reads = 0

    def start(self) -> None:
        """Poll on a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def counter_of(self, inspection_id: str) -> int | None:
        """The counter value of a job this poller started (forgotten once asked)."""
        with self._lock:
            return self.jobs.pop(inspection_id, None)

    def _run(self) -> None:
        period = self.options.poll_ms / 1000.0
        delay = period
        while not self._stop.wait(delay):
            try:
                registers = self.read(self.options.counter_register, self.options.block_size)
            except Exception as exc:  # the PLC is away: keep trying, the deadline rejects what is missed
                self.failed_reads += 1
                self._warn.warning(f"read-{self.line_id}", "modbus trigger of %s: %s", self.line_id, exc)
                delay = min(max(delay * 2, 0.1), 2.0)
                continue
            delay = period
            self.poll(TriggerBlock.decode(registers, self.options))

    def poll(self, block: TriggerBlock) -> None:
        """Act on one read: a job per counter step (the first read only sets where the count stands)."""
        last, self.last = self.last, block.counter
        if last is None:
            log.info("modbus trigger of %s: counter stands at %d", self.line_id, block.counter)
            return
        steps = counter_steps(last, block.counter, self.options.max_step)
        if steps is None:
            self.resets += 1
            log.warning(
                "modbus trigger of %s: counter went from %d to %d: taken as a PLC restart, no job started",
                self.line_id,
                last,
                block.counter,
            )
            return
        if len(steps) > 1:
            self.skipped += len(steps) - 1
            self._warn.warning(
                f"skip-{self.line_id}",
                "modbus trigger of %s: %d units passed between two reads (counter %d -> %d): poll_ms=%g is "
                "too slow for the line; they get jobs without encoder count or code",
                self.line_id,
                len(steps),
                last,
                block.counter,
                self.options.poll_ms,
            )
        for counter in steps:
            latest = counter == block.counter
            self._start(
                counter,
                encoder_count=block.encoder_count if latest else None,
                code=block.code if latest else None,
                product_number=block.product_number,  # the recipe stands for the units in between too
            )

    def product(self, number: int | None) -> str | None:
        """The product of a product number (0 or None: the line's own config).

        Raises:
            InvalidFieldError: a number past the line's products.

        """
        if not number:
            return None
        if number > len(self.products):
            raise InvalidFieldError(
                "product_number",
                number,
                f"line {self.line_id} has {len(self.products)} products (1..{len(self.products)}, 0: none)",
            )
        return self.products[number - 1]

    def _start(
        self, counter: int, *, encoder_count: int | None, code: str | None, product_number: int | None = None
    ) -> None:
        try:
            trigger = self.job(
                self.line_id,
                trigger_id=str(counter),
                code=code,
                encoder_count=encoder_count,
                product=self.product(product_number),
            )
        except InvalidFieldError as exc:
            log.error(
                "modbus trigger of %s: job %d refused (%s=%r: %s); answered NotDecidable",
                self.line_id,
                counter,
                exc.field,
                exc.value,
                exc.reason,
            )
            try:
                self.refused(counter)
            except Exception as answer_failed:  # the PLC went away meanwhile: its deadline rejects the unit
                log.error(
                    "modbus trigger of %s: NotDecidable for %d not written: %s",
                    self.line_id,
                    counter,
                    answer_failed,
                )
            return
        with self._lock:
            self.jobs[trigger.inspection_id] = counter
        self.started += 1

    def status(self) -> dict[str, Any]:
        """Counter, jobs started, units skipped between reads, resets, failed reads."""
        return {
            "counter": self.last,
            "jobs": self.started,
            "skipped": self.skipped,
            "resets": self.resets,
            "failed_reads": self.failed_reads,
        }
