"""The address space of one VisionSystem (OPC 40100-1 subset) and the server's user check.

Kept apart from :mod:`linecheck.inspect.outputs.opcua` (the server's life cycle, states and results)
so that the node layout — what a PLC programmer reads in the README's node table — is in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from linecheck.errors import InvalidFieldError, LinecheckError

if TYPE_CHECKING:
    from linecheck.inspect.outputs.opcua import OpcUaOutput, _System

log = logging.getLogger(__name__)


def asyncua_ua() -> Any:
    """``asyncua.ua`` (imported when first needed; typed loosely: its stubs are narrower than its API)."""
    import importlib

    return importlib.import_module("asyncua.ua")


def variant(value: Any, vtype: str) -> Any:
    """``value`` as an asyncua Variant of the named type."""
    ua = asyncua_ua()

    return ua.Variant(value, getattr(ua.VariantType, vtype))


def build_users(users: Mapping[str, str], *, allow_anonymous: bool) -> Any:
    """An asyncua user manager: the configured users by password; anonymous only when allowed."""
    import hmac

    from asyncua.crypto.permission_rules import User, UserRole
    from asyncua.server.user_managers import UserManager

    known = dict(users)

    class LineUsers(UserManager):
        def get_user(
            self,
            iserver: Any,
            username: str | None = None,
            password: str | None = None,
            certificate: Any = None,
        ) -> Any:
            if username is None:
                return User(role=UserRole.User) if allow_anonymous else None
            expected = known.get(username)
            if expected is not None and password is not None and hmac.compare_digest(expected, password):
                return User(role=UserRole.User, name=username)
            log.warning("OPC UA: login refused for user %r", username)
            return None

    return LineUsers()


def _method_error(exc: Exception) -> Exception:
    ua = asyncua_ua()

    log.warning("OPC UA method refused: %s", exc)
    code = ua.StatusCodes.BadInvalidState if "state" in str(exc) else ua.StatusCodes.BadInvalidArgument
    return ua.UaStatusCodeError(code)


async def build_system(server: Any, output: OpcUaOutput, system: _System) -> None:
    """Add one line's VisionSystem with its state machine, methods, recipe and results."""
    ua = asyncua_ua()

    from linecheck.inspect.outputs.opcua import RESULT_FIELDS, STATES

    ns, mv = output.ns, output.mv_ns
    base = system.name

    def nid(path: str) -> Any:
        return ua.NodeId(f"{system.line_id}.{path}" if path else system.line_id, ns)

    def qn(name: str, standard: bool = True) -> Any:
        return ua.QualifiedName(name, mv if standard else ns)

    nodes = system.nodes
    vs = await server.nodes.objects.add_object(nid(""), qn(base, standard=False))
    nodes["VisionSystem"] = vs
    await vs.add_property(nid("LineId"), qn("LineId", False), system.line_id)

    sm = await vs.add_object(nid("VisionStateMachine"), qn("VisionStateMachine"))
    nodes["CurrentState"] = await sm.add_variable(
        nid("VisionStateMachine.CurrentState"), qn("CurrentState"), ua.LocalizedText(system.state, "en")
    )
    nodes["CurrentStateNumber"] = await sm.add_variable(
        nid("VisionStateMachine.CurrentState.Number"),
        qn("CurrentStateNumber", False),
        ua.Variant(STATES.index(system.state), ua.VariantType.UInt32),
    )
    await sm.add_property(nid("VisionStateMachine.States"), qn("States", False), list(STATES))
    auto = await sm.add_object(
        nid("VisionStateMachine.VisionAutomaticModeStateMachine"), qn("VisionAutomaticModeStateMachine")
    )

    def arg(name: str, vtype: int, text: str) -> Any:
        argument = ua.Argument()
        argument.Name = name
        argument.DataType = ua.NodeId(vtype)
        argument.ValueRank = -1
        argument.Description = ua.LocalizedText(text)
        return argument

    async def start_single_job(parent: Any, meas_id: Any, part_id: Any, encoder: Any) -> list[Any]:
        try:
            job = await output.start_single_job(
                system, str(meas_id.Value or ""), str(part_id.Value or ""), int(encoder.Value)
            )
        except (InvalidFieldError, LinecheckError) as exc:
            raise _method_error(exc) from exc
        return [ua.Variant(job, ua.VariantType.String)]

    async def prepare_product(parent: Any, product_id: Any) -> list[Any]:
        try:
            internal = await output.prepare_product(system, str(product_id.Value or ""))
        except InvalidFieldError as exc:
            raise _method_error(exc) from exc
        return [ua.Variant(internal, ua.VariantType.String), ua.Variant(0, ua.VariantType.Int32)]

    async def start_continuous(parent: Any) -> list[Any]:
        try:
            job = await output.start_continuous(system)
        except InvalidFieldError as exc:
            raise _method_error(exc) from exc
        return [ua.Variant(job, ua.VariantType.String)]

    async def stop(parent: Any) -> list[Any]:
        await output.stop(system)
        return []

    job_id = arg("JobId", ua.ObjectIds.String, "the job's result id (= inspection id)")
    await auto.add_method(
        nid("VisionStateMachine.StartSingleJob"),
        qn("StartSingleJob"),
        start_single_job,
        [
            arg("MeasId", ua.ObjectIds.String, "the PLC's trigger / measurement id (empty: generated)"),
            arg(
                "PartId",
                ua.ObjectIds.String,
                "the unit code when the PLC owns identity (empty: from the frame)",
            ),
            arg("EncoderCount", ua.ObjectIds.Int64, "line encoder at the trigger (-1: none)"),
        ],
        [job_id],
    )
    await auto.add_method(
        nid("VisionStateMachine.StartContinuous"), qn("StartContinuous"), start_continuous, [], [job_id]
    )
    await auto.add_method(nid("VisionStateMachine.Stop"), qn("Stop"), stop, [], [])

    line = next(line for line in output.context.lines if line.id == system.line_id)
    model = line.model.name if line.model else line.kind
    recipes = await vs.add_object(nid("RecipeManagement"), qn("RecipeManagement"))
    await recipes.add_variable(nid("RecipeManagement.ExternalRecipeId"), qn("ExternalRecipeId"), model)
    nodes["InternalRecipeId"] = await recipes.add_variable(
        nid("RecipeManagement.InternalRecipeId"), qn("InternalRecipeId"), f"{model} (not loaded)"
    )
    await recipes.add_variable(nid("RecipeManagement.ModelName"), qn("ModelName", False), model)
    nodes["ModelVersion"] = await recipes.add_variable(
        nid("RecipeManagement.ModelVersion"), qn("ModelVersion", False), ""
    )
    nodes["ProductId"] = await recipes.add_variable(
        nid("RecipeManagement.ProductId"), qn("ProductId", False), line.default_product or ""
    )
    await recipes.add_method(
        nid("RecipeManagement.PrepareProduct"),
        qn("PrepareProduct"),
        prepare_product,
        [arg("ProductId", ua.ObjectIds.String, "one of the line's products (empty: the line's own config)")],
        [
            arg("InternalId", ua.ObjectIds.String, "the product and the model that will judge it"),
            arg("Error", ua.ObjectIds.Int32, "0: OK (a product the line does not make: BadInvalidArgument)"),
        ],
    )

    # linecheck's own: the error-proofing verification (challenge parts) a PLC can interlock on
    verification = await vs.add_object(nid("Verification"), qn("Verification", False))
    nodes["VerificationState"] = await verification.add_variable(
        nid("Verification.State"), qn("State", False), "none" if line.verification is None else "unknown"
    )
    nodes["VerificationOk"] = await verification.add_variable(
        nid("Verification.Ok"), qn("Ok", False), line.verification is None
    )

    # linecheck's own: the line's run alarms (linecheck.alarms), for a stack light or a line stop
    alarm = await vs.add_object(nid("Alarm"), qn("Alarm", False))
    nodes["AlarmActive"] = await alarm.add_variable(nid("Alarm.Active"), qn("Active", False), False)
    nodes["AlarmUnacknowledged"] = await alarm.add_variable(
        nid("Alarm.Unacknowledged"), qn("Unacknowledged", False), ua.Variant(0, ua.VariantType.UInt32)
    )
    nodes["AlarmCount"] = await alarm.add_variable(
        nid("Alarm.Count"), qn("Count", False), ua.Variant(0, ua.VariantType.UInt32)
    )
    nodes["AlarmText"] = await alarm.add_variable(nid("Alarm.Text"), qn("Text", False), "")

    async def acknowledge(parent: Any, by: Any) -> list[Any]:
        try:
            keys = await output.acknowledge_alarms(system, str(by.Value or ""))
        except InvalidFieldError as exc:
            raise _method_error(exc) from exc
        return [ua.Variant(len(keys), ua.VariantType.UInt32)]

    await alarm.add_method(
        nid("Alarm.Acknowledge"),
        qn("Acknowledge", False),
        acknowledge,
        [arg("By", ua.ObjectIds.String, "who acknowledges (an operator's name or badge; may be empty)")],
        [arg("Acknowledged", ua.ObjectIds.UInt32, "alarms acknowledged")],
    )

    results = await vs.add_object(nid("ResultManagement"), qn("ResultManagement"))
    nodes["ResultCount"] = await results.add_variable(
        nid("ResultManagement.ResultCount"), qn("ResultCount", False), ua.Variant(0, ua.VariantType.UInt32)
    )
    folder = await results.add_folder(nid("ResultManagement.Results"), qn("Results"))
    last = await folder.add_object(nid("ResultManagement.Results.LastResult"), qn("LastResult", False))
    empty = {"String": "", "Int64": -1, "Int32": 0, "Boolean": False, "UInt32": 0}
    for name, vtype in RESULT_FIELDS:
        if vtype == "DateTime":
            from datetime import UTC, datetime

            value = variant(datetime.now(UTC), vtype)
        else:
            value = variant(empty[vtype], vtype)
        nodes[f"Result.{name}"] = await last.add_variable(
            nid(f"ResultManagement.Results.LastResult.{name}"), qn(name), value
        )
