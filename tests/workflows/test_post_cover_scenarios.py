"""Post-cover scenarios of issue 3, time-skipped: incidents, the authorities' clock, claims, limits."""

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from contracts.claim import Approval, ClaimClosure, ConditionsUpdate, Denial, LossItemsSubmission, OfferAnswer
from contracts.incident import DispatchAcknowledgement, RegulatoryFiling, ReportKind
from contracts.policy import CancellationRequest
from domain.application import CoverageRequest, InformationSystem
from domain.claim import ClaimantKind, ClaimRules
from domain.coverage import CoverageHead, Industry
from domain.incident import ForensicsReport, IncidentCategory, IncidentGrade
from domain.loss import LossItem
from domain.loss_statement import Exclusion
from domain.money import Money
from domain.policy import CancellingParty
from tests.builders import application, assessment, organisation
from tests.workflows.post_cover import hours, incident_report, report_incident, start_claim
from tests.workflows.support import bind, eventually, running_worker, scalar, start_policy, until_notified
from workflows import search_attributes
from workflows.claim import ClaimWorkflow
from workflows.incident import IncidentWorkflow
from workflows.policy import PolicyWorkflow

DAY = timedelta(days=1)


def incident_status(check):
    return dict(check=check, query=IncidentWorkflow.status)


def claim_status(check):
    return dict(check=check, query=ClaimWorkflow.status)


async def covered_incident(env, task_queue, *, app=None, grade=IncidentGrade.GENERAL,
                           category=IncidentCategory.NETWORK_ATTACK, days_in=10, reported_after=timedelta(0)):
    """A bound policy and an incident discovered `days_in` days into the term."""
    client = env.client
    policy = await start_policy(client, task_queue, app=app)
    bound = await bind(policy, assessment())
    await env.sleep(timedelta(days=days_in) + reported_after)
    discovered = bound.term_start + timedelta(days=days_in)
    report = incident_report(policy.id.removeprefix("policy-"), discovered, grade=grade, category=category)
    incident = await report_incident(client, task_queue, report)
    await eventually(incident, **incident_status(lambda s: s.covered is not None))
    return policy, bound, incident, discovered


def incident_id(incident) -> str:
    return incident.id.removeprefix("incident-")


async def claim_for(client, task_queue, incident, items, **kwargs):
    claim = await start_claim(client, task_queue, incident_id(incident), **kwargs)
    await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=items))
    return claim


HOSPITAL = application(
    organisation=organisation(
        name="Test Municipal Hospital", industry=Industry.HEALTHCARE, operates_critical_infrastructure=True,
        systems=[InformationSystem(name="HIS", mlps_level=3, is_critical_infrastructure=True)],
    ),
)


async def report_overdue_view(incident, expected: bool) -> bool:
    """Wait until the operators' search attribute says `expected` of the incident's report."""
    for _ in range(200):
        found = (await incident.describe()).typed_search_attributes.get(search_attributes.REPORT_OVERDUE)
        if found is expected:
            return True
        await asyncio.sleep(0.05)
    raise AssertionError(f"CyberinsReportOverdue stayed {found}, expected {expected}")


async def test_hospital_cii_breach_misses_the_one_hour_clock_and_pays_a_liability_claim_months_later(
    time_skipping_env, session_factory, task_queue
):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        _, _, incident, discovered = await covered_incident(
            time_skipping_env, task_queue, app=HOSPITAL, grade=IncidentGrade.MAJOR, category=IncidentCategory.DATA_SECURITY
        )
        started = await eventually(incident, **incident_status(lambda s: s.report_deadline is not None))
        assert started.report_deadline == discovered + hours(1)  # critical information infrastructure
        await time_skipping_env.sleep(timedelta(minutes=61))
        overdue = await eventually(incident, **incident_status(lambda s: s.report_overdue))
        assert overdue.filings == []
        assert await report_overdue_view(incident, True)  # listed among the operators' overdue reports
        policy_id = overdue.policy_id
        kinds = await until_notified(session_factory, policy_id, "regulatory_report_overdue", times=2)
        assert "regulatory_report_reminder" in kinds
        late = await incident.execute_update(
            IncidentWorkflow.file_regulatory_report,
            RegulatoryFiling(kind=ReportKind.INITIAL, channel="公安 and sector regulator", reference="CII-7",
                             filed_at=discovered + timedelta(minutes=61)),
        )
        assert late.report_overdue and len(late.filings) == 1  # filed late stays late
        assert await report_overdue_view(incident, False)  # but no longer waits in the operators' view

        await time_skipping_env.sleep(timedelta(days=120))
        claim = await claim_for(
            client, task_queue, incident,
            [LossItem(item_id="class-action", head=CoverageHead.DATA_BREACH_LIABILITY, amount=Money.yuan(800_000))],
            claimant=ClaimantKind.THIRD_PARTY, third_party="patients' representative action",
        )
        statement = await claim.execute_update(ClaimWorkflow.determine)
        assert statement.total_payable == Money.yuan(750_000)  # less the ¥50,000 retention (revenue band)
        status = await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        assert status.phase.value == "in_review" and status.approvals_required == 2  # above the authority limit
        with pytest.raises(WorkflowUpdateFailedError) as same:
            await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        assert "another person" in str(same.value.cause)
        offered = await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="claims-manager"))
        assert offered.phase.value == "offered"
        paid = await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())
        assert paid.paid == Money.yuan(750_000) and paid.phase.value == "closed"


