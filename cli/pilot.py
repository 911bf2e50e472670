"""`cyberins pilot check …`: a service scheme or a Shanghai healthcare application against the pilot
programme's rules (docs/domain.md, "The pilot programme"), before it is submitted. Every broken rule is named."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.errors import EXIT_BAD_INPUT, fail
from cli.files import read_document

app = typer.Typer(help="The cyber-insurance pilot programme: schemes, applications, deadlines.", no_args_is_help=True)
EXIT_RULES_BROKEN = 1


@app.command("check-scheme")
def check_scheme(
    path: Annotated[Path, typer.Argument(help="The scheme as JSON (lead unit, joint units, direction)")],
    schemes_led: Annotated[int, typer.Option(min=0, help="Other schemes the lead unit already leads")] = 0,
) -> None:
    """Exit 0 when the scheme keeps every rule; 1 naming each rule it breaks."""
    from domain.pilot import PilotRules, ServiceScheme
    from domain.pilot import check_scheme as check

    scheme = read_document(path, ServiceScheme, what="scheme")
    _report(scheme.name, check(scheme, schemes_led, PilotRules()))


@app.command("check-healthcare")
def check_healthcare(
    path: Annotated[Path, typer.Argument(help="The Shanghai healthcare application as JSON")],
    projects: Annotated[int, typer.Option(min=0, help="Other projects the applicant already has")] = 0,
) -> None:
    """Exit 0 when the application keeps every rule; 1 naming each rule it breaks."""
    from domain.pilot import HealthcareApplication, PilotRules, check_healthcare_application

    application = read_document(path, HealthcareApplication, what="application")
    _report(application.project_name, check_healthcare_application(application, projects, PilotRules()))


@app.command("submit-scheme")
def submit_scheme(
    path: Annotated[Path, typer.Argument(help="The scheme as JSON")],
) -> None:
    """Check the scheme against the rules and what is already submitted (how many schemes its lead
    unit leads), and store it if it keeps every rule. Exit 1 naming each broken rule."""
    from domain.pilot import ServiceScheme
    from pilot.submissions import submit_scheme as submit

    scheme = read_document(path, ServiceScheme, what="scheme")
    _submitted(f"Scheme {scheme.scheme_id}", _with_database(lambda sessions: submit(sessions, scheme)))


@app.command("submit-healthcare")
def submit_healthcare(
    path: Annotated[Path, typer.Argument(help="The Shanghai healthcare application as JSON")],
) -> None:
    """Check the application against the rules and the applicant's other projects, and store it if it
    keeps every rule. Exit 1 naming each broken rule."""
    from domain.pilot import HealthcareApplication
    from pilot.submissions import submit_healthcare_application

    application = read_document(path, HealthcareApplication, what="application")
    _submitted(f"Application {application.application_id}",
               _with_database(lambda sessions: submit_healthcare_application(sessions, application)))


def _with_database(work):
    from cli.database import with_database
    from cli.running import run_async

    return run_async(with_database(lambda _engine, sessions: work(sessions), doing="store the submission"))


def _submitted(name: str, submission) -> None:
    if submission.already_stored:
        typer.echo(f"{name} was already submitted as it is; nothing changed.")
        return
    if submission.stored:
        typer.echo(f"{name} keeps every rule and is submitted.")
        return
    _report(name, submission.violations)


@app.command("track")
def track(
    programme: Annotated[str, typer.Option(help="national, guangdong, hebei or shanghai")],
    kind: Annotated[str, typer.Option(help="progress or annual_summary")],
    due: Annotated[str, typer.Option(help="The due date, YYYY-MM-DD (Beijing)")],
) -> None:
    """Track a report deadline: operators are reminded 30, 7 and 1 days before, and told when it is
    overdue, until `cyberins pilot filed` records the report. Tracking it again changes nothing."""
    from cli.connection import connect_or_fail
    from cli.running import run_async
    from settings import get_settings
    from workflows.starting import track_pilot_deadline

    deadline = _deadline(programme, kind, due)

    async def start() -> None:
        settings = get_settings()
        client = await connect_or_fail(settings)
        await track_pilot_deadline(client, settings.task_queue, deadline)

    run_async(start())
    typer.echo(f"Tracking {deadline.kind.value} for {deadline.programme.value}, due {deadline.due.isoformat()} "
               f"(pilot-deadline-{deadline.key}).")


@app.command("filed")
def filed(
    programme: Annotated[str, typer.Option(help="national, guangdong, hebei or shanghai")],
    kind: Annotated[str, typer.Option(help="progress or annual_summary")],
    due: Annotated[str, typer.Option(help="The due date, YYYY-MM-DD (Beijing)")],
    reference: Annotated[str, typer.Option(help="The filing's reference at the authority")],
) -> None:
    """Record that the report was filed; the deadline's reminders stop."""
    from cli.connection import connect_or_fail
    from cli.running import run_async
    from cli.updates import send_update
    from settings import get_settings
    from workflows.pilot_deadline import PilotDeadlineStatus, ReportFiled, pilot_deadline_workflow_id

    deadline = _deadline(programme, kind, due)
    try:
        filing = ReportFiled(reference=reference)
    except ValueError:
        fail("--reference must be 1 to 128 characters", EXIT_BAD_INPUT)

    async def send() -> PilotDeadlineStatus:
        client = await connect_or_fail(get_settings())
        return await send_update(client, pilot_deadline_workflow_id(deadline), "file_report", filing,
                                 PilotDeadlineStatus, what=f"deadline {deadline.key}")

    status = run_async(send())
    typer.echo(f"Filed as {status.filed_reference}" + (" (late)." if status.overdue else " (on time)."))


@app.command("deadlines")
def deadlines() -> None:
    """The notices' own deadlines and their reminder dates (track the current year's with `track`)."""
    from domain.pilot import DEFAULT_DEADLINES, reminder_dates

    for deadline in DEFAULT_DEADLINES:
        reminders = ", ".join(f"{days} d before ({at.isoformat()})" for days, at in reminder_dates(deadline))
        typer.echo(f"{deadline.programme.value:<10} {deadline.kind.value:<15} due {deadline.due.isoformat()}; "
                   f"reminders {reminders}")


def _deadline(programme: str, kind: str, due: str):
    from datetime import date

    from pydantic import ValidationError

    from domain.pilot import PilotDeadline

    try:
        return PilotDeadline(programme=programme, kind=kind, due=date.fromisoformat(due))
    except ValueError as error:
        if isinstance(error, ValidationError):
            first = error.errors()[0]
            fail(f"--{first['loc'][0]}: {first['msg']}", EXIT_BAD_INPUT)
        fail("--due must be a date as YYYY-MM-DD", EXIT_BAD_INPUT)


def _report(name: str, violations) -> None:
    if not violations:
        typer.echo(f"{name}: keeps every rule of the pilot programme.")
        return
    typer.echo(f"{name}: breaks {len(violations)} rule(s):", err=True)
    for violation in violations:
        typer.echo(f"  {violation.rule}: {violation.message}", err=True)
    raise typer.Exit(EXIT_RULES_BROKEN)

