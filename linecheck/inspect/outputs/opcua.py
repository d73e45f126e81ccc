"""OPC UA server in the inspector: a subset of OPC 40100-1 (Machine Vision), one VisionSystem per line.

One server per inspector process (``LINECHECK_INSPECTOR_OPCUA_ENDPOINT``), built with ``asyncua`` on
its own thread and event loop. Browse names of the standard parts are in the Machine Vision namespace
(``http://opcfoundation.org/UA/MachineVision``); node ids are strings in linecheck's namespace
(``urn:linecheck:inspector``), so a PLC can address them directly, e.g.
``ns=<linecheck>;s=pv-01.ResultManagement.Results.LastResult.Reject``. Per line::

    Objects/<VisionSystem>                         (the line id, or outputs.opcua.vision_system)
      VisionStateMachine/CurrentState              Preoperational | Initialized | Ready |
                                                   SingleExecution | ContinuousExecution | Error
        VisionAutomaticModeStateMachine/
          StartSingleJob(MeasId, PartId, EncoderCount) -> JobId
          StartContinuous() -> JobId
          Stop()
      RecipeManagement/ExternalRecipeId, InternalRecipeId, ModelName, ModelVersion
      ResultManagement/Results/LastResult/
          ResultId (= inspection id), MeasId (= trigger id), PartId (= unit code), JobId,
          EncoderCount, ResultEvaluation (1 OK, 2 NotOK, 3 NotDecidable), Verdict, Reject,
          DefectCount, DefectClasses, FailSafe, CreationTime, ResultContent (the outcome's JSON)
      ResultManagement/ResultCount
      Verification/State, Ok                       linecheck's own: the error-proofing verification
                                                   (none | unknown | verified | due | failed; Ok is
                                                   true when verified, or the line has no challenge parts)
      Alarm/Active, Unacknowledged, Count, Text      linecheck's own: the line's run alarms (linecheck.alarms:
        Acknowledge(By) -> Acknowledged            Active while one is shown, Unacknowledged until an
                                                   operator acknowledged it; Text: the newest one)

A ``ResultReadyEventType`` event (fields as LastResult) is emitted by the VisionSystem object for
every unit, as soon as the gate decides it (the deadline's fail-safe reject included).

States (the transitions the inspector goes through): ``Preoperational`` until the line's model
answers; then ``Initialized`` → ``Ready``; ``ContinuousExecution`` when the line's camera runs free
(``start_continuous``, or ``StartContinuous``); ``SingleExecution`` from ``StartSingleJob`` until
that job's result; ``Stop`` goes back to ``Ready``; ``Error`` while the model is unreachable or a
stage failed, back to the previous state when it recovers.

Security: anonymous sessions are refused unless ``LINECHECK_INSPECTOR_OPCUA_ALLOW_ANONYMOUS`` (the
demo); users and passwords come from ``LINECHECK_INSPECTOR_OPCUA_USERS``; with
``LINECHECK_INSPECTOR_OPCUA_CERTIFICATE`` and ``LINECHECK_INSPECTOR_OPCUA_PRIVATE_KEY`` the server also
offers Basic256Sha256 Sign and SignAndEncrypt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.inspect.alarm_watch import alarm_text
from linecheck.inspect.gate import RESULT_EVALUATION, UnitOutcome
from linecheck.inspect.outputs.base import OutputContext, QueuedOutput
from linecheck.inspect.outputs.opcua_model import asyncua_ua
from linecheck.kinds import check_code
from linecheck.line_outputs import OpcUaLineOptions

log = logging.getLogger(__name__)

MV_NAMESPACE = "http://opcfoundation.org/UA/MachineVision"
LC_NAMESPACE = "urn:linecheck:inspector"
STATES = ("Preoperational", "Initialized", "Ready", "SingleExecution", "ContinuousExecution", "Error")
#: (name, asyncua VariantType name) of the result fields, in LastResult and in ResultReadyEventType.
RESULT_FIELDS = (
    ("ResultId", "String"),
    ("MeasId", "String"),
    ("PartId", "String"),
    ("ProductId", "String"),
    ("JobId", "String"),
    ("EncoderCount", "Int64"),
    ("ResultEvaluation", "Int32"),
    ("Verdict", "String"),
    ("Reject", "Boolean"),
    ("DefectCount", "UInt32"),
    ("DefectClasses", "String"),
    ("FailSafe", "Boolean"),
    ("CreationTime", "DateTime"),
    ("ResultContent", "String"),
    ("LineId", "String"),
)


def result_values(outcome: UnitOutcome) -> dict[str, Any]:
    """The result fields of one outcome (``DefectClasses`` comma-separated)."""
    return {
        "ResultId": outcome.inspection_id,
        "MeasId": outcome.trigger_id,
        "PartId": outcome.code or "",
        "ProductId": outcome.product or "",
        "JobId": outcome.inspection_id if outcome.job else "",
        "EncoderCount": int(outcome.encoder_count if outcome.encoder_count is not None else -1),
        "ResultEvaluation": RESULT_EVALUATION[outcome.verdict],
        "Verdict": outcome.verdict.value,
        "Reject": outcome.reject,
        "DefectCount": len(outcome.defect_classes),
        "DefectClasses": ",".join(outcome.defect_classes),
        "FailSafe": outcome.fail_safe,
        "CreationTime": datetime.now(UTC),
        "ResultContent": json.dumps(outcome.to_json(), separators=(",", ":")),
        "LineId": outcome.line_id,
    }


@dataclass(kw_only=True)
class _System:
    """One line's VisionSystem: its nodes and state."""

    line_id: str
    name: str
    options: OpcUaLineOptions
    state: str = "Preoperational"
    mode: str = "Ready"  # the operational state to return to after Error / a job
    nodes: dict[str, Any] = field(default_factory=dict)
    results: int = 0
    history: list[str] = field(default_factory=list)


