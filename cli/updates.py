"""Sending an update to a workflow from the CLI: its answer, or one line saying why it was refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode

from cli.errors import fail

ResultT = TypeVar("ResultT")
# Long enough for an update that runs activities (a determination reserves limits in the policy).
UPDATE_TIMEOUT = timedelta(seconds=60)


def refusal_reason(error: WorkflowUpdateFailedError) -> str:
    """The workflow's own words: the ApplicationError's message, and its cause's when it adds to it.

    A validator's ValueError arrives as an ApplicationError carrying the validator's message; a rule an
    activity refused arrives with the activity's message underneath a generic one.
    """
    failure = error.cause
    if not isinstance(failure, FailureError):
        return str(failure or error)
    message = failure.message or type(failure).__name__
    below = failure.cause
    if isinstance(below, FailureError) and below.message and below.message not in message:
        message = f"{message}: {below.message}"
    return message


async def send_update(
    client: Client,
    workflow_id: str,
    name: str,
    arg: BaseModel | None,
    result_type: type[ResultT],
    *,
    what: str,
) -> ResultT:
    """Run update `name` on the workflow of `what` (e.g. "claim clm-1"); exit 1 saying why it failed."""
    handle = client.get_workflow_handle(workflow_id)
    args: list[Any] = [] if arg is None else [arg]
    try:
        return await handle.execute_update(
            name, args=args, result_type=result_type, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as error:
        fail(f"{what} refused: {refusal_reason(error)}")
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        seconds = UPDATE_TIMEOUT.seconds
        fail(f"{what} did not answer within {seconds} s; is `make dev` or `cyberins worker` running?")
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            if "already completed" in error.message:
                fail(f"{what} has finished and takes no more messages")
            fail(f"no {what} (no workflow {workflow_id})")
        fail(f"the update failed: {error.message}")
