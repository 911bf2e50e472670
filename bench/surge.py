"""Catastrophe surge: a systemic event reported as 1,000 incidents at once across 200 policies.

cyberins: the reporters post every incident to `POST /v1/incidents`, `in_flight` at a time; the clock
stops when every incident has its regulatory reporting clock running and a panel vendor dispatched
(both events in PostgreSQL's `incident_events`).
Bare: as many `BareIncident` workflows started with `client.start_workflow`, the same number in
flight; each runs the same number of activities and timers up to the same point, and the clock
stops when the last has reached it.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from bench.api_load import Cast
from bench.bare import BareIncident
from bench.stack import Stack
from contracts.incident import incident_workflow_id

MILESTONES = ("regulatory_report_due", "vendor_dispatched")


async def cyberins_surge(stack: Stack, cast: Cast, *, incidents: int, in_flight: int) -> float:
    """Seconds from the first report until every incident has both milestones."""
    run = uuid.uuid4().hex[:6]
    discovered = datetime.now(UTC).isoformat()  # after the policies were bound: in their term
    reports = [
        {"policy_id": cast.policies[i % len(cast.policies)], "reference": f"surge-{run}-{i}",
         "discovered_at": discovered, "grade": "significant", "category": "malicious_program",
         "summary": "ransomware spreading through a shared managed-service provider"}
        for i in range(incidents)
    ]
    gate = asyncio.Semaphore(in_flight)
    headers = {"Authorization": f"Bearer {cast.insured.token}"}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=300, headers=headers) as http:
        async def report(body: dict) -> str:
            async with gate:
                answer = await http.post("/v1/incidents", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
                answer.raise_for_status()
                return answer.json()["id"]

        started = time.monotonic()
        ids = await asyncio.gather(*(report(body) for body in reports))
        await _until(lambda: _reached(stack, ids), incidents)
        seconds = time.monotonic() - started
    # As the bare runs do: the next repeat starts with as many open workflows as this one did.
    handles = [stack.temporal.get_workflow_handle(incident_workflow_id(i)) for i in ids]
    await asyncio.gather(*(h.terminate("benchmark over") for h in handles), return_exceptions=True)
    return seconds


async def _reached(stack: Stack, incident_ids: list[str]) -> int:
    async with stack.sessions() as session:
        uncovered = (await session.execute(text(
            "SELECT count(*) FROM incidents WHERE incident_id = ANY(:ids) AND NOT in_force"
        ), {"ids": incident_ids})).scalar_one()
        if uncovered:
            raise RuntimeError(f"{uncovered} incidents found no policy term in force: no panel vendor is dispatched")
        return (await session.execute(text(
            "SELECT count(*) FROM (SELECT incident_id FROM incident_events WHERE incident_id = ANY(:ids) "
            "AND kind = ANY(:kinds) GROUP BY incident_id HAVING count(DISTINCT kind) = :n) AS done"
        ), {"ids": incident_ids, "kinds": list(MILESTONES), "n": len(MILESTONES)})).scalar_one()


async def bare_surge(stack: Stack, *, incidents: int, in_flight: int) -> float:
    with tempfile.TemporaryDirectory(prefix="cyberins-surge-") as folder:
        milestones = Path(folder) / "milestones.txt"
        milestones.touch()
        async with stack.bare_worker(milestones=milestones) as task_queue:
            run = uuid.uuid4().hex[:6]
            gate = asyncio.Semaphore(in_flight)

            async def start(i: int):
                async with gate:
                    return await stack.temporal.start_workflow(
                        BareIncident.run, f"surge-{run}-{i}", id=f"bare-incident-{run}-{i}", task_queue=task_queue
                    )

            started = time.monotonic()
            handles = await asyncio.gather(*(start(i) for i in range(incidents)))
            await _until(lambda: _lines(milestones), incidents)
            seconds = time.monotonic() - started
            await asyncio.gather(*(h.terminate("benchmark over") for h in handles), return_exceptions=True)
    return seconds


async def _lines(path: Path) -> int:
    return path.read_text().count("\n")


async def _until(count, wanted: int, *, seconds: float = 900) -> None:
    deadline = time.monotonic() + seconds
    while (reached := await count()) < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{reached} of {wanted} reached after {seconds:.0f} s")
        await asyncio.sleep(0.2)