class OpcUaOutput(QueuedOutput):
    """The inspector's OPC UA server (see the module docstring)."""

    name: ClassVar[str] = "opcua"

    def __init__(self, context: OutputContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.endpoint = settings.opcua_endpoint
        self.systems: dict[str, _System] = {}
        for line in context.lines:
            options = line.outputs.section(self.name)
            assert isinstance(options, OpcUaLineOptions)
            self.systems[line.id] = _System(
                line_id=line.id, name=options.vision_system or line.id, options=options
            )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._server: Any = None
        self._event_type: Any = None
        self._generators: dict[str, Any] = {}
        self._stopping: asyncio.Event | None = None
        self.ns: int = 0
        self.mv_ns: int = 0

    # -- life cycle ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Start the server on its thread; returns once it listens (raises ConfigError when it cannot)."""
        if not self.endpoint:
            log.info(
                "OPC UA server off: LINECHECK_INSPECTOR_OPCUA_ENDPOINT is empty (lines %s)",
                sorted(self.line_ids),
            )
            return
        self._thread = threading.Thread(target=self._main, name="opcua-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30.0) or self._error is not None:
            raise ConfigError(
                f"opcua_endpoint={self.endpoint!r}: the OPC UA server did not start: {self._error}"
            )
        log.info("OPC UA server on %s (%d vision system(s))", self.endpoint, len(self.systems))

    def _main(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by connect(); logged if it happens later
            self._error = exc
            if self._ready.is_set():
                log.exception("OPC UA server stopped")
            self._ready.set()
        finally:
            _finish(self._loop)

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await self._build()
        async with server:
            self._server = server
            self._ready.set()
            monitor = asyncio.create_task(self._monitor())
            await self._stopping.wait()
            monitor.cancel()

    async def _build(self) -> Any:
        from asyncua import Server

        ua = asyncua_ua()

        from linecheck.inspect.outputs.opcua_model import build_system, build_users

        settings = self.context.settings
        users = build_users(settings.opcua_users, allow_anonymous=settings.opcua_allow_anonymous)
        server = Server(user_manager=users)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("linecheck inspector")
        policies = [ua.SecurityPolicyType.NoSecurity]
        if settings.opcua_certificate is not None and settings.opcua_private_key is not None:
            await server.load_certificate(str(settings.opcua_certificate))
            await server.load_private_key(str(settings.opcua_private_key))
            policies += [
                ua.SecurityPolicyType.Basic256Sha256_Sign,
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            ]
        server.set_security_policy(policies)
        tokens = [ua.UserNameIdentityToken]
        if settings.opcua_allow_anonymous:
            tokens.insert(0, ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        self.mv_ns = await server.register_namespace(MV_NAMESPACE)
        self.ns = await server.register_namespace(LC_NAMESPACE)
        self._event_type = await server.create_custom_event_type(
            self.mv_ns,
            "ResultReadyEventType",
            ua.ObjectIds.BaseEventType,
            [(name, getattr(ua.VariantType, vtype)) for name, vtype in RESULT_FIELDS],
        )
        for system in self.systems.values():
            await build_system(server, self, system)
            self._generators[system.line_id] = await server.get_event_generator(
                self._event_type, system.nodes["VisionSystem"]
            )
        return server

    def disconnect(self) -> None:
        """Stop the server."""
        if self._loop is not None and self._stopping is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10.0)

    # -- state machine ------------------------------------------------------------------------
    async def set_state(self, system: _System, state: str) -> None:
        """Move ``system`` to ``state`` (writes CurrentState and its Id)."""
        ua = asyncua_ua()

        if state == system.state:
            return
        log.info("OPC UA %s: %s -> %s", system.name, system.state, state)
        system.state = state
        system.history.append(state)
        if state in ("Ready", "SingleExecution", "ContinuousExecution"):
            system.mode = state if state != "SingleExecution" else system.mode
        await system.nodes["CurrentState"].write_value(ua.LocalizedText(state, "en"))
        await system.nodes["CurrentStateNumber"].write_value(
            ua.Variant(STATES.index(state), ua.VariantType.UInt32)
        )

    async def _monitor(self) -> None:
        """Follow the inspector: model up/down, stage errors, recipe version."""
        ua = asyncua_ua()

        while True:
            status = await asyncio.to_thread(self.context.status)
            for system in self.systems.values():
                line = status.get("lines", {}).get(system.line_id, {})
                model = status.get("models", {}).get(line.get("model", ""), {})
                errors = [name for name in status.get("errors", {}) if system.line_id in name]
                healthy = bool(model.get("connected")) and not errors
                if system.state == "Preoperational" and healthy:
                    await self.set_state(system, "Initialized")
                    await self.set_state(system, "Ready")
                    if system.options.start_continuous:
                        await self.set_state(system, "ContinuousExecution")
                elif (
                    system.state not in ("Preoperational", "Error")
                    and not healthy
                    and model.get("state") != "stopped"
                ):
                    await self.set_state(system, "Error")
                elif system.state == "Error" and healthy:
                    await self.set_state(system, system.mode)
                await self._show_verification(system, line.get("verification"))
                await self._show_alarms(system, line.get("alarms"))
                await self._show_product(system, line.get("product"))
                version = model.get("version")
                if version is not None:
                    recipe = f"{line.get('model')} v{version}"
                    if system.nodes.get("_recipe") != recipe:
                        system.nodes["_recipe"] = recipe
                        await system.nodes["ModelVersion"].write_value(
                            ua.Variant(str(version), ua.VariantType.String)
                        )
                        await system.nodes["InternalRecipeId"].write_value(
                            ua.Variant(recipe, ua.VariantType.String)
                        )
            await asyncio.sleep(0.5)

    async def _show_product(self, system: _System, product: str | None) -> None:
        """``RecipeManagement.ProductId``: the product the line is on (empty: the line's own config)."""
        if system.nodes.get("_product", "") == (product or ""):
            return
        ua = asyncua_ua()
        system.nodes["_product"] = product or ""
        await system.nodes["ProductId"].write_value(ua.Variant(product or "", ua.VariantType.String))

    async def _show_verification(self, system: _System, verification: dict[str, Any] | None) -> None:
        """``Verification.State`` (none, unknown, verified, due, failed) and ``Ok`` (verified or no parts)."""
        if verification is None:
            return  # no challenge parts, or no API to ask: the values written at start stand
        state = str(verification.get("state", "unknown"))
        if system.nodes.get("_verification") == state:
            return
        ua = asyncua_ua()
        system.nodes["_verification"] = state
        await system.nodes["VerificationState"].write_value(ua.Variant(state, ua.VariantType.String))
        await system.nodes["VerificationOk"].write_value(
            ua.Variant(state == "verified", ua.VariantType.Boolean)
        )

    async def _show_alarms(self, system: _System, alarms: dict[str, Any] | None) -> None:
        """``Alarm.Active``, ``Unacknowledged``, ``Count`` and ``Text`` (the newest alarm shown)."""
        if alarms is None:
            return  # the line has no alarms: section; the values written at start stand
        shown = alarms.get("alarms") or []
        text = alarm_text(alarms)
        values = (bool(shown), int(alarms.get("unacknowledged", 0)), len(shown), text)
        if system.nodes.get("_alarms") == values:
            return
        ua = asyncua_ua()
        system.nodes["_alarms"] = values
        await system.nodes["AlarmActive"].write_value(ua.Variant(values[0], ua.VariantType.Boolean))
        await system.nodes["AlarmUnacknowledged"].write_value(ua.Variant(values[1], ua.VariantType.UInt32))
        await system.nodes["AlarmCount"].write_value(ua.Variant(values[2], ua.VariantType.UInt32))
        await system.nodes["AlarmText"].write_value(ua.Variant(text, ua.VariantType.String))

    # -- methods (called on the server's loop) ------------------------------------------------
    async def start_single_job(self, system: _System, meas_id: str, part_id: str, encoder: int) -> str:
        """StartSingleJob: a PLC job for the line's next frame; returns the JobId (the inspection id)."""
        if system.state not in ("Ready", "SingleExecution"):
            raise InvalidFieldError("state", system.state, "StartSingleJob needs Ready or SingleExecution")
        line = next(line for line in self.context.lines if line.id == system.line_id)
        if part_id:
            check_code(part_id, line.code_pattern)
        trigger = self.context.gate.job(
            system.line_id,
            trigger_id=meas_id or None,
            code=part_id or None,
            encoder_count=encoder if encoder >= 0 else None,
        )
        if self.context.gate.undecided(trigger.inspection_id):  # a repeat of a decided job starts nothing
            await self.set_state(system, "SingleExecution")
        return trigger.inspection_id

    async def prepare_product(self, system: _System, product: str) -> str:
        """PrepareProduct: change the line over to ``product`` (empty: its own config); returns InternalId.

        Frames read from now on are judged as that product (:mod:`linecheck.inspect.products`).
        """
        if self.context.board is None:
            raise InvalidFieldError("product", product, "this inspector takes no changeovers")
        self.context.board.set_product(system.line_id, product or None)
        line = next(line for line in self.context.lines if line.id == system.line_id)
        ref = line.for_product(product or None).model
        model = f"{ref.name}@{ref.version}" if ref is not None else line.kind
        return f"{product} ({model})" if product else model

    async def start_continuous(self, system: _System) -> str:
        """StartContinuous: every frame of the free-running camera is a unit."""
        if system.state not in ("Ready", "ContinuousExecution"):
            raise InvalidFieldError("state", system.state, "StartContinuous needs Ready")
        await self.set_state(system, "ContinuousExecution")
        return f"continuous:{system.line_id}"

    async def acknowledge_alarms(self, system: _System, by: str) -> list[str]:
        """Alarm.Acknowledge: the line's alarms acknowledged (the keys); refused when it has no alarms."""
        watch = self.context.alarms
        if watch is None:
            raise InvalidFieldError("line_id", system.line_id, "the line has no alarms: section")
        keys = await asyncio.to_thread(watch.acknowledge, system.line_id, by)
        await self._show_alarms(system, watch.snapshot(system.line_id))
        return keys

    async def stop(self, system: _System) -> None:
        """Stop: back to Ready (frames that still come are inspected and recorded, never dropped)."""
        if system.state in ("SingleExecution", "ContinuousExecution"):
            await self.set_state(system, "Ready")

    # -- results ------------------------------------------------------------------------------
    def decide(self, outcome: UnitOutcome) -> None:
        """Queue the outcome for the server (nothing when no endpoint is set)."""
        if self.endpoint:
            super().decide(outcome)

    def deliver(self, outcome: UnitOutcome) -> None:
        """Write LastResult and emit ResultReady (on the server's loop; waits for it)."""
        if self._loop is None or not self._ready.is_set() or self._error is not None:
            raise ConfigError("the OPC UA server is not running")
        asyncio.run_coroutine_threadsafe(self._publish(outcome), self._loop).result(5.0)

    async def _publish(self, outcome: UnitOutcome) -> None:
        ua = asyncua_ua()

        from linecheck.inspect.outputs.opcua_model import variant

        system = self.systems[outcome.line_id]
        values = result_values(outcome)
        for name, vtype in RESULT_FIELDS:
            await system.nodes[f"Result.{name}"].write_value(variant(values[name], vtype))
        system.results += 1
        await system.nodes["ResultCount"].write_value(ua.Variant(system.results, ua.VariantType.UInt32))
        generator = self._generators[outcome.line_id]
        for name, value in values.items():
            setattr(generator.event, name, value)
        generator.event.Message = ua.LocalizedText(
            f"{outcome.line_id} {outcome.trigger_id}: {outcome.verdict.value}"
            + (" reject" if outcome.reject else "")
        )
        generator.event.Severity = 500 if outcome.reject else 100
        await generator.trigger()
        if (
            outcome.job
            and system.state == "SingleExecution"
            and not self.context.gate.pending_jobs(outcome.line_id)
        ):
            await self.set_state(system, "Ready")

    def status(self) -> dict[str, Any]:
        """Endpoint, states and result counts."""
        return {
            **super().status(),
            "endpoint": self.endpoint,
            "systems": {
                s.line_id: {"name": s.name, "state": s.state, "results": s.results}
                for s in self.systems.values()
            },
        }


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what asyncua left running on ``loop`` (its session and subscription loops), then close it."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