async def test_social_engineering_fraud_pays_after_coinsurance(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        _, bound, incident, _ = await covered_incident(time_skipping_env, task_queue, category=IncidentCategory.OTHER)
        assert bound.policy_number
        claim = await claim_for(client, task_queue, incident, [
            LossItem(item_id="wire", head=CoverageHead.FRAUD_SOCIAL_ENGINEERING, amount=Money.yuan(300_000)),
        ])
        statement = await claim.execute_update(ClaimWorkflow.determine)
        line = statement.line_for(CoverageHead.FRAUD_SOCIAL_ENGINEERING)
        assert line.coinsurance_bps == 1_000
        assert line.payable == Money.yuan(225_000)  # (300,000 − 50,000) × 90%
        # A dispute goes back to review; a new approval offers again.
        await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        disputed = await claim.execute_update(ClaimWorkflow.dispute_offer, OfferAnswer(reason="coinsurance wrong"))
        assert disputed.phase.value == "in_review" and disputed.disputes == 1
        await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        paid = await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())
        assert paid.paid == Money.yuan(225_000)


async def test_a_state_backed_attack_is_excluded_and_the_claim_denied(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        _, _, incident, discovered = await covered_incident(time_skipping_env, task_queue)
        await incident.execute_update(IncidentWorkflow.submit_forensics, ForensicsReport(
            vendor_id="panel-ir-01", root_cause="supply-chain implant", attack_vector="signed update",
            first_intrusion_at=discovered - timedelta(days=2), state_backed=True,
            attribution_indicators=["infrastructure shared with a known state-backed group"],
        ))
        claim = await claim_for(client, task_queue, incident, [
            LossItem(item_id="restore", head=CoverageHead.RANSOMWARE_EXTORTION, amount=Money.yuan(400_000)),
        ])
        statement = await claim.execute_update(ClaimWorkflow.determine)
        assert statement.total_payable.fen == 0
        assert Exclusion.WAR_OR_STATE_BACKED in statement.exclusions_applied
        denied = await claim.execute_update(
            ClaimWorkflow.deny, Denial(approver_id="adjuster-1", reasons=["war and state-backed attack exclusion"])
        )
        assert denied.phase.value == "closed" and "state-backed" in denied.closing_reason
        with pytest.raises(WorkflowUpdateFailedError) as closed:
            await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-2"))
        assert "closed" in str(closed.value.cause)
        reopened = await claim.execute_update(ClaimWorkflow.reopen, ClaimClosure(reason="new attribution evidence"))
        # New facts: the loss is gathered and determined again before anyone can approve it.
        assert reopened.phase.value == "gathering_loss" and reopened.closing_reason is None
        again = await claim.execute_update(ClaimWorkflow.determine)
        assert again.total_payable.fen == 0 and Exclusion.WAR_OR_STATE_BACKED in again.exclusions_applied


async def test_late_notice_is_flagged_or_denies_as_the_policy_says(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        _, _, incident, _ = await covered_incident(time_skipping_env, task_queue, reported_after=timedelta(days=2))
        status = await eventually(incident, **incident_status(lambda s: s.late_notice is not None))
        assert status.late_notice and status.covered
        assert any("notice condition" in note for note in status.coverage_notes)

        flagged = await start_claim(client, task_queue, incident_id(incident))
        current = await eventually(flagged, **claim_status(lambda s: s.late_notice is not None))
        assert current.late_notice and current.phase.value == "gathering_loss"
        await until_notified(session_factory, current.policy_id, "late_notice_on_claim")

        strict = await start_claim(client, task_queue, incident_id(incident), rules=ClaimRules(deny_on_late_notice=True))
        outcome = await strict.result()
        assert outcome.phase.value == "rejected" and outcome.closing_reason.startswith("late notice")


async def test_an_unanswered_panel_vendor_is_escalated_to_the_next(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        _, _, incident, _ = await covered_incident(time_skipping_env, task_queue)
        await eventually(incident, **incident_status(lambda s: s.dispatched_vendor == "panel-ir-01"))
        await time_skipping_env.sleep(timedelta(minutes=61))
        await eventually(incident, **incident_status(lambda s: s.dispatched_vendor == "panel-ir-02"))
        with pytest.raises(WorkflowUpdateFailedError) as too_late:
            await incident.execute_update(IncidentWorkflow.acknowledge_dispatch, DispatchAcknowledgement(vendor_id="panel-ir-01"))
        assert "not the vendor dispatched" in str(too_late.value.cause)
        acked = await incident.execute_update(
            IncidentWorkflow.acknowledge_dispatch, DispatchAcknowledgement(vendor_id="panel-ir-02")
        )
        assert acked.acknowledged_by == "panel-ir-02" and acked.phase.value == "responding"
        escalations = await scalar(
            session_factory, "SELECT count(*) FROM incident_events WHERE incident_id = :i AND kind = 'dispatch_escalated'",
            i=incident_id(incident),
        )
        assert escalations == 1


SMALL_AGGREGATE = application(
    coverages=[
        CoverageRequest(head=CoverageHead.RANSOMWARE_EXTORTION, limit=Money.yuan(1_000_000)),
        CoverageRequest(head=CoverageHead.DATA_BREACH_LIABILITY, limit=Money.yuan(1_000_000)),
    ],
    aggregate_limit=Money.yuan(1_000_000),
)


async def test_two_concurrent_claims_never_pay_more_than_the_aggregate(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        policy, _, incident, _ = await covered_incident(time_skipping_env, task_queue, app=SMALL_AGGREGATE)
        first = await claim_for(client, task_queue, incident, [
            LossItem(item_id="ransom", head=CoverageHead.RANSOMWARE_EXTORTION, amount=Money.yuan(900_000)),
        ])
        second = await claim_for(client, task_queue, incident, [
            LossItem(item_id="breach", head=CoverageHead.DATA_BREACH_LIABILITY, amount=Money.yuan(900_000)),
        ], claimant=ClaimantKind.THIRD_PARTY, third_party="a business partner")
        await first.execute_update(
            ClaimWorkflow.set_conditions, ConditionsUpdate(ransom_paid_with_insurer_consent=True, police_report_filed=True)
        )
        statements = await asyncio.gather(
            first.execute_update(ClaimWorkflow.determine), second.execute_update(ClaimWorkflow.determine)
        )
        # Alone, the ransom claim pays (900,000 − 50,000) × 80% = ¥680,000 and the breach claim ¥850,000:
        # ¥1,530,000 together, against an aggregate of ¥1,000,000. Whichever runs second gets the rest.
        ransom, breach = (s.total_payable.fen for s in statements)
        assert ransom <= 680_000_00 and breach <= 850_000_00
        assert ransom + breach == 1_000_000_00
        for claim in (first, second):
            await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
            status = await claim.query(ClaimWorkflow.status)
            if status.phase.value == "in_review":
                await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-2"))
            await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())
        paid = await scalar(session_factory, "SELECT sum(amount_fen) FROM payouts WHERE claim_id IN (:a, :b)",
                            a=first.id.removeprefix("claim-"), b=second.id.removeprefix("claim-"))
        assert paid == 1_000_000_00
        limits = (await policy.query(PolicyWorkflow.limits))[0]
        assert limits.aggregate_remaining.fen == 0 and limits.paid.fen == 1_000_000_00


async def test_bad_claim_commands_are_refused_and_change_nothing(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        _, _, incident, discovered = await covered_incident(time_skipping_env, task_queue)
        claim = await start_claim(client, task_queue, incident_id(incident))
        with pytest.raises(WorkflowUpdateFailedError) as uncovered:
            await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[
                LossItem(item_id="x", head=CoverageHead.MEDIA_INFRINGEMENT, amount=Money.yuan(1)),
            ]))
        assert "media_infringement" in str(uncovered.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as unapproved:
            await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())
        assert "no approved offer" in str(unapproved.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as nothing:
            await claim.execute_update(ClaimWorkflow.determine)
        assert "no loss items" in str(nothing.value.cause)
        bad_hash = {"evidence": {"evidence_id": "e1", "name": "log", "sha256": "not-a-digest", "size_bytes": 1,
                                 "collected_by": "v", "collected_at": discovered.isoformat()}}
        with pytest.raises(WorkflowUpdateFailedError) as evidence:
            await incident.execute_update("register_evidence", bad_hash)
        assert evidence.value.cause.type == "InvalidInput" and "SHA-256" in evidence.value.cause.message
        await claim.execute_update(ClaimWorkflow.close, ClaimClosure(reason="withdrawn by the insured"))
        with pytest.raises(WorkflowUpdateFailedError) as closed:
            await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        assert "only a determined claim in review" in str(closed.value.cause)
        status = await claim.query(ClaimWorkflow.status)
        assert status.phase.value == "closed" and status.payouts == 0 and status.determination == 0


async def test_a_claim_on_a_policy_not_in_force_is_rejected(time_skipping_env, session_factory, task_queue):
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        policy = await start_policy(client, task_queue)
        bound = await bind(policy, assessment())
        await policy.execute_update(PolicyWorkflow.cancel, CancellationRequest(cancelled_by=CancellingParty.INSURED, reason="sold"))
        await time_skipping_env.sleep(DAY)
        report = incident_report(policy.id.removeprefix("policy-"), bound.term_start + DAY, reference="after-cancel")
        incident = await report_incident(client, task_queue, report)
        status = await eventually(incident, **incident_status(lambda s: s.covered is not None))
        assert status.covered is False and status.dispatched_vendor is None
        claim = await start_claim(client, task_queue, incident_id(incident))
        outcome = await claim.result()
        assert outcome.phase.value == "rejected" and "outside the term" in outcome.closing_reason


async def test_interim_emergency_payment_then_settlement_and_subrogation(time_skipping_env, session_factory, task_queue):
    from contracts.claim import InterimPaymentRequest, SubrogationRequest
    from domain.application import CoverageRequest as Request

    app = application(coverages=[
        Request(head=CoverageHead.EMERGENCY_RESPONSE, limit=Money.yuan(1_000_000)),
        Request(head=CoverageHead.DATA_BREACH_LIABILITY, limit=Money.yuan(2_000_000)),
    ], aggregate_limit=Money.yuan(3_000_000))
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        _, _, incident, _ = await covered_incident(time_skipping_env, task_queue, app=app)
        claim = await claim_for(client, task_queue, incident, [
            LossItem(item_id="ir", head=CoverageHead.EMERGENCY_RESPONSE, amount=Money.yuan(250_000), vendor_id="panel-ir-01"),
            LossItem(item_id="outsider", head=CoverageHead.EMERGENCY_RESPONSE, amount=Money.yuan(90_000), vendor_id="cheap-ir"),
        ])
        statement = await claim.execute_update(ClaimWorkflow.determine)
        assert statement.item("outsider").excluded_by == [Exclusion.NON_PANEL_VENDOR_WITHOUT_CONSENT]
        assert statement.total_payable == Money.yuan(200_000)  # the panel vendor's ¥250,000 less ¥50,000

        with pytest.raises(WorkflowUpdateFailedError) as wrong_head:
            await claim.execute_update(ClaimWorkflow.interim_payment, InterimPaymentRequest(
                head=CoverageHead.DATA_BREACH_LIABILITY, amount=Money.yuan(1), approver_id="adjuster-1"))
        assert "interim payments are for emergency_response" in str(wrong_head.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as too_much:
            await claim.execute_update(ClaimWorkflow.interim_payment, InterimPaymentRequest(
                head=CoverageHead.EMERGENCY_RESPONSE, amount=Money.yuan(200_001), approver_id="adjuster-1"))
        assert "would exceed" in str(too_much.value.cause)
        interim = await claim.execute_update(ClaimWorkflow.interim_payment, InterimPaymentRequest(
            head=CoverageHead.EMERGENCY_RESPONSE, amount=Money.yuan(80_000), approver_id="adjuster-1"))
        assert interim.paid == Money.yuan(80_000) and interim.payouts == 1

        await claim.execute_update(ClaimWorkflow.record_subrogation, SubrogationRequest(
            liable_party="the managed-service provider whose credentials were stolen",
            basis="contractual security obligations", amount_sought=Money.yuan(200_000)))
        await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        settled = await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())
        assert settled.paid == Money.yuan(200_000) and settled.payouts == 2  # the interim and the balance
        claim_id = claim.id.removeprefix("claim-")
        amounts = await scalar(session_factory, "SELECT array_agg(amount_fen ORDER BY sequence) FROM payouts WHERE claim_id = :c", c=claim_id)
        assert amounts == [80_000_00, 120_000_00]
        assert await scalar(session_factory, "SELECT count(*) FROM subrogations WHERE claim_id = :c", c=claim_id) == 1
