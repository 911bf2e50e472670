"""Ransomware at an industrial-internet manufacturer: response, report, forensics, BI under higher_of, payout."""

import hashlib
from datetime import timedelta

from contracts.claim import Approval, ConditionsUpdate, LossItemsSubmission, OfferAnswer
from contracts.incident import (
    DispatchAcknowledgement,
    EvidenceSubmission,
    IncidentClosure,
    ProgressKind,
    RegulatoryFiling,
    ReportKind,
    VendorProgress,
)
from contracts.queues import WorkQueue
from domain.coverage import CoverageHead
from domain.incident import Evidence, ForensicsReport, OutageWindow
from domain.loss import BusinessInterruptionLoss, LossItem
from domain.money import Money
from domain.rules import PolicyRules, ProductRules
from domain.schedule import BusinessInterruptionRule
from tests.builders import assessment
from tests.workflows.post_cover import hours, incident_report, report_incident, start_claim
from tests.workflows.support import bind, eventually, running_worker, scalar, start_policy
from workflows.claim import ClaimWorkflow
from workflows.incident import IncidentWorkflow
from workflows.policy import PolicyWorkflow

HIGHER_OF = PolicyRules(product=ProductRules(bi_rule=BusinessInterruptionRule.HIGHER_OF))


async def test_ransomware_with_business_interruption_under_higher_of(time_skipping_env, session_factory, task_queue):
    policy, incident, claim = await ransomware_story(time_skipping_env, session_factory, task_queue)

    # Each activity went to the queue of its kind (contracts/queues.py): the payout to the external
    # queue, every database write to the database queue, nothing to the workflows' own queue.
    scheduled: dict[str, set[str]] = {}
    for handle in (policy, claim):
        async for event in handle.fetch_history_events():
            if event.HasField("activity_task_scheduled_event_attributes"):
                attributes = event.activity_task_scheduled_event_attributes
                scheduled.setdefault(attributes.activity_type.name, set()).add(attributes.task_queue.name)
    assert scheduled.pop("pay") == {WorkQueue.EXTERNAL.of(task_queue)}
    assert {"bind_policy", "record_claim", "record_loss_statement"} <= set(scheduled)
    assert set().union(*scheduled.values()) == {WorkQueue.DATABASE.of(task_queue)}, scheduled


