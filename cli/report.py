"""`cyberins report pilot`: the pilot programme's progress or annual summary report, as Markdown,
CSV and SVG charts in one folder, from the service's own records (DATABASE_URL, or the running dev
stack's PostgreSQL). Read-only."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Reports for the pilot programme's authorities.", no_args_is_help=True)
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))


def _day(value: str, option: str) -> date:
    from cli.errors import EXIT_BAD_INPUT, fail

    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date as YYYY-MM-DD, e.g. 2026-01-01", EXIT_BAD_INPUT)


@app.command("pilot")
def pilot(
    out: Annotated[Path, typer.Option(help="Folder for report.md, one CSV per section and the SVG charts")],
    start: Annotated[str, typer.Option("--from", help="First day of the period (Beijing dates), YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="Last day of the period, included, YYYY-MM-DD")],
    title: Annotated[str, typer.Option(help="The report's heading")] = "Cyber-security insurance pilot: summary",
) -> None:
    """Policies by industry and class, premium and limits, assessments, findings and remediation,
    incidents by grade and category, reports to the authorities on time and late, emergency
    response, forensics, claims and payouts, platform qualifications."""
    from cli.errors import EXIT_BAD_INPUT, fail
    from cli.running import run_async

    first, last = _day(start, "--from"), _day(end, "--to")
    if last < first:
        fail("--to is before --from", EXIT_BAD_INPUT)
    if out.exists() and not out.is_dir():
        fail(f"{out} exists and is not a folder", EXIT_BAD_INPUT)
    period = (
        datetime.combine(first, time(0), tzinfo=CHINA_STANDARD_TIME),
        datetime.combine(last + timedelta(days=1), time(0), tzinfo=CHINA_STANDARD_TIME),
    )
    written = run_async(_build(out, period, title))
    typer.echo(f"Pilot report for {first.isoformat()} to {last.isoformat()} written to {out}:")
    for path in written:
        typer.echo(f"  {path.name}")


async def _build(out: Path, period: tuple[datetime, datetime], title: str) -> list[Path]:
    from cli.database import with_database
    from reports.pilot import write_report
    from reports.pilot_figures import gather

    figures = await with_database(lambda _engine, sessions: gather(sessions, *period), doing="read the records")
    return write_report(figures, out, title=title)
