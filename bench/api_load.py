"""Load on the HTTP API over loopback, at a fixed request rate, with every effect counted.

A vendor posts signed findings batches across its policies (now and then resending one, with the
same webhook-id or as a retry under a new one); the insured and the insurer read statuses, limits
and lists. Requests start on a fixed schedule whatever the answers take (open loop), so latency is
not flattered by a slow server holding the senders back.

Afterwards every finding the API accepted must be in its policy's status and in PostgreSQL exactly
once: accepted event ids == `findings.total` of the status query == rows in `findings`.

    python -m bench.api_load --duration 600 --rate 20 --policies 20   # `make bench`
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from api.client import ApiClient, ApiError
from api.parties import PartyKind
from api.provisioning import IssuedCredentials, issue_credentials
from api.signatures import decode_secret, sign
from bench.report import LoadReport, machine, print_report, write_report
from bench.stack import Stack, own_stack
from cli.demo import application, assessment

RESULTS = Path(__file__).resolve().parent / "results"
SEVERITIES = ["low", "medium", "high", "critical"]


@dataclass
class Cast:
    """The parties and their bound policies; the vendor monitors all of them."""

    insured: IssuedCredentials
    vendor: IssuedCredentials
    insurer: IssuedCredentials
    policies: list[str]


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer
    seconds: float
    lag: float  # how late the request started against its schedule


@dataclass
class Ledger:
    """What the API said it accepted, per policy, by vendor event id."""

    accepted: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    unknown: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # no answer: maybe applied
    batches: list[tuple[str, bytes]] = field(default_factory=list)  # (webhook-id, body) of accepted batches


async def prepare(stack: Stack, policies: int, *, say=print) -> Cast:
    """Keys for an insured, a vendor and an insurer, and `policies` policies bound through the API."""
    run = uuid.uuid4().hex[:6]
    insured, vendor, insurer = [
        await issue_credentials(stack.sessions, kind, f"{kind.value}-load-{run}")
        for kind in (PartyKind.INSURED, PartyKind.VENDOR, PartyKind.INSURER)
    ]
    gate = asyncio.Semaphore(4)
    async with (
        ApiClient(stack.base_url, insured.token) as insured_api,
        ApiClient(stack.base_url, vendor.token, webhook_secret=vendor.webhook_secret) as vendor_api,
    ):
        async def bound() -> str:
            async with gate:
                return await _bind(insured_api, vendor_api, insurer.party_id, vendor.party_id)

        started = time.monotonic()
        bound_ids = await asyncio.gather(*(bound() for _ in range(policies)))
    say(f"{policies} policies bound in {time.monotonic() - started:.1f} s")
    return Cast(insured, vendor, insurer, list(bound_ids))


async def _bind(insured: ApiClient, vendor: ApiClient, insurer_id: str, vendor_id: str) -> str:
    policy = (await insured.post("/v1/policies", {"insurer_id": insurer_id, "application": application(vendor_id)}))["id"]
    await vendor.post(f"/v1/policies/{policy}/assessment", assessment(vendor_id))
    quoted = await _until(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["quote"] is not None)
    await insured.post(f"/v1/policies/{policy}/quote-acceptance", {"quote_id": quoted["quote"]["quote_id"]})
    await _until(lambda: insured.get(f"/v1/policies/{policy}"), lambda s: s["phase"] == "in_force")
    return policy


async def _until(read, done, *, seconds: float = 120):
    """Reads until `done`; a busy answer (429, 503, 504) is read again, as a client would."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = await read()
        except ApiError as error:
            if error.status not in (429, 503, 504) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)
            continue
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached in {seconds:.0f} s; last: {str(value)[:500]}")
        await asyncio.sleep(0.3)


