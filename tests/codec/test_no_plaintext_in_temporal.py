"""PIPL: names, credit codes and bank accounts never reach Temporal in plaintext.

A policy, its incident and a claim run on a real dev server with a worker whose client encrypts
(built by `temporal_connection.connect_temporal`, as production builds it). The application, a signal, updates,
activity inputs and results, and a failure all carry marker values. Then a client without the codec
reads what Temporal stores (every history event as bytes, the descriptions with search attributes,
memo and summaries, the visibility listing) and finds no marker; the same history decrypted with the
keys does show every marker, so the check can fail.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message
from temporalio import activity
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, ListWorkflowExecutionsRequest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from codec.aes import AesGcmPayloadCodec
from contracts.claim import ClaimWorkflowInput, LossItemsSubmission
from contracts.policy import MonitoringBatch, PolicyWorkflowInput, QuoteAcceptance
from contracts.policy_activities import RecordApplication
from domain.claim import ClaimantKind
from domain.coverage import CoverageHead
from domain.findings import Severity
from domain.loss import LossItem
from domain.money import Money
from domain.rules import PolicyRules
from temporal_connection import connect_temporal
from tests.builders import application, assessment, monitoring_finding, organisation, uscc
from tests.codec.keys import encrypting_settings, keyring
from tests.workflows.post_cover import incident_report
from tests.workflows.support import bind, eventually
from worker import WORKFLOWS, activities_for, build_worker
from workflows import starting
from workflows.claim import ClaimWorkflow
from workflows.incident import IncidentWorkflow
from workflows.policy import PolicyWorkflow

MARKER_NAME = "MARKER-NAME-7f3a"
MARKER_USCC = uscc(7_202_611)
MARKER_ACCOUNT = "MARKER-ACCOUNT-6222020200112233"
MARKER_FAILURE = "MARKER-FAILURE-9c1e"
MARKERS = [MARKER_NAME, MARKER_USCC, MARKER_ACCOUNT, MARKER_FAILURE]


def failing_once(record_application):
    """The real activity, after a first attempt that fails quoting the organisation, as a database
    error quoting a duplicate key would."""

    @activity.defn(name="record_application")
    async def record_application_after_a_failure(command: RecordApplication) -> None:
        organisation = command.application.organisation
        if activity.info().attempt == 1:
            raise ApplicationError(
                f"{MARKER_FAILURE}: cannot save {organisation.name} "
                f"({organisation.unified_social_credit_code}), refunds to {MARKER_ACCOUNT}"
            )
        await record_application(command)

    return record_application_after_a_failure


async def run_the_story(client, sessions, task_queue: str) -> list[str]:
    """Apply, bind, findings, incident, third-party claim with loss items, determination: the ids."""
    activities = [
        failing_once(a) if getattr(a, "__name__", "") == "record_application" else a
        for a in activities_for(client, sessions)
    ]
    async with build_worker(client, sessions, task_queue, activities=activities):
        policy_id = f"pol-{uuid.uuid4().hex[:12]}"
        app = application(
            organisation=organisation(
                name=f"{MARKER_NAME} 精密机械有限公司", unified_social_credit_code=MARKER_USCC
            )
        )
        policy = await starting.start_policy(
            client, task_queue, PolicyWorkflowInput(policy_id=policy_id, application=app, rules=PolicyRules())
        )
        await bind(policy, assessment())  # two updates, with activities in between
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await policy.execute_update(
                PolicyWorkflow.accept_quote, QuoteAcceptance(quote_id=f"{policy_id}-t9")
            )
        assert refused.value.cause.message not in ("", "Encoded failure")  # the client with keys reads why
        finding = monitoring_finding("f-1", Severity.HIGH).model_copy(
            update={"title": f"{MARKER_NAME} admin console open"}
        )
        await policy.signal(
            PolicyWorkflow.report_findings, MonitoringBatch(vendor_id="vendor-a", findings=[finding])
        )
        await eventually(policy, lambda s: s.findings.total == 1)

        incident_id, incident = await starting.report_incident(
            client, task_queue, incident_report(policy_id, datetime.now(UTC))
        )
        await eventually(incident, lambda s: s.covered is not None, query=IncidentWorkflow.status)
        claim = await starting.start_claim(
            client,
            task_queue,
            ClaimWorkflowInput(
                claim_id=f"clm-{uuid.uuid4().hex[:12]}",
                incident_id=incident_id,
                claimant=ClaimantKind.THIRD_PARTY,
                third_party=f"customer account {MARKER_ACCOUNT}",
            ),
        )
        await eventually(claim, lambda s: s.policy_id is not None, query=ClaimWorkflow.status)
        item = LossItem(
            item_id="liability-1",
            head=CoverageHead.DATA_BREACH_LIABILITY,
            amount=Money.yuan(80_000),
            description=f"compensation paid to {MARKER_ACCOUNT}",
        )
        await claim.execute_update(ClaimWorkflow.submit_loss_items, LossItemsSubmission(items=[item]))
        statement = await claim.execute_update(ClaimWorkflow.determine)
        assert statement.total_payable.fen > 0
        return [policy.id, incident.id, claim.id]


def serialized(messages) -> bytes:
    return b"\n".join(message.SerializeToString() for message in messages)


def decrypt_everywhere(message: Message, codec: AesGcmPayloadCodec) -> None:
    """Every Payload anywhere in `message` (repeated, maps, failures' encoded attributes), decrypted
    in place."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            children = list(value.values()) if field.message_type.fields_by_name["value"].message_type else []
        elif field.is_repeated:
            children = list(value)
        else:
            children = [value]
        for child in children:
            if child.DESCRIPTOR.full_name == Payload.DESCRIPTOR.full_name:
                child.CopyFrom(codec.decrypt(child))
            else:
                decrypt_everywhere(child, codec)


def leaked(blob: bytes) -> list[str]:
    return [marker for marker in MARKERS if marker.encode() in blob]


async def test_no_marker_reaches_temporal_in_plaintext(dev_server_env, session_factory, task_queue) -> None:
    ring = keyring("k-test")
    settings = encrypting_settings(ring)
    target = dev_server_env.client.service_client.config.target_host
    client = await connect_temporal(settings, target_host=target)
    workflow_ids = await run_the_story(client, session_factory, task_queue)

    plain = dev_server_env.client  # the same server, read without the keys
    namespace = plain.namespace
    histories = {wid: await plain.get_workflow_handle(wid).fetch_history() for wid in workflow_ids}
    for wid, history in histories.items():
        assert leaked(serialized(history.events)) == [], f"plaintext in the history of {wid}"
        assert leaked(wid.encode()) == []
        described = await plain.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=namespace, execution=WorkflowExecution(workflow_id=wid)
            )
        )
        info = described.workflow_execution_info
        assert info.search_attributes.indexed_fields, "the workflows publish search attributes"
        summary = described.execution_config.user_metadata.summary
        assert summary.metadata["encoding"] == b"binary/encrypted", "static summaries go through the codec"
        assert leaked(described.SerializeToString()) == [], f"plaintext in the description of {wid}"
    listed = await plain.workflow_service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=namespace, query=f"TaskQueue = '{task_queue}'")
    )
    assert leaked(listed.SerializeToString()) == []

    failures = [
        event.activity_task_started_event_attributes.last_failure
        for event in histories[workflow_ids[0]].events
        if event.HasField("activity_task_started_event_attributes")
        and event.activity_task_started_event_attributes.HasField("last_failure")
    ]
    assert failures and all(
        f.message == "Encoded failure" and f.HasField("encoded_attributes") for f in failures
    )

    # The control: decrypted with the keys, the same bytes hold every marker.
    codec = client.data_converter.payload_codec
    decrypted = b""
    for history in histories.values():
        for event in history.events:
            copy = type(event)()
            copy.CopyFrom(event)
            decrypt_everywhere(copy, codec)
            decrypted += copy.SerializeToString()
    assert leaked(decrypted) == MARKERS

    # Encrypted histories replay with the keys.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=client.data_converter)
    for history in histories.values():
        await replayer.replay_workflow(history)