async def ransomware_story(time_skipping_env, session_factory, task_queue):
    """The whole post-cover chain once; returns the policy, incident and claim handles."""
    client = time_skipping_env.client
    async with running_worker(client, session_factory, task_queue):
        policy = await start_policy(client, task_queue, rules=HIGHER_OF)
        bound = await bind(policy, assessment())
        policy_id = policy.id.removeprefix("policy-")
        await time_skipping_env.sleep(timedelta(days=40))
        discovered = bound.term_start + timedelta(days=40)

        incident = await report_incident(client, task_queue, incident_report(policy_id, discovered))
        again = await report_incident(client, task_queue, incident_report(policy_id, discovered))
        assert again.result_run_id == incident.result_run_id  # the same incident, one workflow
        current = await eventually(incident, lambda s: s.dispatched_vendor == "panel-ir-01", query=IncidentWorkflow.status)
        assert current.covered and not current.late_notice
        assert current.report_deadline == discovered + hours(4)  # not CII, not a state organ: 4 hours

        await incident.execute_update(IncidentWorkflow.acknowledge_dispatch, DispatchAcknowledgement(vendor_id="panel-ir-01"))
        # Each time a party gives has happened by the incident's clock when it is sent: the clock moves first.
        await time_skipping_env.sleep(hours(2))
        await incident.execute_update(
            IncidentWorkflow.file_regulatory_report,
            RegulatoryFiling(kind=ReportKind.INITIAL, channel="provincial CAC portal", reference="GD-2026-001",
                             filed_at=discovered + hours(2)),
        )
        await time_skipping_env.sleep(hours(28))
        for event_id, kind, at in [("p1", ProgressKind.CONTAINED, hours(6)), ("p2", ProgressKind.RESTORED, hours(30))]:
            progress = VendorProgress(vendor_id="panel-ir-01", event_id=event_id, kind=kind, at=discovered + at)
            await incident.signal(IncidentWorkflow.post_progress, progress)
            await incident.signal(IncidentWorkflow.post_progress, progress)  # resent: applied once
        await eventually(incident, lambda s: s.restored_at is not None, query=IncidentWorkflow.status)
        image = b"disk image of the MES server"
        await incident.execute_update(
            IncidentWorkflow.register_evidence,
            EvidenceSubmission(evidence=Evidence(
                evidence_id="ev-mes-1", name="MES disk image", sha256=hashlib.sha256(image).hexdigest(),
                size_bytes=len(image), collected_by="panel-ir-01", collected_at=discovered + hours(8),
            )),
        )
        await incident.execute_update(
            IncidentWorkflow.submit_forensics,
            ForensicsReport(
                vendor_id="panel-ir-01", root_cause="unpatched VPN gateway", attack_vector="exploited VPN",
                first_intrusion_at=discovered - timedelta(days=3), evidence_ids=["ev-mes-1"],
                outage_windows=[OutageWindow(system="MES", start=discovered, end=discovered + hours(30))],
            ),
        )

        claim = await start_claim(client, task_queue, incident.id.removeprefix("incident-"))
        items = [
            LossItem(item_id="bi", head=CoverageHead.BUSINESS_INTERRUPTION, business_interruption=BusinessInterruptionLoss(
                net_profit_per_hour=Money.yuan(6_000), continuing_expenses_per_hour=Money.yuan(4_000),
                outage_start=discovered, outage_end=discovered + hours(30),
            )),
            LossItem(item_id="ransom", head=CoverageHead.RANSOMWARE_EXTORTION, amount=Money.yuan(300_000)),
        ]
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=items))
        await claim.execute_update(
            ClaimWorkflow.set_conditions, ConditionsUpdate(ransom_paid_with_insurer_consent=True, police_report_filed=True)
        )
        statement = await claim.execute_update(ClaimWorkflow.determine)

        limits = await policy.query(PolicyWorkflow.limits)
        assert limits[0].reserved == statement.total_payable
        bi = statement.line_for(CoverageHead.BUSINESS_INTERRUPTION)
        # rate ¥10,000/h over 30 h = ¥300,000; higher of R ¥50,000 and 12 h waiting loss ¥120,000 → ¥180,000.
        assert bi.bi_rule is BusinessInterruptionRule.HIGHER_OF
        assert bi.payable == Money.yuan(180_000)
        ransom = statement.line_for(CoverageHead.RANSOMWARE_EXTORTION)
        # (¥300,000 − ¥50,000) × (1 − 20% coinsurance) = ¥200,000
        assert ransom.payable == Money.yuan(200_000)
        assert statement.total_payable == Money.yuan(380_000)

        await claim.execute_update(ClaimWorkflow.approve, Approval(approver_id="adjuster-1"))
        paid = await claim.execute_update(ClaimWorkflow.accept_offer, OfferAnswer())
        assert paid.phase.value == "closed" and paid.paid == Money.yuan(380_000)
        assert await scalar(session_factory, "SELECT count(*) FROM payouts WHERE claim_id = :c",
                            c=claim.id.removeprefix("claim-")) == 1
        limits = await policy.query(PolicyWorkflow.limits)
        assert limits[0].paid == Money.yuan(380_000) and limits[0].reserved == Money(fen=0)

        await time_skipping_env.sleep(timedelta(days=3) - hours(30))
        await incident.execute_update(
            IncidentWorkflow.file_regulatory_report,
            RegulatoryFiling(kind=ReportKind.CLOSING, channel="provincial CAC portal", reference="GD-2026-001-C",
                             filed_at=discovered + timedelta(days=3)),
        )
        final = await incident.execute_update(IncidentWorkflow.close, IncidentClosure(reason="restored and reported"))
        assert final.phase.value == "closed" and not final.report_overdue
        await incident.result()
    return policy, incident, claim
