"""With CYBERINS_OTEL_ENDPOINT set, the client and its workers trace (observability/tracing.py): the
start of a workflow, its run and its activities are spans of one trace, and no payload (here the
organisation's name) reaches a span."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from observability.tracing import tracing_interceptors
from tests import builders
from tests.workflows.support import bind, running_worker, start_policy

NAME = "追踪测试精密机械有限公司"


def test_without_an_endpoint_nothing_traces():
    assert tracing_interceptors(None, "worker") == []


async def test_a_workflow_its_start_and_its_activities_are_one_trace(dev_client, session_factory, task_queue):
    exporter = InMemorySpanExporter()
    traced = Client(
        dev_client.service_client, namespace=dev_client.namespace, data_converter=dev_client.data_converter,
        interceptors=tracing_interceptors(None, "test", exporter=exporter),
    )
    async with running_worker(traced, session_factory, task_queue):
        app = builders.application(organisation=builders.organisation(name=NAME))
        handle = await start_policy(traced, task_queue, app=app)
        await bind(handle, builders.assessment())
        await handle.terminate("test over")

    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"StartWorkflow:PolicyWorkflow", "RunWorkflow:PolicyWorkflow", "RunActivity:record_application",
            "RunActivity:bind_policy"} <= names, names
    started = next(span for span in spans if span.name == "StartWorkflow:PolicyWorkflow")
    recorded = next(span for span in spans if span.name == "RunActivity:record_application")
    assert recorded.context.trace_id == started.context.trace_id
    assert {span.resource.attributes["service.name"] for span in spans} == {"cyberins-test"}
    values = [str(value) for span in spans for value in (span.attributes or {}).values()]
    assert not [value for value in values if NAME in value]
