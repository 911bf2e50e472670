"""The closing report to the authorities is due 5 working days after restoration, on China's
calendar (end of the fifth working day, Beijing time), and is marked overdue after it."""

from __future__ import annotations

from calendars.china import published_calendar
from contracts.incident import (
    DispatchAcknowledgement,
    ProgressKind,
    RegulatoryFiling,
    ReportKind,
    VendorProgress,
)
from contracts.incident_activities import IncidentEventKind
from domain.incident import IncidentGrade
from domain.policy import CHINA_STANDARD_TIME
from domain.working_calendar import business_deadline
from tests.workflows.post_cover import hours
from tests.workflows.support import eventually, running_worker, scalar
from tests.workflows.test_post_cover_scenarios import covered_incident, incident_status
from workflows.incident import IncidentWorkflow


async def test_the_closing_report_falls_due_on_the_working_calendar_and_goes_overdue(
    time_skipping_env, session_factory, task_queue
):
    env = time_skipping_env
    async with running_worker(env.client, session_factory, task_queue):
        _, _, incident, discovered = await covered_incident(env, task_queue, grade=IncidentGrade.SIGNIFICANT)
        await eventually(incident, **incident_status(lambda s: s.dispatched_vendor == "panel-ir-01"))
        await incident.execute_update(IncidentWorkflow.acknowledge_dispatch, DispatchAcknowledgement(vendor_id="panel-ir-01"))
        await env.sleep(hours(2))  # the filing and the restoration have happened by the incident's clock
        await incident.execute_update(
            IncidentWorkflow.file_regulatory_report,
            RegulatoryFiling(kind=ReportKind.INITIAL, channel="CAC portal", reference="R-1", filed_at=discovered + hours(1)),
        )
        restored_at = discovered + hours(2)
        await incident.signal(IncidentWorkflow.post_progress, VendorProgress(
            vendor_id="panel-ir-01", event_id="p-restored", kind=ProgressKind.RESTORED, at=restored_at,
        ))
        status = await eventually(incident, **incident_status(lambda s: s.closing_report_due is not None))
        expected = business_deadline(published_calendar(), restored_at, 5)
        assert status.closing_report_due == expected.due
        beijing = status.closing_report_due.astimezone(CHINA_STANDARD_TIME)
        assert (beijing.hour, beijing.minute) == (0, 0)  # the end of the fifth working day

        await env.sleep(expected.due - discovered + hours(1))
        await eventually(incident, **incident_status(lambda s: s.closing_report_overdue))
        overdue = await scalar(
            session_factory, "SELECT count(*) FROM incident_events WHERE incident_id = :i AND kind = :k",
            i=incident.id.removeprefix("incident-"), k=IncidentEventKind.CLOSING_REPORT_OVERDUE.value,
        )
        assert overdue == 1
