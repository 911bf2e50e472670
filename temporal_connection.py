"""Connecting to Temporal: the one place a client is built, for the API, the worker, the CLI and the dev stack."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from codec.wiring import data_converter_for
from settings import LOCAL_HOST, Settings


async def connect_temporal(
    settings: Settings, *, target_host: str | None = None, runtime: Runtime | None = None, component: str = "cli"
) -> Client:
    """Connect with the SDK's environment configuration and the pydantic data converter, which
    encrypts payloads and failure messages when payload keys are known (codec.wiring).

    With `target_host` (the dev stack, tests) the address, API key and TLS from the environment are
    ignored: those servers are local and plain. Without TEMPORAL_ADDRESS or a profile the local dev
    server is the default. A `runtime` with telemetry (observability.metrics) publishes the SDK's
    metrics for this client and its workers. With CYBERINS_OTEL_ENDPOINT the client and its workers
    trace (observability.tracing), as service `cyberins-<component>`.
    """
    from observability.tracing import tracing_interceptors

    interceptors = tracing_interceptors(settings.otel_endpoint, component)

    if target_host is not None:
        return await Client.connect(
            target_host, data_converter=data_converter_for(settings, target_host), runtime=runtime,
            interceptors=interceptors,
        )
    config = dict(ClientConfig.load_client_connect_config())
    config.setdefault("target_host", f"{LOCAL_HOST}:{settings.temporal_port}")
    return await Client.connect(
        **config, data_converter=data_converter_for(settings, config["target_host"]), runtime=runtime,
        interceptors=interceptors,
    )
