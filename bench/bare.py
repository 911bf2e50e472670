"""Bare Temporal: the baselines' workflows, with nothing of cyberins in them, and their worker.

Each has the shape of the cyberins work it is measured against, and nothing else:
- `BareMonitor` counts the findings its signals carry (the policy workflow stores and applies them);
- `BareIncident` runs the incident workflow's first steps as no-op activities: two in a row, then two
  branches of two activities and a timer each (the reporting clock and the panel dispatch). Its last
  activities count each incident as it reaches the point the surge measures.

The worker runs as a process of its own, as `cyberins worker` does, with the same data converter and
the same default worker options:

    python -m bench.bare --task-queue bare-1 --milestones /tmp/milestones.txt
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

# The incident workflow's timers are days long; none fires during a surge.
LONG_TIMER = timedelta(days=1)
ACTIVITY_TIMEOUT = timedelta(seconds=60)


@dataclass
class MonitorInput:
    signals_per_run: int = 2_000
    counted: int = 0


@workflow.defn(name="BareMonitor")
class BareMonitor:
    def __init__(self) -> None:
        self.counted = 0
        self.signals = 0

    @workflow.run
    async def run(self, input: MonitorInput) -> int:
        self.counted += input.counted
        await workflow.wait_condition(lambda: self.signals >= input.signals_per_run)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(MonitorInput(input.signals_per_run, self.counted))

    @workflow.signal
    def findings(self, findings: list[dict]) -> None:
        self.counted += len(findings)
        self.signals += 1

    @workflow.query
    def total(self) -> int:
        return self.counted


@dataclass
class Step:
    incident: str
    name: str
    milestone: bool = False
    detail: dict = field(default_factory=dict)


@workflow.defn(name="BareIncident")
class BareIncident:
    @workflow.run
    async def run(self, incident: str) -> None:
        await self._step(incident, "load_cover")
        await self._step(incident, "record_incident")
        await asyncio.gather(self._branch(incident, "clock"), self._branch(incident, "dispatch"))
        await workflow.wait_condition(lambda: False)

    async def _branch(self, incident: str, name: str) -> None:
        await self._step(incident, f"{name}_event", milestone=True)
        await self._step(incident, f"{name}_notify")
        await workflow.sleep(LONG_TIMER)

    @staticmethod
    async def _step(incident: str, name: str, *, milestone: bool = False) -> None:
        await workflow.execute_activity(
            bare_step, Step(incident, name, milestone), start_to_close_timeout=ACTIVITY_TIMEOUT
        )


class Milestones:
    """Writes a line when an incident has both its milestones, as the surge's counter reads them."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.seen: dict[str, int] = {}

    def reached(self, incident: str) -> None:
        self.seen[incident] = self.seen.get(incident, 0) + 1
        if self.seen[incident] == 2 and self.path is not None:
            with self.path.open("a") as out:
                out.write(incident + "\n")


_milestones = Milestones(None)


@activity.defn(name="bare_step")
async def bare_step(step: Step) -> None:
    if step.milestone:
        _milestones.reached(step.incident)


WORKFLOWS = [BareMonitor, BareIncident]


def peak_rss_kib() -> int:
    """This process's peak resident set, KiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def serve(address: str, namespace: str, task_queue: str, milestones: Path | None) -> None:
    global _milestones
    _milestones = Milestones(milestones)
    client = await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=[bare_step]):
        print("bare worker polling", task_queue, flush=True)
        await stopping.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description="The bare-Temporal baseline worker.")
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--milestones", type=Path, default=None, help="file to append finished incidents to")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.address, args.namespace, args.task_queue, args.milestones))


if __name__ == "__main__":
    main()
