"""`cyberins policy`: start a policy from an application file, take it through underwriting, look at one
or many, decide a referral.

The parties' steps after `apply` (assessment, acceptance, findings) are in cli/policy_steps.py. Temporal,
the contracts and the settings are imported inside the commands, so `cyberins policy --help` stays quick.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import policy_steps
from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from cli.listing import DEFAULT_LIMIT, LIMIT_HELP, MAX_LIMIT
from cli.output import WideOption, table_console
from domain.coverage import Industry
from domain.policy import PolicyPhase

if TYPE_CHECKING:
    from cli.listing import Listing
    from contracts.policy import (
        PolicyStatus,
        PolicyWorkflowInput,
        UnderwriterDecision,
        UnderwriterDecisionReceipt,
    )
    from domain.application import PolicyApplication

app = typer.Typer(help="Start policies, move them through underwriting, look at them.", no_args_is_help=True)


def policies_listing() -> Listing:
    from cli.listing import Listing
    from workflows import search_attributes as sa

    return Listing(
        plural="policies", workflow_type="PolicyWorkflow", id_prefix="policy-", id_column="policy_id",
        columns={
            "phase": sa.POLICY_PHASE, "industry": sa.INDUSTRY, "risk_score": sa.RISK_SCORE, "term": sa.TERM_NUMBER
        },
    )


def new_policy_id() -> str:
    """Random, so that ids carry no personal data (no organisation name, no credit code)."""
    return f"pol-{secrets.token_hex(6)}"


def read_application(path: Path) -> PolicyApplication:
    from cli.files import read_document
    from domain.application import PolicyApplication

    return read_document(path, PolicyApplication, what="application")


def build_input(policy_id: str, application: PolicyApplication) -> PolicyWorkflowInput:
    from pydantic import ValidationError

    from contracts.policy import PolicyWorkflowInput
    from domain.rules import PolicyRules

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
    from cli.running import run_async

    workflow_input = build_input(policy_id or new_policy_id(), read_application(file))
    run_async(_start(workflow_input))


async def _start(workflow_input: PolicyWorkflowInput) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from cli.connection import connect_or_fail
    from contracts.policy import policy_workflow_id
    from settings import get_settings
    from workflows.starting import start_policy

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
    typer.echo(f"  next         cyberins policy assess {workflow_input.policy_id} ASSESSMENT.json")


# The parties' steps after `apply`, listed in the order they happen.
app.command("assess")(policy_steps.assess)
app.command("accept")(policy_steps.accept)
app.command("findings")(policy_steps.findings)


@app.command("show")
def show(
    policy_id: Annotated[str, typer.Argument(help="The policy id printed by `policy apply`")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False,
    wide: WideOption = False,
) -> None:
    """Print a policy's current status (the workflow's "status" query)."""
    from cli.running import run_async
    from cli.status_view import status_table

    status = run_async(_query_status(policy_id))
    if as_json:
        typer.echo(status.model_dump_json(indent=2))
    else:
        table_console(wide=wide).print(status_table(status, title=f"Policy {status.policy_id}", skip=("policy_id",)))


async def _query_status(policy_id: str) -> PolicyStatus:
    from cli.connection import connect_or_fail
    from cli.policy_steps import query_policy
    from settings import get_settings

    return await query_policy(await connect_or_fail(get_settings()), policy_id)


@app.command("list")
def list_policies(
    phase: Annotated[PolicyPhase | None, typer.Option(help="Only policies in this phase")] = None,
    industry: Annotated[Industry | None, typer.Option(help="Only policies of this industry")] = None,
    min_risk_score: Annotated[
        int | None, typer.Option(min=0, max=100, help="Only policies scored at least this (0 to 100)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help=LIMIT_HELP)] = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array")] = False,
    wide: WideOption = False,
) -> None:
    """List policies from Temporal visibility (it lags a few seconds behind the workflows)."""
    from cli.listing import print_listing
    from workflows import search_attributes as sa

    clauses = [
        (sa.POLICY_PHASE, "=", phase), (sa.INDUSTRY, "=", industry), (sa.RISK_SCORE, ">=", min_risk_score)
    ]
    print_listing(policies_listing(), clauses, limit=limit, as_json=as_json, wide=wide)


@app.command("approve")
def approve(
    policy_id: Annotated[str, typer.Argument(help="A policy referred to an underwriter (phase `referred`)")],
    underwriter: Annotated[str, typer.Option(help="The underwriter's id")],
    reason: Annotated[str, typer.Option(help="Why; kept with the decision")],
    decline: Annotated[bool, typer.Option("--decline", help="Decline the case instead of accepting")] = False,
    premium_fen: Annotated[
        int | None, typer.Option(min=1, help="Accepting: this premium, integer fen (CNY), not the rated one")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the receipt as JSON")] = False,
) -> None:
    """The insurer's decision on a referral: accept (a quote follows) or, with --decline, decline."""
    from pydantic import ValidationError

    from cli.running import run_async
    from contracts.policy import UnderwriterDecision
    from domain.money import Money, format_money
    from domain.rating import Decision

    if decline and premium_fen is not None:
        fail("--premium-fen is for accepting; leave it out with --decline", EXIT_BAD_INPUT)
    try:
        decision = UnderwriterDecision(
            underwriter_id=underwriter,
            decision=Decision.DECLINE if decline else Decision.ACCEPT,
            reason=reason,
            premium_override=Money(fen=premium_fen) if premium_fen is not None else None,
        )
    except ValidationError as error:
        fail("\n".join(describe_validation_error(error, whole="decision")), EXIT_BAD_INPUT)
    receipt = run_async(_decide(policy_id, decision))
    if as_json:
        typer.echo(receipt.model_dump_json(indent=2))
        return
    outcome = "declined" if receipt.decision is Decision.DECLINE else "accepted"
    typer.echo(f"Policy {policy_id}: referral {outcome} by {underwriter}.")
    if receipt.decision is Decision.ACCEPT:
        typer.echo(f"  premium  {format_money(receipt.premium)}")
        typer.echo(f"  next     the insured accepts the quote: cyberins policy accept {policy_id}")


async def _decide(policy_id: str, decision: UnderwriterDecision) -> UnderwriterDecisionReceipt:
    from cli.connection import connect_or_fail
    from cli.updates import send_update
    from contracts.policy import UnderwriterDecisionReceipt, policy_workflow_id
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    return await send_update(
        client, policy_workflow_id(policy_id), "decide_referral", decision, UnderwriterDecisionReceipt,
        what=f"policy {policy_id}",
    )
