"""`cyberins claim`: start claims and work them (定责定损, 理赔): loss items, determination, approval,
interim payments; look at one or many; and a what-if loss determination with no server involved.

Temporal and the settings are imported inside the commands, so `cyberins claim --help` stays quick.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from cli.files import query_status, read_document
from cli.listing import DEFAULT_LIMIT, LIMIT_HELP, MAX_LIMIT, Listing, checked_id, print_listing
from cli.output import WideOption, table_console
from cli.running import run_async
from cli.status_view import statement_table, status_table
from contracts.claim import (
    Approval,
    ClaimStatus,
    ClaimWorkflowInput,
    InterimPaymentRequest,
    LossItemsSubmission,
    claim_workflow_id,
)
from domain.claim import ClaimantKind, ClaimPhase
from domain.coverage import CoverageHead
from domain.errors import DomainRuleError
from domain.loss import LimitsUsed, LossConditions, LossItem, LossStatement, determine_loss
from domain.money import Money
from domain.schedule import CoverageSchedule

app = typer.Typer(
    help="Start claims, work them, look at them, and work out what a claim would pay.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print the answer as JSON")]
ClaimIdArgument = Annotated[str, typer.Argument(help="The claim id printed by `claim start`")]


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


def claims_listing() -> Listing:
    from workflows import search_attributes as sa

    return Listing(
        plural="claims", workflow_type="ClaimWorkflow", id_prefix="claim-", id_column="claim_id",
        columns={"policy_id": sa.POLICY_ID, "phase": sa.CLAIM_PHASE},
    )


async def _start(workflow_input: ClaimWorkflowInput) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from cli.connection import connect_or_fail
    from settings import get_settings
    from workflows.starting import start_claim

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
def show(claim_id: ClaimIdArgument, as_json: JsonOption = False, wide: WideOption = False) -> None:
    """Print a claim's status: phase, statement, approvals, payments."""
    status = run_async(_show(claim_id))
    if as_json:
        typer.echo(status.model_dump_json(indent=2))
    else:
        _print_status(status, wide=wide)


async def _show(claim_id: str) -> ClaimStatus:
    from cli.connection import connect_or_fail
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    return await query_status(client, claim_workflow_id(claim_id), ClaimStatus, what=f"claim {claim_id}")


def _print_status(status: ClaimStatus, *, wide: bool = False) -> None:
    table_console(wide=wide).print(status_table(status, title=f"Claim {status.claim_id}", skip=("claim_id",)))


@app.command("list")
def list_claims(
    policy_id: Annotated[str | None, typer.Option(help="Only this policy's claims")] = None,
    phase: Annotated[ClaimPhase | None, typer.Option(help="Only claims in this phase")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help=LIMIT_HELP)] = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array")] = False,
    wide: WideOption = False,
) -> None:
    """List claims from Temporal visibility (it lags a few seconds behind the workflows)."""
    from workflows import search_attributes as sa

    clauses = [(sa.POLICY_ID, "=", checked_id(policy_id, "--policy-id")), (sa.CLAIM_PHASE, "=", phase)]
    print_listing(claims_listing(), clauses, limit=limit, as_json=as_json, wide=wide)


@app.command("add-items")
def add_items(
    claim_id: ClaimIdArgument,
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help='{"items": [loss items]} as JSON'),
    ],
    as_json: JsonOption = False,
) -> None:
    """Add loss items to a claim (the adjuster's step); a determined claim goes back to gathering."""
    submission = read_document(file, LossItemsSubmission, what="loss items submission")
    _answer_with_status(claim_id, "submit_loss_items", submission, as_json)


@app.command("determine")
def determine(claim_id: ClaimIdArgument, as_json: JsonOption = False) -> None:
    """Determine the loss (定损) against the policy's remaining limits; the claim goes to review."""
    statement = run_async(_update(claim_id, "determine", None, LossStatement))
    if as_json:
        typer.echo(statement.model_dump_json(indent=2))
    else:
        table_console().print(statement_table(statement))
        typer.echo(f"Claim {claim_id} is in review: `cyberins claim approve {claim_id} --approver ID`.")


@app.command("approve")
def approve(
    claim_id: ClaimIdArgument,
    approver: Annotated[
        str, typer.Option(help="The adjuster's id; above the authority limit a second, different one")
    ],
    as_json: JsonOption = False,
) -> None:
    """Approve a determined claim in review; with enough approvals the offer goes to the insured."""
    _answer_with_status(claim_id, "approve", _valid(Approval, "approval", approver_id=approver), as_json)


@app.command("pay")
def pay(
    claim_id: ClaimIdArgument,
    head: Annotated[CoverageHead, typer.Option(help="The head paid ahead of settlement")],
    amount_fen: Annotated[int, typer.Option(min=1, help="Integer fen (1/100 yuan), CNY")],
    approver: Annotated[str, typer.Option(help="Who approves the payment")],
    as_json: JsonOption = False,
) -> None:
    """An interim payment of urgent costs, within what the current determination makes payable."""
    request = _valid(
        InterimPaymentRequest, "payment", head=head, amount=Money(fen=amount_fen), approver_id=approver
    )
    _answer_with_status(claim_id, "interim_payment", request, as_json)


def _valid(model: type[BaseModel], what: str, **values):
    try:
        return model(**values)
    except ValidationError as error:
        fail("\n".join(describe_validation_error(error, whole=what)), EXIT_BAD_INPUT)


def _answer_with_status(claim_id: str, update: str, message: BaseModel, as_json: bool) -> None:
    status = run_async(_update(claim_id, update, message, ClaimStatus))
    if as_json:
        typer.echo(status.model_dump_json(indent=2))
    else:
        _print_status(status)


async def _update(claim_id: str, update: str, message: BaseModel | None, result_type):
    from cli.connection import connect_or_fail
    from cli.updates import send_update
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    workflow_id = claim_workflow_id(claim_id)
    return await send_update(client, workflow_id, update, message, result_type, what=f"claim {claim_id}")
