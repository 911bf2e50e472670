"""Cost per lifecycle: one policy year and one ransomware claim to payout must not cost more than recorded.

The cost is what Temporal bills and limits by: history events and activity executions, counted per
workflow type over every run. Re-record on purpose with
`CYBERINS_RECORD_COST=1 pytest tests/workflows/test_lifecycle_cost.py` and commit bench/lifecycle_cost.json.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from bench.lifecycle import BASELINE, LifecycleCost, cost_increases, measure_cost
from domain.policy import PolicyPhase
from tests.workflows import test_ransomware_claim
from tests.workflows.support import eventually, running_worker
from tests.workflows.test_ransomware_claim import ransomware_story

RECORDING = os.environ.get("CYBERINS_RECORD_COST") == "1"
COMPARED = ("events", "activities", "local_activities")
# The story's client calls race the workflows: an update or signal that lands while a workflow task
# is in flight gets a workflow task of its own (3 more events) or shares the next one, and an
# incident whose dispatch is acknowledged before it starts waiting never starts the 1-hour
# acknowledgement timer (2 events: started, cancelled). With regular activities, 17 runs ranged
# IncidentWorkflow 148-165, PolicyWorkflow 196-199, ClaimWorkflow 114-117. Since the incident's
# writes became local activities its history is 81 events in every run seen; it keeps an allowance
# of three workflow tasks. Activities, local activities, updates, signals and runs never varied, so
# an added activity fails at once, and so does growth in events beyond what scheduling produces.
TOLERANCE = {"IncidentWorkflow.events": 9, "PolicyWorkflow.events": 3, "ClaimWorkflow.events": 3}
LIFECYCLE_TYPES = {"PolicyWorkflow", "IncidentWorkflow", "ClaimWorkflow"}


async def test_a_policy_year_with_one_claim_costs_no_more_than_recorded(
    time_skipping_env, session_factory, task_queue, monkeypatch
):
    client = time_skipping_env.client
    # One worker for the whole life. The story would stop a worker of its own on return, and the
    # workflows would stay bound to that worker's sticky queue: on the time-skipping server a query
    # then went unanswered (and it does not implement ResetStickyTaskQueue), and a worker change can
    # cost workflow-task events that a steadily running deployment does not pay.
    monkeypatch.setattr(test_ransomware_claim, "running_worker", _worker_already_running)
    async with running_worker(client, session_factory, task_queue):
        policy, incident, claim = await ransomware_story(time_skipping_env, session_factory, task_queue)
        term_end = (await eventually(policy, lambda s: s.term_end is not None)).term_end
        await time_skipping_env.sleep(term_end - await time_skipping_env.get_current_time() + timedelta(days=1))
        # Nobody re-assesses in the renewal window, so the year ends the way the domain ends an
        # unrenewed one: expired, then the claims run-off.
        await eventually(policy, lambda s: s.phase is PolicyPhase.EXPIRED)
        # Measured only once every workflow has closed: a closed history cannot grow any more, so
        # the count does not depend on when it is taken.
        await claim.result()
        await policy.result()
    cost = await measure_cost(client, [policy.id, incident.id, claim.id])
    print("\n" + cost.to_json())
    if measured := os.environ.get("CYBERINS_COST_OUT"):  # `make bench` reports it beside the baseline
        Path(measured).write_text(cost.to_json())

    assert set(cost.workflows) == LIFECYCLE_TYPES
    assert all(each.events > 0 for each in cost.workflows.values()), cost
    assert cost.workflows["PolicyWorkflow"].activities > 0, cost

    if RECORDING:
        BASELINE.write_text(cost.to_json())
        return
    assert BASELINE.exists(), f"no baseline at {BASELINE}; record it with CYBERINS_RECORD_COST=1"
    grown = cost_increases(LifecycleCost.from_json(BASELINE.read_text()), cost, COMPARED, TOLERANCE)
    assert not grown, (
        "one policy year and one claim cost more than recorded:\n  " + "\n  ".join(grown) + "\n"
        "if the added cost is intended, re-record with CYBERINS_RECORD_COST=1 pytest "
        "tests/workflows/test_lifecycle_cost.py and commit bench/lifecycle_cost.json"
    )


@asynccontextmanager
async def _worker_already_running(client, session_factory, task_queue):
    yield
