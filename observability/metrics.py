"""Prometheus metrics: the Temporal SDK's for the worker, and the API's own requests.

The worker's come from the SDK's core (task latencies, slots, cache, failures), served by a Temporal
runtime on CYBERINS_WORKER_METRICS_PORT. The API counts requests by route template and status, never
by path: a path carries ids. deploy/grafana/cyberins.json charts both.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds; from a cached status read (a few ms) to a payout waiting on the bank (tens of seconds).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def temporal_runtime(host: str, port: int) -> Runtime:
    """A runtime whose clients and workers publish the SDK's metrics at http://host:port/metrics:
    counters end in `_total`, durations are seconds, as Prometheus names them."""
    prometheus = PrometheusConfig(bind_address=f"{host}:{port}", counters_total_suffix=True, durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


class ApiMetrics:
    """The API's requests, in a registry of the app's own (a test may build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cyberins_api_requests", "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "cyberins_api_request_duration_seconds", "Time to answer, by method and route template",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        # A request that matched no route, or with a method of its own invention, is counted under
        # one label, so that a scanner cannot grow the series without bound.
        template = route or "unmatched"
        verb = method if method in _METHODS else "other"
        self.requests.labels(verb, template, str(status)).inc()
        self.latency.labels(verb, template).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
