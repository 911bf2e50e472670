"""OpenTelemetry tracing, when CYBERINS_OTEL_ENDPOINT names an OTLP/HTTP collector.

The Temporal SDK's tracing interceptor makes a span for each client call (start, signal, update,
query), each workflow run and each activity, and carries the trace through Temporal's headers: a
POST to the API and the workflow and activities it causes show as one trace. Span names carry
workflow and activity types; ids are span attributes, and payloads never enter a span.

Needs the `otel` extra (`pip install 'cyberins[otel]'`; the image has it).
"""

from __future__ import annotations

from typing import Any

_SERVICE = "cyberins"


def tracing_interceptors(endpoint: str | None, component: str, *, exporter: Any = None) -> list:
    """[] without an endpoint (or an exporter, in tests); else the interceptor, with a tracer whose
    spans are batched to `endpoint` (e.g. http://collector:4318) as service `cyberins-<component>`."""
    if not endpoint and exporter is None:
        return []
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError as missing:
        raise RuntimeError(
            f"CYBERINS_OTEL_ENDPOINT is set but OpenTelemetry is not installed ({missing.name}): "
            "pip install 'cyberins[otel]'"
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": f"{_SERVICE}-{component}"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    return [TracingInterceptor(provider.get_tracer(f"{_SERVICE}.{component}"))]
