"""`cyberins claim`: loss determination (定责定损) as a what-if, with no server involved."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from temporalio.exceptions import WorkflowAlreadyStartedError

from cli.connection import connect_or_fail
from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from cli.files import query_status, read_document
from cli.running import run_async
from domain.claim import ClaimantKind
from settings import get_settings
from workflows.claim_messages import ClaimStatus, ClaimWorkflowInput, claim_workflow_id
from workflows.starting import start_claim
from domain.errors import DomainRuleError
from domain.loss import LimitsUsed, LossConditions, LossItem, LossStatement, determine_loss
from domain.schedule import CoverageSchedule

app = typer.Typer(help="Start claims, look at them, and work out what a claim would pay.", no_args_is_help=True)


class WhatIfClaim(BaseModel):
    """The file `claim calculate` reads: a schedule, what earlier claims used, the facts, the items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule: CoverageSchedule
    limits_used: LimitsUsed = Field(default_factory=LimitsUsed)
    conditions: LossConditions = Field(default_factory=LossConditions)
    items: list[LossItem]


def read_claim(path: Path) -> WhatIfClaim:
    return read_document(path, WhatIfClaim, what="claim")


def calculate_statement(claim: WhatIfClaim) -> LossStatement:
    try:
        return determine_loss(claim.schedule, claim.items, claim.conditions, claim.limits_used)
    except DomainRuleError as error:
        fail(f"the loss cannot be determined ({error.code}): {error.message}", EXIT_BAD_INPUT)


@app.command("calculate")
def calculate(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="schedule, limits_used, conditions and items as JSON",
        ),
    ],
    pretty: Annotated[bool, typer.Option("--pretty", help="Indent the JSON")] = False,
) -> None:
    """Print the loss statement of a claim under a schedule as JSON (money in integer fen)."""
    statement = calculate_statement(read_claim(file))
    typer.echo(statement.model_dump_json(indent=2 if pretty else None))


@app.command("start")
def start(
    incident_id: Annotated[str, typer.Argument(help="The incident id printed by `incident report`")],
    third_party: Annotated[
        str | None, typer.Option(help="For a liability claim: who claims against the insured (no personal data)")
    ] = None,
    claim_id: Annotated[str | None, typer.Option(help="Default: clm- and 12 random hex digits")] = None,
) -> None:
    """Start the claim workflow for an incident (the insurer's step)."""
    claimant = ClaimantKind.THIRD_PARTY if third_party else ClaimantKind.FIRST_PARTY
    try:
        workflow_input = ClaimWorkflowInput(
            claim_id=claim_id or f"clm-{secrets.token_hex(6)}", incident_id=incident_id, claimant=claimant,
            third_party=third_party,
        )
    except ValidationError as error:
        fail("\n".join(describe_validation_error(error, whole="claim")), EXIT_BAD_INPUT)
    run_async(_start(workflow_input))


async def _start(workflow_input: ClaimWorkflowInput) -> None:
    settings = get_settings()
    client = await connect_or_fail(settings)
    workflow_id = claim_workflow_id(workflow_input.claim_id)
    try:
        await start_claim(client, settings.task_queue, workflow_input)
    except WorkflowAlreadyStartedError:
        fail(f"claim {workflow_input.claim_id} already exists")
    typer.echo("Claim started.")
    typer.echo(f"  claim id     {workflow_input.claim_id}")
    typer.echo(f"  workflow id  {workflow_id}")
    typer.echo(f"  Temporal UI  {settings.workflow_url(client.namespace, workflow_id)}")


@app.command("show")
def show(claim_id: Annotated[str, typer.Argument(help="The claim id printed by `claim start`")]) -> None:
    """Print a claim's status as JSON: phase, statement, approvals, payments."""
    status = run_async(_show(claim_id))
    typer.echo(status.model_dump_json(indent=2))


async def _show(claim_id: str) -> ClaimStatus:
    client = await connect_or_fail(get_settings())
    return await query_status(client, claim_workflow_id(claim_id), ClaimStatus, what=f"claim {claim_id}")
