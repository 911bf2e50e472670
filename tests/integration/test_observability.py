"""What operators watch: a worker's /health, /ready and Prometheus metrics as a real `cyberins worker`
process serves them, the dashboard's queries against what the processes really export, and
`cyberins search-attributes` on a fresh namespace."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import temporalio.bridge
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest

from cli.search_attributes import register_search_attributes
from devstack.ports import free_port
from devstack.processes import spawn, stop, wait_for_health
from observability.health import HealthServer
from tests import builders
from tests.faults.claims import until
from tests.workflows.support import bind, start_policy
from workflows import search_attributes

CYBERINS = Path(sys.executable).parent / "cyberins"
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "cyberins.json"
# The SDK's core defines its metric names; a counter appears in a scrape only once it has counted.
CORE = Path(temporalio.bridge.__file__).parent.glob("temporal_sdk_bridge*.so")


def dashboard_metrics() -> set[str]:
    exprs = [t["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for t in panel.get("targets", [])]
    return {name for expr in exprs for name in re.findall(r"\b((?:temporal|cyberins)_[a-z_]+)\b", expr)}


def scraped_names(exposition: str) -> set[str]:
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in exposition.splitlines() if line and not line.startswith("#")}


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(url)


async def test_a_worker_process_serves_health_readiness_and_the_metrics_the_dashboard_charts(
    database_url, dev_server_env, tmp_path
):
    health, metrics, task_queue = free_port(), free_port(), f"obs-{uuid.uuid4().hex[:8]}"
    client = dev_server_env.client
    env = {
        **os.environ, "DATABASE_URL": database_url, "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace, "CYBERINS_TASK_QUEUE": task_queue,
        "CYBERINS_STATE_DIR": str(tmp_path / "state"), "CYBERINS_LOG_FORMAT": "json",
        "CYBERINS_WORKER_HEALTH_PORT": str(health), "CYBERINS_WORKER_METRICS_PORT": str(metrics),
    }
    for name in ("TEMPORAL_PROFILE", "TEMPORAL_API_KEY", "CYBERINS_PAYMENT_URL"):
        env.pop(name, None)
    log = tmp_path / "worker.log"
    worker = spawn([str(CYBERINS), "worker"], log=log, env=env)
    try:
        wait_for_health(f"http://127.0.0.1:{health}/health", log=log, process=worker)
        ready = await until(lambda: _get(f"http://127.0.0.1:{health}/ready"), lambda answer: answer.status_code == 200,
                            seconds=60, what="the worker ready")
        assert ready.json() == {"status": "ready", "checks": {"worker": "ok", "database": "ok", "temporal": "ok"}}

        handle = await start_policy(client, task_queue)  # workflow tasks and activities on this worker
        await bind(handle, builders.assessment())
        names = scraped_names((await _get(f"http://127.0.0.1:{metrics}/metrics")).text)
    finally:
        stop(worker)

    assert {"temporal_workflow_task_schedule_to_start_latency_bucket", "temporal_activity_execution_latency_bucket",
            "temporal_worker_task_slots_available", "temporal_sticky_cache_size"} <= names
    core = b"".join(path.read_bytes() for path in CORE)
    for metric in sorted(m for m in dashboard_metrics() if m.startswith("temporal_")):
        if metric not in names:  # a counter that has not counted yet must still be one the SDK defines
            base = re.sub(r"_(total|bucket|sum|count)$", "", metric).removeprefix("temporal_")
            assert metric.endswith("_total") and base.encode() in core, f"the dashboard charts {metric}, which no worker exports"
    assert worker.returncode == 0, "SIGTERM should stop a worker cleanly"


async def test_ready_is_503_and_names_the_check_that_failed():
    async def fine() -> None:
        return None

    async def lost() -> str:
        raise ConnectionRefusedError("connection refused")

    port = free_port()
    async with HealthServer("127.0.0.1", port, {"database": lost, "temporal": fine}):
        ready = await _get(f"http://127.0.0.1:{port}/ready")
        alive = await _get(f"http://127.0.0.1:{port}/health")
        elsewhere = await _get(f"http://127.0.0.1:{port}/metrics")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00garbage\r\n\r\n")
        garbage = await reader.read()
        writer.close()
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "checks": {"database": "ConnectionRefusedError: connection refused", "temporal": "ok"}}
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert elsewhere.status_code == 404
    assert garbage.startswith(b"HTTP/1.1 400 ")


async def test_search_attributes_are_registered_once_on_a_new_namespace_and_a_wrong_type_is_named(dev_server_env):
    client = dev_server_env.client
    namespace = f"sa-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=86_400))
    )
    await _until_namespace(client, namespace)
    first = await register_search_attributes(client, namespace)
    again = await register_search_attributes(client, namespace)
    assert sorted(first.added) == sorted(key.name for key in search_attributes.ALL)
    assert (again.added, sorted(again.present)) == ([], sorted(first.added))

    other = f"sa-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=other, workflow_execution_retention_period=Duration(seconds=86_400))
    )
    await _until_namespace(client, other)
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=other, search_attributes={"CyberinsRiskScore": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
    ))
    conflicted = await register_search_attributes(client, other)
    assert conflicted.conflicting == {"CyberinsRiskScore": "Keyword"}
    assert "CyberinsRiskScore" not in conflicted.added


async def _until_namespace(client, namespace: str) -> None:
    """A namespace just registered reaches the frontend's cache within seconds."""
    request = DescribeNamespaceRequest(namespace=namespace)
    await until(lambda: client.workflow_service.describe_namespace(request), lambda _: True, seconds=30,
                what=f"namespace {namespace}")
