"""`cyberins incident`: report an incident (first notice of loss), look at one or many.

Temporal and the settings are imported inside the commands, so `cyberins incident --help` stays quick.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import EXIT_BAD_INPUT, fail
from cli.files import query_status, read_document
from cli.listing import DEFAULT_LIMIT, LIMIT_HELP, MAX_LIMIT, Listing, checked_id, print_listing
from cli.output import WideOption, table_console
from cli.running import run_async
from cli.status_view import status_table
from contracts.incident import IncidentStatus, incident_workflow_id
from contracts.incident_activities import IncidentReport
from domain.errors import DomainRuleError
from domain.incident import IncidentCategory, IncidentGrade, check_discovery

app = typer.Typer(help="Report incidents and look at them.", no_args_is_help=True)


def incidents_listing() -> Listing:
    from workflows import search_attributes as sa

    return Listing(
        plural="incidents", workflow_type="IncidentWorkflow", id_prefix="incident-", id_column="incident_id",
        columns={
            "policy_id": sa.POLICY_ID, "grade": sa.INCIDENT_GRADE, "category": sa.INCIDENT_CATEGORY,
            "report_overdue": sa.REPORT_OVERDUE,
        },
    )


@app.command("report")
def report(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The report as JSON")],
    policy_id: Annotated[str | None, typer.Option(help="The policy; overrides policy_id in the file")] = None,
    discovered_at: Annotated[
        str | None, typer.Option(help="ISO time, or `now`; overrides discovered_at in the file")
    ] = None,
) -> None:
    """Start (or find) the incident workflow. The same policy and reference is the same incident."""
    overrides: dict[str, str] = {}
    if policy_id:
        overrides["policy_id"] = policy_id
    if discovered_at:
        overrides["discovered_at"] = (
            datetime.now(timezone.utc).isoformat() if discovered_at == "now" else discovered_at
        )
    incident = read_document(file, IncidentReport, what="incident report", overrides=overrides)
    try:
        check_discovery(incident.discovered_at, datetime.now(timezone.utc))
    except DomainRuleError as error:
        fail(f"discovered_at: {error.message}", EXIT_BAD_INPUT)
    run_async(_report(incident))


async def _report(incident: IncidentReport) -> None:
    from cli.connection import connect_or_fail
    from settings import get_settings
    from workflows.starting import report_incident

    settings = get_settings()
    client = await connect_or_fail(settings)
    incident_id, _ = await report_incident(client, settings.task_queue, incident)
    workflow_id = incident_workflow_id(incident_id)
    # The same policy and reference always lead to this one workflow, started now or earlier.
    typer.echo("Incident reported.")
    typer.echo(f"  incident id  {incident_id}")
    typer.echo(f"  workflow id  {workflow_id}")
    typer.echo(f"  Temporal UI  {settings.workflow_url(client.namespace, workflow_id)}")
    typer.echo(f"  claim        cyberins claim start {incident_id}")


@app.command("show")
def show(
    incident_id: Annotated[str, typer.Argument(help="The incident id printed by `incident report`")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False,
    wide: WideOption = False,
) -> None:
    """Print an incident's status: cover, the reporting clock, response, evidence."""
    status = run_async(_show(incident_id))
    if as_json:
        typer.echo(status.model_dump_json(indent=2))
    else:
        table = status_table(status, title=f"Incident {status.incident_id}", skip=("incident_id",))
        table_console(wide=wide).print(table)


async def _show(incident_id: str) -> IncidentStatus:
    from cli.connection import connect_or_fail
    from settings import get_settings

    client = await connect_or_fail(get_settings())
    workflow_id = incident_workflow_id(incident_id)
    return await query_status(client, workflow_id, IncidentStatus, what=f"incident {incident_id}")


@app.command("list")
def list_incidents(
    policy_id: Annotated[str | None, typer.Option(help="Only this policy's incidents")] = None,
    grade: Annotated[IncidentGrade | None, typer.Option(help="Only incidents of this grade")] = None,
    category: Annotated[IncidentCategory | None, typer.Option(help="Only incidents of this category")] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only incidents whose report to the authorities is overdue")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help=LIMIT_HELP)] = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array")] = False,
    wide: WideOption = False,
) -> None:
    """List incidents from Temporal visibility (it lags a few seconds behind the workflows)."""
    from workflows import search_attributes as sa

    clauses = [
        (sa.POLICY_ID, "=", checked_id(policy_id, "--policy-id")), (sa.INCIDENT_GRADE, "=", grade),
        (sa.INCIDENT_CATEGORY, "=", category), (sa.REPORT_OVERDUE, "=", True if overdue else None),
    ]
    print_listing(incidents_listing(), clauses, limit=limit, as_json=as_json, wide=wide)
