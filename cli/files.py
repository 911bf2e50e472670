"""Reading a party's JSON document, and asking a workflow for its status, with clear failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from domain.boundaries import checked_against, first_breach

if TYPE_CHECKING:
    from temporalio.client import Client

ModelT = TypeVar("ModelT", bound=BaseModel)
QUERY_TIMEOUT = timedelta(seconds=15)


def read_document(path: Path, model: type[ModelT], *, what: str, overrides: dict | None = None) -> ModelT:
    """The file as `model` (with `overrides` set on top), or exit 2 naming every invalid field,
    never echoing the values."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text", EXIT_BAD_INPUT)
    except json.JSONDecodeError as error:
        fail(f"{path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}", EXIT_BAD_INPUT)
    except RecursionError:
        fail(f"{path} is nested too deeply to read", EXIT_BAD_INPUT)
    breach = first_breach(data)
    if breach is not None:
        where, reason = breach
        fail(f"{path} is not a valid {what}:\n  {where}: {reason}", EXIT_BAD_INPUT)
    if overrides and isinstance(data, dict):
        data = {**data, **overrides}
    try:
        with checked_against(lambda: datetime.now(UTC)):
            return model.model_validate(data)
    except ValidationError as error:
        problems = describe_validation_error(error, whole=what)
        fail(f"{path} is not a valid {what}:\n  " + "\n  ".join(problems), EXIT_BAD_INPUT)


async def query_status(client: Client, workflow_id: str, result_type: type[ModelT], *, what: str) -> ModelT:
    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError, RPCStatusCode

    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.query("status", result_type=result_type, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            fail(f"no {what} (no workflow {workflow_id})")
        if error.status == RPCStatusCode.DEADLINE_EXCEEDED:
            fail(f"no worker answered within {QUERY_TIMEOUT.seconds} s; is `make dev` or `cyberins worker` running?")
        fail(f"the status query failed: {error.message}")
    except WorkflowQueryFailedError as error:
        fail(f"the workflow could not answer its status: {error}")
