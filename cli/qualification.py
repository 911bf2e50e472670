"""`cyberins qualification …`: platform operations' view of provider qualifications (docs/domain.md, "Platform qualification by insurance"):
list and show them, record the platform's contact and decision, ask for a recheck. Providers and
insurers act through the API with their own keys. Temporal and the settings are imported inside the
commands, so `--help` stays quick."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from cli.files import query_status
from cli.listing import DEFAULT_LIMIT, LIMIT_HELP, MAX_LIMIT, Listing, print_listing
from cli.output import WideOption, table_console
from cli.running import run_async
from cli.status_view import status_table
from contracts.qualification import (
    PlatformContact,
    PlatformDecision,
    QualificationStatus,
    qualification_workflow_id,
)
from domain.qualification import QualificationPhase

app = typer.Typer(help="Provider qualifications by insurance on the open platform.", no_args_is_help=True)


def qualifications_listing() -> Listing:
    from workflows import search_attributes as sa

    return Listing(
        plural="qualifications", workflow_type="QualificationWorkflow", id_prefix="qualification-",
        id_column="qualification_id", columns={"phase": sa.QUALIFICATION_PHASE},
    )


@app.command("list")
def list_qualifications(
    phase: Annotated[QualificationPhase | None, typer.Option(help="Only qualifications in this phase")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help=LIMIT_HELP)] = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array")] = False,
    wide: WideOption = False,
) -> None:
    """List qualifications from Temporal visibility (it lags a few seconds behind the workflows)."""
    from workflows import search_attributes as sa

    clauses = [(sa.QUALIFICATION_PHASE, "=", phase)]
    print_listing(qualifications_listing(), clauses, limit=limit, as_json=as_json, wide=wide)


@app.command("show")
def show(
    qualification_id: Annotated[str, typer.Argument(help="e.g. qual-…")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False,
    wide: WideOption = False,
) -> None:
    """A qualification's phase, service levels, proofs and validity."""
    status = run_async(_status(qualification_id))
    if as_json:
        typer.echo(status.model_dump_json(indent=2))
    else:
        table = status_table(status, title=f"Qualification {qualification_id}", skip=("qualification_id",))
        table_console(wide=wide).print(table)


@app.command("contact")
def contact(
    qualification_id: Annotated[str, typer.Argument(help="An application in platform review")],
    operator: Annotated[str, typer.Option(help="The platform operator's id")],
    note: Annotated[str | None, typer.Option(help="What was agreed")] = None,
) -> None:
    """Record that platform operations contacted the provider (due within 1 working day)."""
    try:
        body = PlatformContact(operator_id=operator, note=note)
    except ValidationError as error:
        fail("\n".join(describe_validation_error(error, whole="contact")), EXIT_BAD_INPUT)
    status = run_async(_update(qualification_id, "platform_contacted", body))
    typer.echo(f"Qualification {qualification_id}: contact recorded; phase {status.phase.value}.")


@app.command("decide")
def decide(
    qualification_id: Annotated[str, typer.Argument(help="An application whose provider has been contacted")],
    operator: Annotated[str, typer.Option(help="The platform operator's id")],
    reason: Annotated[str, typer.Option(help="Why; kept with the decision")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approving")] = False,
) -> None:
    """Approve (the intent form goes to the insurer) or, with --reject, reject the application."""
    try:
        body = PlatformDecision(operator_id=operator, approve=not reject, reason=reason)
    except ValidationError as error:
        fail("\n".join(describe_validation_error(error, whole="decision")), EXIT_BAD_INPUT)
    status = run_async(_update(qualification_id, "platform_decide", body))
    typer.echo(f"Qualification {qualification_id}: {'rejected' if reject else 'approved'}; phase {status.phase.value}.")


@app.command("recheck")
def recheck(qualification_id: Annotated[str, typer.Argument(help="A qualified provider")]) -> None:
    """Check the qualifying policy now rather than at the next daily check."""
    run_async(_signal(qualification_id))
    typer.echo(f"Qualification {qualification_id}: recheck requested.")


async def _status(qualification_id: str) -> QualificationStatus:
    from cli.connection import connect_or_fail
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    return await query_status(
        client, qualification_workflow_id(qualification_id), QualificationStatus, what=f"qualification {qualification_id}"
    )


async def _update(qualification_id: str, name: str, body) -> QualificationStatus:
    from cli.connection import connect_or_fail
    from cli.updates import send_update
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    return await send_update(
        client, qualification_workflow_id(qualification_id), name, body, QualificationStatus,
        what=f"qualification {qualification_id}",
    )


async def _signal(qualification_id: str) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from cli.connection import connect_or_fail
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    try:
        await client.get_workflow_handle(qualification_workflow_id(qualification_id)).signal("policy_changed")
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            fail(f"no open qualification {qualification_id}")
        fail(f"the recheck was not sent: {error.message}")
