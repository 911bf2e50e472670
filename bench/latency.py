"""API latency's bare baseline: the Temporal calls behind the API's requests, made directly.

At the same fixed rate and mix as `bench.api_load` (open loop: request i starts at i / rate seconds),
a client queries trivial workflows (the API's reads are status queries) and signals findings batches
to them (the API's writes end in a signal). What the API adds on top is the ratio.
"""

from __future__ import annotations

import asyncio
import random
import uuid

from bench.api_load import Sample
from bench.bare import BareMonitor, MonitorInput
from bench.intake import finding
from bench.report import KindStats, stats
from bench.stack import Stack


async def bare_latency(stack: Stack, task_queue: str, *, duration: float, rate: float, read_share: float,
                       batch_max: int, workflows: int = 20, seed: int = 0) -> KindStats:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    handles = [
        await stack.temporal.start_workflow(BareMonitor.run, MonitorInput(), id=f"bare-latency-{run}-{i}",
                                            task_queue=task_queue)
        for i in range(workflows)
    ]
    samples: list[Sample] = []
    loop = asyncio.get_running_loop()

    async def one(due: float) -> None:
        handle = rng.choice(handles)
        if rng.random() < read_share:
            kind, call = "query", handle.query(BareMonitor.total)
        else:
            batch = [finding(f"lat-{run}-{uuid.uuid4().hex[:8]}", rng) for _ in range(rng.randint(1, batch_max))]
            kind, call = "signal", handle.signal(BareMonitor.findings, batch)
        sent = loop.time()
        try:
            await call
            status = 200
        except Exception:  # any failure counts against the baseline as an error
            status = 500
        samples.append(Sample(kind, status, loop.time() - sent, sent - due))

    try:
        started, tasks = loop.time(), []
        for i in range(int(duration * rate)):
            due = started + i / rate
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(h.terminate("benchmark over") for h in handles), return_exceptions=True)
    return stats(samples)