class LoadRun:
    """Starts request i at `i / rate` seconds, whatever the earlier ones are doing."""

    def __init__(self, stack: Stack, cast: Cast, *, rate: float, read_share: float, batch_max: int, seed: int,
                 max_in_flight: int = 512) -> None:
        self.stack, self.cast, self.rate, self.read_share, self.batch_max = stack, cast, rate, read_share, batch_max
        self.rng = random.Random(seed)
        self.max_in_flight = max_in_flight
        self.secret = decode_secret(cast.vendor.webhook_secret or "")
        self.samples: list[Sample] = []
        self.ledger = Ledger()
        self.not_started = 0  # requests skipped because max_in_flight were still open: the client's limit
        self.unmarked_replays = 0  # a replayed webhook-id answered without `Idempotent-Replayed: true`
        self.events = 0

    async def run(self, duration: float) -> float:
        limits = httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=self.stack.base_url, timeout=60, limits=limits) as http:
            self.http = http
            loop = asyncio.get_running_loop()
            started, tasks = loop.time(), set()
            for i in range(int(duration * self.rate)):
                due = started + i / self.rate
                if (delay := due - loop.time()) > 0:
                    await asyncio.sleep(delay)
                if len(tasks) >= self.max_in_flight:
                    self.not_started += 1
                    continue
                task = asyncio.create_task(self._one(due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
            return loop.time() - started

    async def _one(self, due: float) -> None:
        batch = None
        if self.rng.random() >= self.read_share:
            kind, batch = self._findings_batch()
            request = self._signed_post(*batch)
        else:
            kind, request = self._read_request()
        loop = asyncio.get_running_loop()
        sent = loop.time()
        try:
            answer = await request
        except httpx.HTTPError:
            answer = None
        self.samples.append(Sample(kind, answer.status_code if answer else 0, loop.time() - sent, sent - due))
        if batch is not None:
            self._account(kind, batch, answer)

    def _read_request(self):
        policy = self.rng.choice(self.cast.policies)
        insured, insurer = self.cast.insured.token, self.cast.insurer.token
        kind, token, path = self.rng.choice([
            ("status (insured)", insured, f"/v1/policies/{policy}"),
            ("status (insured)", insured, f"/v1/policies/{policy}"),
            ("status (insurer)", insurer, f"/v1/policies/{policy}"),
            ("limits (insurer)", insurer, f"/v1/policies/{policy}/limits"),
            ("list (insured)", insured, "/v1/policies?limit=100"),
        ])
        return kind, self.http.get(path, headers={"Authorization": f"Bearer {token}"})

    def _findings_batch(self) -> tuple[str, tuple[str, bytes]]:
        """A new batch mostly; sometimes a replay (same webhook-id) or a retry (new webhook-id, same body)."""
        roll = self.rng.random()
        if roll < 0.05 and self.ledger.batches:
            return "findings (replayed)", self.rng.choice(self.ledger.batches)
        if roll < 0.10 and self.ledger.batches:
            return "findings (retried)", (f"msg_{uuid.uuid4().hex}", self.rng.choice(self.ledger.batches)[1])
        return "findings", (f"msg_{uuid.uuid4().hex}", self._new_batch())

    async def _signed_post(self, webhook_id: str, body: bytes) -> httpx.Response:
        timestamp = int(time.time())  # signed when sent, as a vendor would
        headers = {
            "Authorization": f"Bearer {self.cast.vendor.token}", "Content-Type": "application/json",
            "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.secret, webhook_id, timestamp, body),
        }
        return await self.http.post("/v1/findings", content=body, headers=headers)

    def _new_batch(self) -> bytes:
        policies = self.rng.sample(self.cast.policies, k=min(len(self.cast.policies), self.rng.randint(1, 3)))
        findings = []
        for _ in range(self.rng.randint(1, self.batch_max)):
            self.events += 1
            findings.append({
                "policy_id": self.rng.choice(policies), "vendor_event_id": f"load-{self.events}-{uuid.uuid4().hex[:8]}",
                "kind": "exposed_service", "severity": self.rng.choice(SEVERITIES),
                "asset": f"host-{self.rng.randint(1, 500)}.example.cn", "title": "service reachable from the internet",
                "observed_at": datetime.now(UTC).isoformat(),
            })
        return json.dumps({"findings": findings}).encode()

    def _account(self, kind: str, batch: tuple[str, bytes], answer: httpx.Response | None) -> None:
        findings = json.loads(batch[1])["findings"]
        if answer is None or answer.status_code >= 500:  # it may or may not have been applied
            for finding in findings:
                self.ledger.unknown[finding["policy_id"]].add(finding["vendor_event_id"])
        elif answer.is_success:
            for finding in findings:
                self.ledger.accepted[finding["policy_id"]].add(finding["vendor_event_id"])
            if kind == "findings":
                self.ledger.batches.append(batch)
            if kind == "findings (replayed)" and answer.headers.get("idempotent-replayed") != "true":
                self.unmarked_replays += 1


async def counted_effects(stack: Stack, cast: Cast, ledger: Ledger, *, seconds: float = 300) -> dict[str, dict[str, int]]:
    """Per policy: findings accepted by the API, in the status query, in PostgreSQL; waits (up to
    `seconds`) for the workflows to write what they were sent."""
    wanted = {policy: len(ledger.accepted.get(policy, ())) for policy in cast.policies}
    async with ApiClient(stack.base_url, cast.insured.token) as insured:
        async def status_total(policy: str) -> int:
            def written(s) -> bool:
                return s["pending_findings"] == 0 and s["findings"]["total"] >= wanted[policy]

            try:
                status = await _until(lambda: insured.get(f"/v1/policies/{policy}"), written, seconds=seconds)
                return status["findings"]["total"]
            except TimeoutError:
                return (await insured.get(f"/v1/policies/{policy}"))["findings"]["total"]

        in_status = dict(zip(cast.policies, await asyncio.gather(*(status_total(p) for p in cast.policies)), strict=True))
    async with stack.sessions() as session:
        rows = await session.execute(
            text("SELECT policy_id, count(*) FROM findings WHERE policy_id = ANY(:ids) GROUP BY policy_id"),
            {"ids": cast.policies},
        )
        in_database = {policy: count for policy, count in rows}
    return {
        policy: {"accepted": wanted[policy], "maybe": len(ledger.unknown.get(policy, ())),
                 "status": in_status[policy], "database": in_database.get(policy, 0)}
        for policy in cast.policies
    }


async def measure(stack: Stack, *, duration: float, rate: float, policies: int, read_share: float = 0.6,
                  batch_max: int = 50, seed: int | None = None, say=print) -> LoadReport:
    """Bind the policies, run the load, count the effects: the whole measurement on a running stack."""
    seed = random.randrange(2**32) if seed is None else seed
    cast = await prepare(stack, policies, say=say)
    load = LoadRun(stack, cast, rate=rate, read_share=read_share, batch_max=batch_max, seed=seed)
    say(f"load: {rate:g} requests/s for {duration:g} s over {policies} policies (seed {seed})")
    began = datetime.now(UTC)
    elapsed = await load.run(duration)
    say(f"load done in {elapsed:.1f} s; counting what the workflows wrote")
    effects = await counted_effects(stack, cast, load.ledger)
    config = {"duration_s": duration, "rate_per_s": rate, "policies": policies, "read_share": read_share,
              "batch_max": batch_max, "seed": seed}
    return LoadReport.of(load.samples, effects, config=config, began=began, elapsed=elapsed,
                         not_started=load.not_started, unmarked_replays=load.unmarked_replays, machine=machine())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--rate", type=float, default=20, help="requests started per second (default 20)")
    parser.add_argument("--policies", type=int, default=20, help="policies bound before the load (default 20)")
    parser.add_argument("--read-share", type=float, default=0.6, help="share of reads among requests (default 0.6)")
    parser.add_argument("--batch-max", type=int, default=50, help="most findings in one batch (default 50)")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run's choice of requests")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)

    async def run() -> LoadReport:
        async with own_stack() as stack:
            return await measure(stack, duration=args.duration, rate=args.rate, policies=args.policies,
                                 read_share=args.read_share, batch_max=args.batch_max, seed=args.seed)

    report = asyncio.run(run())
    print_report(report)
    path = write_report(report, args.results)
    print(f"results written to {path}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
