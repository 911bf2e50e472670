"""`cyberins policy`: start a policy from an application file, and look at one."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from temporalio.exceptions import WorkflowAlreadyStartedError

from cli.connection import connect_or_fail
from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from cli.files import query_status, read_document
from cli.running import run_async
from cli.status_view import status_table
from domain.application import PolicyApplication
from domain.rules import PolicyRules
from settings import get_settings
from workflows.messages import PolicyStatus, PolicyWorkflowInput, policy_workflow_id
from workflows.starting import start_policy

app = typer.Typer(help="Start policies and look at them.", no_args_is_help=True)

STATUS_QUERY = "status"
QUERY_TIMEOUT = timedelta(seconds=15)


def new_policy_id() -> str:
    """Random, so that ids carry no personal data (no organisation name, no credit code)."""
    return f"pol-{secrets.token_hex(6)}"


def read_application(path: Path) -> PolicyApplication:
    return read_document(path, PolicyApplication, what="application")


def build_input(policy_id: str, application: PolicyApplication) -> PolicyWorkflowInput:
    try:
        return PolicyWorkflowInput(policy_id=policy_id, application=application, rules=PolicyRules())
    except ValidationError as error:
        fail("\n".join(describe_validation_error(error, whole="policy")), EXIT_BAD_INPUT)


@app.command("apply")
def apply(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="Application (投保意向单) as JSON"),
    ],
    policy_id: Annotated[str | None, typer.Option(help="Default: pol- and 12 random hex digits")] = None,
) -> None:
    """Validate an application and start its policy workflow."""
    workflow_input = build_input(policy_id or new_policy_id(), read_application(file))
    run_async(_start(workflow_input))


async def _start(workflow_input: PolicyWorkflowInput) -> None:
    settings = get_settings()
    client = await connect_or_fail(settings)
    workflow_id = policy_workflow_id(workflow_input.policy_id)
    try:
        await start_policy(client, settings.task_queue, workflow_input)
    except WorkflowAlreadyStartedError:
        fail(
            f"policy {workflow_input.policy_id} already exists (workflow {workflow_id}); "
            "choose another --policy-id or leave it out"
        )
    typer.echo("Policy started.")
    typer.echo(f"  policy id    {workflow_input.policy_id}")
    typer.echo(f"  workflow id  {workflow_id}")
    typer.echo(f"  Temporal UI  {settings.workflow_url(client.namespace, workflow_id)}")
    typer.echo(f"  status       cyberins policy show {workflow_input.policy_id}")


@app.command("show")
def show(
    policy_id: Annotated[str, typer.Argument(help="The policy id printed by `policy apply`")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False,
) -> None:
    """Print a policy's current status (the workflow's "status" query)."""
    status = run_async(_query_status(policy_id))
    if as_json:
        typer.echo(status.model_dump_json(indent=2))
    else:
        Console().print(status_table(status))


async def _query_status(policy_id: str) -> PolicyStatus:
    client = await connect_or_fail(get_settings())
    return await query_status(client, policy_workflow_id(policy_id), PolicyStatus, what=f"policy {policy_id}")
