"""Signals, updates and queries on behalf of an API request, with Temporal's failures turned into
problems. A 2xx leaves only after Temporal has accepted the effect: a started workflow, a stored
signal, a completed update."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import Problem

log = structlog.get_logger("cyberins.api")

ResultT = TypeVar("ResultT")
RPC_TIMEOUT = timedelta(seconds=30)
QUERY_TIMEOUT = timedelta(seconds=15)


def _refusal(error: BaseException) -> str:
    """The workflow's own words, with the field-level cause when the SDK's message is generic."""
    message = error.message if isinstance(error, FailureError) else str(error)
    cause = error.__cause__ or getattr(error, "cause", None)
    if isinstance(cause, FailureError) and cause.message and cause.message not in message:
        message = f"{message}: {cause.message}"
    return message


@asynccontextmanager
async def temporal_errors(what: str) -> AsyncIterator[None]:
    """Maps what Temporal says about `what` (e.g. "policy pol-1") to a problem document."""
    try:
        yield
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        code = cause.type if isinstance(cause, ApplicationError) and cause.type else "refused"
        raise Problem(409, "refused", f"{what} refused this: {_refusal(cause)}", reason=code) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Problem(504, "timed_out", f"{what} did not answer in time; retrying with the same key is safe") from None
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
        raise Problem(409, "query_failed", f"{what} could not answer: {error}") from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            if "already completed" in error.message:
                raise Problem(409, "closed", f"{what} is closed and takes no more messages") from None
            raise Problem(404, "not_found", f"no {what} that you can see") from None
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise Problem(503, "temporal_unavailable", "Temporal is not reachable; nothing was applied, try again") from None
        if error.status in (RPCStatusCode.CANCELLED, RPCStatusCode.ABORTED):
            # An overloaded server gives up on a query or signal it could not hand to a worker in time
            # ("context canceled", "buffered query cleared"): busy, not broken.
            raise Problem(
                503, "temporal_busy", f"{what} did not answer in time; nothing was applied, try again shortly"
            ) from None
        if error.status == RPCStatusCode.RESOURCE_EXHAUSTED:
            raise Problem(429, "temporal_busy", "Temporal is rate limiting; try again shortly") from None
        if error.status == RPCStatusCode.INVALID_ARGUMENT:
            raise Problem(422, "rejected_by_temporal", f"Temporal rejected the request: {error.message}") from None
        log.warning("temporal_rpc_failed", what=what, rpc_status=error.status.name)
        raise Problem(502, "temporal_error", f"Temporal failed this call ({error.status.name}); try again") from None


async def update(
    client: Client, workflow_id: str, name: str, arg: BaseModel | None, result_type: type[ResultT], *, what: str,
    update_id: str | None = None,
) -> ResultT:
    """`update_id` (from the request's replay key) makes Temporal itself apply a retried update once,
    even when the first attempt's answer was lost before the API could store it."""
    handle = client.get_workflow_handle(workflow_id)
    args: list[Any] = [] if arg is None else [arg]
    async with temporal_errors(what):
        return await handle.execute_update(
            name, args=args, id=update_id, result_type=result_type, rpc_timeout=RPC_TIMEOUT
        )


async def signal(client: Client, workflow_id: str, name: str, arg: BaseModel, *, what: str) -> None:
    handle = client.get_workflow_handle(workflow_id)
    async with temporal_errors(what):
        await handle.signal(name, arg, rpc_timeout=RPC_TIMEOUT)


async def query(client: Client, workflow_id: str, name: str, result_type: type[ResultT], *, what: str) -> ResultT:
    handle = client.get_workflow_handle(workflow_id)
    async with temporal_errors(what):
        return await handle.query(name, result_type=result_type, rpc_timeout=QUERY_TIMEOUT)
