"""Submitting a service scheme or a Shanghai healthcare application: in one transaction, holding the
lead unit's lock, count what it already has, check every rule, store it only if none is broken.

The same id submitted again with the same document is the same submission (nothing changes); with
another document it is refused, so that a stored scheme is never silently replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.pilot import (
    HealthcareApplication,
    PilotRules,
    RuleViolation,
    ServiceScheme,
    check_healthcare_application,
    check_scheme,
)
from storage.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Submission:
    stored: bool
    already_stored: bool
    violations: list[RuleViolation]


def _conflict(what: str) -> RuleViolation:
    return RuleViolation(rule="id_taken", message=f"{what} is already submitted with other content")


async def submit_scheme(
    sessions: async_sessionmaker[AsyncSession], scheme: ServiceScheme, rules: PilotRules | None = None,
    *, at: datetime | None = None,
) -> Submission:
    async with UnitOfWork(sessions) as uow:
        await uow.pilot.lock_unit(scheme.lead_unit.unified_social_credit_code)
        stored = await uow.pilot.scheme(scheme.scheme_id)
        if stored is not None:
            same = stored == scheme.model_dump(mode="json")
            return Submission(False, same, [] if same else [_conflict(f"scheme {scheme.scheme_id}")])
        led = await uow.pilot.schemes_led(
            scheme.programme.value, scheme.lead_unit.unified_social_credit_code, other_than=scheme.scheme_id
        )
        violations = check_scheme(scheme, led, rules or PilotRules())
        if not violations:
            await uow.pilot.add_scheme(scheme, at or datetime.now(UTC))
        return Submission(not violations, False, violations)


async def submit_healthcare_application(
    sessions: async_sessionmaker[AsyncSession], application: HealthcareApplication, rules: PilotRules | None = None,
    *, at: datetime | None = None,
) -> Submission:
    async with UnitOfWork(sessions) as uow:
        await uow.pilot.lock_unit(application.applicant.unified_social_credit_code)
        stored = await uow.pilot.healthcare_application(application.application_id)
        if stored is not None:
            same = stored == application.model_dump(mode="json")
            return Submission(False, same, [] if same else [_conflict(f"application {application.application_id}")])
        projects = await uow.pilot.healthcare_projects(
            application.applicant.unified_social_credit_code, other_than=application.application_id
        )
        violations = check_healthcare_application(application, projects, rules or PilotRules())
        if not violations:
            await uow.pilot.add_healthcare_application(application, at or datetime.now(UTC))
        return Submission(not violations, False, violations)
