"""Claim records and payment: the basis a claim is judged on, each write safe to retry, and a
payout that pays once however often it is ordered."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.claim import INCIDENT_RECORDING_ATTEMPTS, ClaimActivities
from activities.incident import IncidentActivities
from activities.policy import PolicyActivities
from contracts.claim_activities import (
    LoadClaimBasis,
    RecordClaim,
    RecordClaimPhase,
    RecordLossItems,
    RecordLossStatement,
    RecordSubrogation,
)
from contracts.incident_activities import RecordForensics
from contracts.policy_activities import RecordEndorsement, ResolveFinding, SweepRemediation
from domain.claim import ClaimantKind, ClaimPhase
from domain.coverage import CoverageHead
from domain.findings import Resolution, Severity
from domain.loss import LimitsUsed, LossConditions, determine_loss
from domain.money import Money
from domain.policy import BoundPolicy
from storage.models import (
    ClaimPhaseRow,
    ClaimRow,
    LossItemRow,
    LossStatementRow,
    PayoutRow,
    SubrogationRow,
)
from tests.activities import builders
from tests.activities.builders import DAY, T0

Sessions = async_sessionmaker[AsyncSession]
VPN = "vpn.example.cn"
DISCOVERED = T0 + 10 * DAY


@dataclass(frozen=True)
class Incident:
    policy_id: str
    policy: BoundPolicy
    incident_id: str = "inc-1"
    claim_id: str = "clm-1"


@pytest.fixture
def incidents(session_factory: Sessions) -> IncidentActivities:
    return IncidentActivities(session_factory)


@pytest.fixture
def claims(session_factory: Sessions) -> ClaimActivities:
    return ClaimActivities(session_factory)


@pytest.fixture
async def incident(activities: PolicyActivities, incidents: IncidentActivities) -> Incident:
    """A bound policy and an incident discovered ten days into its term."""
    policy = builders.policy_id()
    await activities.record_application(builders.record_application(policy))
    bound = await activities.bind_policy(builders.bind_policy(policy))
    report = builders.incident_report(policy, discovered_at=DISCOVERED)
    await incidents.record_incident(builders.record_incident("inc-1", report, bound))
    return Incident(policy_id=policy, policy=bound)


@pytest.fixture
async def claim(claims: ClaimActivities, incident: Incident) -> Incident:
    await claims.record_claim(open_claim(incident))
    return incident


def open_claim(incident: Incident) -> RecordClaim:
    return RecordClaim(
        claim_id=incident.claim_id,
        incident_id=incident.incident_id,
        policy_id=incident.policy_id,
        claimant=ClaimantKind.FIRST_PARTY,
        opened_at=DISCOVERED + DAY,
    )


async def rows(sessions: Sessions, model: type) -> list:
    async with sessions() as session:
        statement = select(model).order_by(*model.__table__.primary_key.columns)
        return list((await session.scalars(statement)).all())


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def overdue_critical(
    activities: PolicyActivities,
    incident: Incident,
    *,
    severity: Severity = Severity.CRITICAL,
    swept_on_day: int = 8,
) -> None:
    """A finding on the VPN received at T0; a critical is due on day 7 and marked overdue by the sweep."""
    finding = builders.finding("vpn-cve", severity, asset=VPN)
    await activities.record_findings(builders.record_findings(incident.policy_id, [finding]))
    await activities.sweep_remediation(
        SweepRemediation(policy_id=incident.policy_id, term_number=1, now=T0 + swept_on_day * DAY)
    )


async def exploited(incidents: IncidentActivities, incident: Incident, *assets: str) -> None:
    report = builders.forensics(*assets)
    await incidents.record_forensics(
        RecordForensics(incident_id=incident.incident_id, report=report, received_at=DISCOVERED + 5 * DAY)
    )


async def test_the_basis_has_the_incident_cover_and_the_current_limits_of_its_term(
    activities: PolicyActivities, claims: ClaimActivities, incident: Incident
) -> None:
    head = CoverageHead.DATA_BREACH_LIABILITY
    await activities.record_endorsement(
        RecordEndorsement(
            policy_id=incident.policy_id,
            policy_number=incident.policy.policy_number,
            term_number=1,
            request_id="req-1",
            head=head,
            previous_sublimit=Money.yuan(3_000_000),
            new_sublimit=Money.yuan(4_000_000),
            additional_premium=Money.yuan(3_000),
            return_premium=Money(fen=0),
            effective_at=T0 + 5 * DAY,
        )
    )

    basis = await claims.load_claim_basis(LoadClaimBasis(incident_id=incident.incident_id))

    assert (basis.policy_id, basis.term_number, basis.discovered_at) == (incident.policy_id, 1, DISCOVERED)
    assert basis.schedule is not None
    assert basis.schedule.terms_for(head).sublimit == Money.yuan(4_000_000)
    assert basis.schedule.aggregate_limit == incident.policy.schedule.aggregate_limit
    assert basis.panel_vendor_ids == incident.policy.schedule.panel_vendor_ids != []
    assert basis.coverage.in_force_at_discovery and basis.coverage.notice_minutes == 120
    assert basis.forensics is None and basis.overdue_critical_on_exploited_asset is False


async def test_a_critical_finding_overdue_at_discovery_on_the_exploited_asset_counts(
    activities: PolicyActivities, incidents: IncidentActivities, claims: ClaimActivities, incident: Incident
) -> None:
    await overdue_critical(activities, incident)
    await exploited(incidents, incident, "mes-fs-01", VPN)

    basis = await claims.load_claim_basis(LoadClaimBasis(incident_id=incident.incident_id))

    assert basis.forensics is not None and basis.forensics.exploited_assets == ["mes-fs-01", VPN]
    assert basis.overdue_critical_on_exploited_asset is True


@pytest.mark.parametrize(
    ("severity", "swept_on_day", "assets"),
    [
        (Severity.CRITICAL, 8, ["mes-fs-01"]),  # another asset was exploited
        (Severity.CRITICAL, 11, [VPN]),  # marked overdue only after discovery (day 10)
        (Severity.HIGH, 31, [VPN]),  # overdue, but not critical
    ],
)
async def test_an_overdue_finding_counts_only_if_critical_overdue_by_discovery_and_exploited(
    activities: PolicyActivities,
    incidents: IncidentActivities,
    claims: ClaimActivities,
    incident: Incident,
    severity: Severity,
    swept_on_day: int,
    assets: list[str],
) -> None:
    await overdue_critical(activities, incident, severity=severity, swept_on_day=swept_on_day)
    await exploited(incidents, incident, *assets)

    basis = await claims.load_claim_basis(LoadClaimBasis(incident_id=incident.incident_id))

    assert basis.overdue_critical_on_exploited_asset is False


async def test_a_critical_finding_closed_before_discovery_no_longer_counts(
    activities: PolicyActivities, incidents: IncidentActivities, claims: ClaimActivities, incident: Incident
) -> None:
    await overdue_critical(activities, incident)
    await activities.resolve_finding(
        ResolveFinding(
            policy_id=incident.policy_id,
            term_number=1,
            vendor_event_id="vpn-cve",
            resolution=Resolution.FALSE_POSITIVE,
            at=T0 + 9 * DAY,
        )
    )
    await exploited(incidents, incident, VPN)

    basis = await claims.load_claim_basis(LoadClaimBasis(incident_id=incident.incident_id))

    assert basis.overdue_critical_on_exploited_asset is False


async def test_the_basis_of_an_unknown_incident_is_refused(claims: ClaimActivities) -> None:
    with pytest.raises(ApplicationError) as raised:
        await claims.load_claim_basis(LoadClaimBasis(incident_id="inc-none"))
    assert raised.value.type == "unknown_incident" and raised.value.non_retryable


async def test_the_basis_of_an_incident_not_yet_recorded_is_retried_before_it_counts_as_unknown(
    claims: ClaimActivities,
) -> None:
    """A claim opened the moment its incident is reported may look before the report is recorded."""
    query = LoadClaimBasis(incident_id="inc-none")
    cases = [(1, "incident_not_recorded_yet", True), (INCIDENT_RECORDING_ATTEMPTS, "unknown_incident", False)]
    for attempt, expected_type, retryable in cases:
        environment = ActivityEnvironment()
        environment.info = dataclasses.replace(environment.info, attempt=attempt)
        with pytest.raises(ApplicationError) as raised:
            await environment.run(claims.load_claim_basis, query)
        assert (raised.value.type, not raised.value.non_retryable) == (expected_type, retryable)


async def test_a_claim_and_its_phases_retried_are_stored_once_and_the_claim_shows_the_latest(
    claims: ClaimActivities, session_factory: Sessions, incident: Incident
) -> None:
    in_review = RecordClaimPhase(claim_id="clm-1", phase=ClaimPhase.IN_REVIEW, at=DISCOVERED + 20 * DAY)
    offered = RecordClaimPhase(claim_id="clm-1", phase=ClaimPhase.OFFERED, at=DISCOVERED + 25 * DAY)

    await claims.record_claim(open_claim(incident))
    await claims.record_claim(open_claim(incident))
    await claims.record_claim_phase(in_review)
    await claims.record_claim_phase(offered)
    await claims.record_claim_phase(in_review)  # a late retry must not move the claim back

    [stored] = await rows(session_factory, ClaimRow)
    assert (stored.phase, stored.updated_at) == ("offered", DISCOVERED + 25 * DAY)
    assert [h.phase for h in await rows(session_factory, ClaimPhaseRow)] == ["in_review", "offered"]


async def test_a_claim_of_an_unknown_incident_is_refused(claims: ClaimActivities, incident: Incident) -> None:
    command = open_claim(incident).model_copy(update={"incident_id": "inc-none"})
    with pytest.raises(ApplicationError) as raised:
        await claims.record_claim(command)
    assert raised.value.type == "unknown_incident"


async def test_loss_items_retried_land_once_and_a_corrected_item_replaces_the_earlier(
    claims: ClaimActivities, session_factory: Sessions, claim: Incident
) -> None:
    first = RecordLossItems(
        claim_id=claim.claim_id,
        items=[
            builders.loss_item("ransom", 300_000),
            builders.loss_item("ir", 80_000, CoverageHead.EMERGENCY_RESPONSE),
        ],
        at=DISCOVERED + 10 * DAY,
    )
    corrected = RecordLossItems(
        claim_id=claim.claim_id, items=[builders.loss_item("ransom", 280_000)], at=DISCOVERED + 12 * DAY
    )

    await claims.record_loss_items(first)
    await claims.record_loss_items(first)
    await claims.record_loss_items(corrected)
    await claims.record_loss_items(first)  # a late retry of the first batch

    stored = {i.item_id: i for i in await rows(session_factory, LossItemRow)}
    assert sorted(stored) == ["ir", "ransom"]
    assert (stored["ransom"].amount_fen, stored["ransom"].currency) == (Money.yuan(280_000).fen, "CNY")
    assert stored["ransom"].item["amount"] == {"fen": Money.yuan(280_000).fen, "currency": "CNY"}
    assert stored["ir"].head == "emergency_response"


async def test_loss_items_of_an_unknown_claim_are_refused(claims: ClaimActivities) -> None:
    command = RecordLossItems(claim_id="clm-none", items=[builders.loss_item("x", 1)], at=T0)
    with pytest.raises(ApplicationError) as raised:
        await claims.record_loss_items(command)
    assert raised.value.type == "unknown_claim" and raised.value.non_retryable


async def test_a_loss_statement_retried_is_stored_once_per_determination(
    claims: ClaimActivities, session_factory: Sessions, claim: Incident
) -> None:
    items = [builders.loss_item("fraud", 300_000, CoverageHead.FRAUD_SOCIAL_ENGINEERING)]
    statement = determine_loss(claim.policy.schedule, items, LossConditions(), LimitsUsed())
    command = RecordLossStatement(
        claim_id=claim.claim_id, determination=1, statement=statement, at=DISCOVERED + 20 * DAY
    )

    await claims.record_loss_statement(command)
    await claims.record_loss_statement(command)
    await claims.record_loss_statement(command.model_copy(update={"determination": 2}))

    stored = await rows(session_factory, LossStatementRow)
    assert [(s.determination, s.total_payable_fen) for s in stored] == [
        (1, statement.total_payable.fen),
        (2, statement.total_payable.fen),
    ]
    assert stored[0].statement["total_payable"]["fen"] == statement.total_payable.fen > 0


async def test_subrogation_retried_is_one_row_per_liable_party_holding_the_latest_version(
    claims: ClaimActivities, session_factory: Sessions, claim: Incident
) -> None:
    first = RecordSubrogation(
        claim_id=claim.claim_id,
        liable_party="MSP Ltd",
        basis="left the VPN unpatched against its contract",
        amount_sought=Money.yuan(100_000),
        at=DISCOVERED + 40 * DAY,
    )
    revised = first.model_copy(update={"amount_sought": Money.yuan(150_000), "at": DISCOVERED + 45 * DAY})

    await claims.record_subrogation(first)
    await claims.record_subrogation(first)
    await claims.record_subrogation(revised)
    await claims.record_subrogation(first)

    stored = await rows(session_factory, SubrogationRow)
    assert [(s.liable_party, s.amount_sought_fen) for s in stored] == [("MSP Ltd", Money.yuan(150_000).fen)]


async def test_a_payout_retried_after_a_crash_pays_once_with_the_original_reference(
    claims: ClaimActivities, session_factory: Sessions
) -> None:
    instruction = builders.payout("clm-1")

    await claims.pay(instruction)  # paid; the worker crashes before the result reaches Temporal
    retried = await claims.pay(instruction)

    [paid] = await rows(session_factory, PayoutRow)
    assert retried.first_attempt is False
    assert retried.payment_reference == paid.payment_reference
    assert paid.payment_reference.startswith("PAY-") and len(paid.payment_reference) == 20
    assert retried.amount == instruction.amount and paid.amount_fen == instruction.amount.fen
    assert retried.idempotency_key == paid.idempotency_key == "clm-1:payout:1"


async def test_a_payout_ordered_twice_at_once_pays_once(
    claims: ClaimActivities, session_factory: Sessions
) -> None:
    instruction = builders.payout("clm-1")

    one, other = await asyncio.gather(claims.pay(instruction), claims.pay(instruction))

    assert await count(session_factory, PayoutRow) == 1
    assert one.payment_reference == other.payment_reference
    assert sorted([one.first_attempt, other.first_attempt]) == [False, True]


async def test_another_amount_under_the_same_key_is_refused_and_nothing_is_paid(
    claims: ClaimActivities, session_factory: Sessions
) -> None:
    first = await claims.pay(builders.payout("clm-1", yuan=120_000))

    with pytest.raises(ApplicationError) as raised:
        await claims.pay(builders.payout("clm-1", yuan=130_000))

    assert raised.value.type == "payout_conflict" and raised.value.non_retryable
    [paid] = await rows(session_factory, PayoutRow)
    assert (paid.amount_fen, paid.payment_reference) == (Money.yuan(120_000).fen, first.payment_reference)


async def test_each_payment_of_a_claim_is_its_own_payout(
    claims: ClaimActivities, session_factory: Sessions
) -> None:
    one = await claims.pay(builders.payout("clm-1", sequence=1))
    two = await claims.pay(builders.payout("clm-1", sequence=2))

    assert one.first_attempt and two.first_attempt
    assert one.payment_reference != two.payment_reference
    assert await count(session_factory, PayoutRow) == 2
