"""The qualification's messages take turns: a withdrawal sent while a certificate is being recorded
acts after it, and a certificate accepted before the withdrawal had its turn is refused once it has
its own, instead of qualifying a withdrawn provider."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage

from contracts.qualification import CertificateSubmission, PlatformContact, PlatformDecision, Withdrawal
from contracts.qualification_activities import RecordCertificate
from domain.policy import local_date
from domain.qualification import MlpsCertificate, ProofPath, QualificationApplication, QualificationPhase
from tests.builders import VALID_USCC
from tests.workflows.support import eventually
from tests.workflows.test_qualification import events
from worker import activities_for, build_worker
from workflows.qualification import QualificationWorkflow
from workflows.starting import apply_for_qualification

PATIENCE = 60  # seconds: generous on a busy machine; nothing here waits on workflow time


class Gate:
    """Holds the certificate's record until the test lets it go."""

    def __init__(self) -> None:
        self.reached, self.opened = asyncio.Event(), asyncio.Event()


@asynccontextmanager
async def worker_with_gated_certificates(client, session_factory, task_queue, gate: Gate):
    activities = activities_for(client, session_factory, task_queue=task_queue)
    real = next(a for a in activities if a.__name__ == "record_certificate")

    @activity.defn(name="record_certificate")
    async def record_certificate(command: RecordCertificate) -> None:
        gate.reached.set()
        await gate.opened.wait()
        await real(command)

    replaced = [record_certificate if a.__name__ == "record_certificate" else a for a in activities]
    async with build_worker(client, session_factory, task_queue, activities=replaced):
        yield


async def test_a_withdrawal_waits_for_the_certificate_being_recorded_and_a_later_one_is_refused(
    time_skipping_env, session_factory, task_queue
):
    client, gate = time_skipping_env.client, Gate()
    async with worker_with_gated_certificates(client, session_factory, task_queue, gate):
        application = QualificationApplication(provider_id=f"prov-{uuid.uuid4().hex[:8]}",
                                               unified_social_credit_code=VALID_USCC,
                                               proof_path=ProofPath.MLPS_CERTIFICATE)
        qualification_id, handle = await apply_for_qualification(client, task_queue, application, "turns-1")
        applied = await eventually(handle, lambda s: s.platform_contact is not None, query=QualificationWorkflow.status)
        await handle.execute_update(QualificationWorkflow.platform_contacted, PlatformContact(operator_id="ops-1"))
        await handle.execute_update(
            QualificationWorkflow.platform_decide, PlatformDecision(operator_id="ops-1", approve=True, reason="MLPS")
        )
        today = local_date(applied.applied_at)
        certificate = MlpsCertificate(certificate_number="C-1", system_name="portal", level=2,
                                      issued_on=today - timedelta(days=100), valid_until=today + timedelta(days=300))

        first = asyncio.create_task(handle.execute_update(
            QualificationWorkflow.submit_mlps_certificate, CertificateSubmission(certificate=certificate)
        ))
        await asyncio.wait_for(gate.reached.wait(), PATIENCE)
        # Accepted while the certificate is being recorded: both validators see proofs still awaited.
        withdrawal = await handle.start_update(
            QualificationWorkflow.withdraw, Withdrawal(reason="leaving the platform"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        second = await handle.start_update(
            QualificationWorkflow.submit_mlps_certificate,
            CertificateSubmission(certificate=certificate.model_copy(update={"certificate_number": "C-2"})),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        gate.opened.set()

        qualified = await asyncio.wait_for(first, PATIENCE)
        withdrawn = await asyncio.wait_for(withdrawal.result(), PATIENCE)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(second.result(), PATIENCE)
        final = await asyncio.wait_for(handle.result(), PATIENCE)

    # In the order they were accepted: qualified on the first certificate, then withdrawn for good.
    assert (await events(session_factory, qualification_id))[-2:] == ["qualified", "withdrawn"]
    assert final.phase is QualificationPhase.WITHDRAWN and final.closing_reason == "leaving the platform"
    assert qualified.phase is QualificationPhase.QUALIFIED and qualified.submissions == 1
    assert withdrawn.phase is QualificationPhase.WITHDRAWN
    assert refused.value.cause.type == "changed_meanwhile"
    assert "withdrawn" in refused.value.cause.message
    assert final.submissions == 1  # the refused certificate was never counted nor recorded
