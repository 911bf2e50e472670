"""Bad values everywhere, and the system stays healthy: not just no 5xx.

For every route of the app (from its OpenAPI document), a valid body is built for real objects
(fuzz_world: a policy in the phase the route expects, an incident its panel vendor took, claims,
qualifications) and ONE place is replaced by a bad value (bad_values: huge and negative numbers,
naive, far and integer times, NUL and control characters, over-long text, wrong shapes): a body
field, a nested one, a list item, a query parameter or a path parameter. Each request goes as the
party the route is for, with a real key (vendors sign), one at a time, so that what it caused can
be told apart. After each route's bad bodies, the valid body itself goes (the control): it must be
accepted, or the refusals before it may have been for something else. Then:

* no answer is a 5xx, and every answer that is not a 2xx is a problem document;
* no bad value is accepted (a 2xx): the API must not take what the system cannot hold;
* a refused request stored nothing: the API's tables hold as many rows after it as before, and no
  workflow started and no signal or update reached a history while it was in flight;
* at the end, asking Temporal (tests/health.py): no workflow task failed, no workflow failed except
  by deliberate refusal, no activity is past its 5th attempt.

Every finding names the route, the place, the kind of bad value and what happened. The short run
(in `make test`, ~500 requests) tries every number and time kind on each body field, one text kind
and one wrong shape (the least used so far), and one kind per parameter; `make fuzz`
(CYBERINS_FUZZ_LONG=1) tries every kind everywhere, with CYBERINS_FUZZ_SEEDS seeds for the random
kinds, and a schemathesis run per party followed by the same health probe. CYBERINS_FUZZ_SEED
repeats a run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import text

from api.app import create_app
from api.client import ApiError
from api.context import PartyKind
from tests.api.bad_values import Bad, Schemas, bad_values, other_places, replace, short_selection, show
from tests.api.fuzz_routes import Route, discover
from tests.api.fuzz_world import BODY_TARGETS, OWN_RECORDS, PARENT, World, target_of
from tests.health import HealthReport, assert_healthy, healthy_after

LONG = os.environ.get("CYBERINS_FUZZ_LONG") == "1"
SEED = int(os.environ.get("CYBERINS_FUZZ_SEED", "20260101"))
SEEDS = int(os.environ.get("CYBERINS_FUZZ_SEEDS", "3")) if LONG else 1
PROBLEM = "application/problem+json"
API_TABLES = ("api_grants", "api_requests", "finding_batches", "api_keys", "webhook_secrets", "webhook_endpoints",
              "email_recipients")
WINDOW_MARGIN = timedelta(milliseconds=50)
RETRY_WAIT = 150 if LONG else 40  # time for a failing activity to pass its 5th attempt (~31 s)
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@dataclass(frozen=True)
class Case:
    number: int
    route: Route
    where: str  # body | query | path
    place: str  # "application.coverages[0].limit.fen", a parameter's name
    path: tuple
    bad: Bad

    def __str__(self) -> str:
        if self.where == "world":
            return f"(the fuzz world making a fresh {self.place} for {self.route.name})"
        if self.where == "control":
            return f"{self.route.name} (valid body)"
        return f"{self.route.name} {self.where} {self.place} ← {self.bad.kind}"


@dataclass
class Sent:
    case: Case
    status: int
    media: str
    detail: str
    sent: datetime
    answered: datetime
    stored: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    where: str  # the case, or the workflow for a health problem without a cause in the run
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"[:700]


def make_cases(routes: list[Route], world: World, schemas: Schemas) -> tuple[list[Case], list[str]]:
    """The cases, and the routes whose example body the route's own model refuses (the fuzz could not
    get past validation there, so it would prove nothing)."""
    cases: list[Case] = []
    broken: list[str] = []
    used: Counter[str] = Counter()
    for seed in range(SEED, SEED + SEEDS):
        rng = random.Random(seed)
        for route in routes:
            places: list[tuple[str, str, tuple, dict, object]] = []
            for name, node in route.path_params:
                places.append(("path", name, (name,), node, _path_value(world, route, name)))
            for name, node in route.query_params:
                places.append(("query", name, (name,), node, None))
            if route.schema:
                base, problem = base_body(route, world, schemas, "probe")
                if problem:
                    if seed == SEED:
                        broken.append(f"{route.name}: {problem}")
                    continue
                for path, node, value in schemas.fields(base, {"$ref": f"#/components/schemas/{route.schema}"}):
                    places.append(("body", show(path), path, node, value))
            for where, place, path, node, value in places:
                name = str(path[-1] if not isinstance(path[-1], int) else path[-2] if len(path) > 1 else place)
                options = bad_values(node, value, name, long=LONG, rng=rng, where=where)
                if seed != SEED:
                    options = [bad for bad in options if bad.kind.startswith("random_")]
                elif not LONG:
                    options = short_selection(options, where, used, rng)
                cases += [Case(len(cases), route, where, place, path, bad) for bad in options]
    return cases, broken


def base_body(route: Route, world: World, schemas: Schemas, tag: str) -> tuple[dict, str | None]:
    """The world's example for the route's body, or one made from the schema, with every optional
    member the model takes added, so that those are fuzzed too."""
    node = schemas.inner({"$ref": f"#/components/schemas/{route.schema}"})
    body = world.body(route.schema, tag) or schemas.example(node)
    for key, member in node.get("properties", {}).items():
        if key not in body:
            grown = {**body, key: schemas.example(member, key)}
            if _refusal(route.model, grown) is None:
                body = grown
    return body, _refusal(route.model, body)


def _refusal(model: type[BaseModel] | None, body: dict) -> str | None:
    if model is None:
        return None
    try:
        model.model_validate(body)
    except ValidationError as error:
        return str(error).replace("\n", " ")[:300]
    return None


def _path_value(world: World, route: Route, name: str) -> str:
    """The id of the object the parameter points at; for a finding's id, the finding of that policy;
    for one of a party's own records (its endpoint, recipient, event), the insured's."""
    if name in OWN_RECORDS:
        return world.facts[name]
    target = target_of(route.name, name)
    return world.ids[target] if target else world.facts[f"finding:{target_of(route.name, 'policy_id')}"]


async def send(http: httpx.AsyncClient, world: World, schemas: Schemas, case: Case) -> tuple[int, str, str]:
    route, bad = case.route, case.bad
    url = route.template
    for name, _ in route.path_params:
        value = bad.value if case.where == "path" and case.place == name else _path_value(world, route, name)
        url = url.replace("{" + name + "}", quote(str(value), safe="", errors="surrogatepass"))
    if case.where == "query":
        url += f"?{case.place}={quote(str(bad.value), safe='', errors='surrogatepass')}"
    client = world.clients[route.role]
    headers = {"Authorization": f"Bearer {world.parties[route.role].token}"}
    content = None
    if route.method == "POST":
        tag = f"{world.run}-{case.number}{'c' if case.where == 'control' else ''}"
        body = base_body(route, world, schemas, tag)[0] if route.schema else {}
        if case.where == "body":
            body = replace(body, case.path, bad.value)
        content = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        if route.role in ("vendor", "panel"):
            headers.update(client.signed_headers(content))
        elif case.number % 2 == 0:  # half with a replay key (one transaction), half without
            headers["Idempotency-Key"] = f"fz-{world.run}-{case.where}-{case.number}"
    try:
        answer = await http.request(route.method, url, headers=headers, content=content)
    except httpx.HTTPError as error:
        return 0, "", f"no answer: {error!r}"
    return answer.status_code, answer.headers.get("content-type", ""), answer.text[:2000]


async def counts(engine) -> dict[str, int]:
    query = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in API_TABLES)
    async with engine.connect() as connection:
        return dict((await connection.execute(text(query))).all())


def _needs(route: Route) -> set[str]:
    named = {target_of(route.name, name) for name, _ in route.path_params} | {BODY_TARGETS.get(route.schema or "")}
    return {target for target in named if target}


def with_controls(cases: list[Case]) -> list[Case]:
    """After each run of body cases on a route, the valid body itself: it must be accepted, or the
    refusals before it may have been for something else than the bad value."""
    out: list[Case] = []
    for index, case in enumerate(cases):
        out.append(case)
        following = cases[index + 1] if index + 1 < len(cases) else None
        if case.route.schema and (following is None or following.route != case.route):
            out.append(Case(case.number, case.route, "control", "(valid body)", (), Bad("none", None)))
    return out


async def run_cases(stack, world: World, schemas: Schemas, cases: list[Case]) -> tuple[list[Sent], int, list[Finding]]:
    """One at a time; a target an accepted request moved on is made afresh before the next request
    that needs it (and what it is made on first, if that moved on too)."""
    results: list[Sent] = []
    failures: list[Finding] = []
    stale: set[str] = set()
    phases = {name: (await world.status(name))["phase"] for name in world.ids}

    async def refresh(target: str, case: Case) -> None:
        parent = PARENT.get(target.split(":")[0])
        if parent in stale:
            await refresh(parent, case)
        began = datetime.now(UTC)
        try:
            await world.renew(target)
            phases[target] = (await world.status(target))["phase"]
        except (AssertionError, ApiError) as error:  # the health probe may say why
            failures.append(Finding(f"a fresh {target} (for {case.route.name})", f"could not be made: {error}"))
        stale.discard(target)
        # The world's own requests: what they leave in Temporal is no finding.
        results.append(Sent(Case(-1, case.route, "world", target, (), Bad("none", None)), 200, "", "",
                            began, datetime.now(UTC)))

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=90) as http:
        for case in with_controls(cases):
            for target in sorted(_needs(case.route) & stale):
                await refresh(target, case)
            before = await counts(stack.engine)
            sent = datetime.now(UTC)
            status, media, detail = await send(http, world, schemas, case)
            answered = datetime.now(UTC)
            after = await counts(stack.engine)
            stored = {table: after[table] - before[table] for table in API_TABLES if after[table] != before[table]}
            results.append(Sent(case, status, media, detail, sent, answered, stored))
            targets = {target_of(case.route.name, name) for name, _ in case.route.path_params} - {None}
            for target in (t for t in targets if case.route.method == "POST" and not 400 <= status < 500):
                # Later requests would be refused for its state, not for their values: an update may
                # have moved it on even when its phase has not changed yet (a signal, 202, rarely
                # does), and after a 5xx its state is anyone's guess.
                if status != 202 or (await world.status(target))["phase"] != phases[target]:
                    stale.add(target)
    renewed = sum(1 for result in results if result.case.where == "world")
    return results, renewed, failures


def judge(results: list[Sent], report: HealthReport, world: World) -> list[Finding]:
    findings: list[Finding] = []
    for result in results:
        where, status, ok = str(result.case), result.status, 200 <= result.status < 300
        if result.case.where == "world":
            continue
        if result.case.where == "control":
            if not ok:
                findings.append(Finding(where, f"refused ({status}): the fuzz there proved nothing: "
                                               f"{result.detail[:300]}"))
            continue
        if status == 0 or status >= 500:
            findings.append(Finding(where, f"{status or 'no answer'}: {result.detail[:300]}"))
        elif ok:
            findings.append(Finding(where, f"accepted ({status}): {result.detail[:160]}"))
        elif result.media != PROBLEM:
            findings.append(Finding(where, f"{status} answered as {result.media!r}, not a problem document"))
        elsewhere = other_places(result.detail, result.case.place) if result.case.where == "body" and status == 422 else []
        if elsewhere:
            findings.append(Finding(where, f"refused (422) for another place than the bad value's: {elsewhere}"))
        if not ok and result.stored:
            findings.append(Finding(where, f"refused ({status}) but stored rows: {result.stored}"))
    # Messages from the API process: the identity that started the world's workflows.
    world_workflows = {world.workflow_id(name) for name in world.ids}
    api = {m.identity for m in report.messages if m.kind == "start" and m.workflow_id in world_workflows}
    messages = [m for m in report.messages if m.identity in api]
    starts = [r.sent for r in results]

    def case_at(at: datetime) -> Sent | None:
        index = bisect_right(starts, at) - 1
        if index >= 0 and at <= results[index].answered + WINDOW_MARGIN:
            return results[index]
        following = results[index + 1] if index + 1 < len(results) else None
        return following if following and at >= following.sent - WINDOW_MARGIN else None

    # An update refused by its handler (a rule that needs PostgreSQL's records, say a finding not
    # awaiting verification) is in the history as accepted and failed: refused, and nothing changed.
    for message in (m for m in messages if not m.failed):
        result = case_at(message.at)
        if result is not None and not 200 <= result.status < 300:
            what = {"start": "started workflow", "signal": "signalled", "update": "had update accepted by"}[message.kind]
            findings.append(Finding(str(result.case), f"refused ({result.status}) but {what} {message.workflow_id} "
                                                       f"({message.name}) in Temporal"))

    def cause(workflow_id: str, at: datetime | None) -> str:
        """The request in flight when it happened, else the last one that reached the workflow."""
        result = case_at(at) if at is not None else None
        if result is None:
            before = [m for m in messages if m.workflow_id == workflow_id and (at is None or m.at <= at)]
            result = case_at(before[-1].at) if before else None
        return str(result.case) if result else f"{workflow_id} (no request of this run before it)"

    # Only trees this run began: a workflow an earlier test left (a continued run, a child) is its business.
    ours = world_workflows | {m.workflow_id for m in messages if m.kind == "start"}

    def mine(problem) -> bool:
        return report.roots.get(problem.workflow_id, problem.workflow_id) in ours

    for failure in filter(mine, report.task_failures):
        findings.append(Finding(cause(failure.workflow_id, failure.at), f"workflow task failed: {failure}"))
    for failed in filter(mine, report.failed):
        findings.append(Finding(cause(failed.workflow_id, failed.at), f"workflow failed: {failed}"))
    for activity in filter(mine, report.stuck):
        findings.append(Finding(cause(activity.workflow_id, None), f"activity past attempt 5: {activity}"))
    for activity in filter(mine, report.retrying):
        findings.append(Finding(cause(activity.workflow_id, None), f"activity still retrying: {activity}"))
    return list(dict.fromkeys(findings))  # a workflow task that failed twice alike is one finding


@pytest.fixture(scope="module")
async def world(api_stack):
    started = datetime.now(UTC)
    made = World(api_stack)
    try:
        await made.build()
        yield made, started
    finally:
        await made.close()


async def test_bad_values_in_every_place_are_refused_store_nothing_and_leave_the_system_healthy(api_stack, world):
    made, started = world
    app = create_app()
    schemas = Schemas(app.openapi())
    routes = discover(app)
    cases, broken = make_cases(routes, made, schemas)
    began = time.monotonic()
    results, renewed, failures = await run_cases(api_stack, made, schemas, cases)
    sending = time.monotonic() - began
    report = await healthy_after(api_stack.temporal, task_queue=api_stack.task_queue, since=started,
                                 started_since=True, collect_messages=True, retry_wait=RETRY_WAIT)
    findings = failures + judge(results, report, made)
    statuses = Counter(result.status for result in results if result.case.where not in ("control", "world"))
    print(f"\nhealth fuzz (seed {SEED}, {'long' if LONG else 'short'}): {len(cases)} requests over {len(routes)} routes "
          f"in {sending:.1f} s, {renewed} objects renewed; statuses {dict(sorted(statuses.items()))}; "
          f"kinds {dict(sorted(Counter(c.bad.kind for c in cases).items()))}\n{report.describe(limit=10)}")
    print(f"{len(findings)} findings:\n" + "\n".join(f"  {finding}" for finding in findings))
    untouched = [route.name for route in routes if route.role and route.has_places
                 and not any(c.route == route for c in cases)]
    assert not broken, "no valid body to start from, so nothing was learnt there:\n" + "\n".join(broken)
    assert not untouched, f"routes with parameters or a body that no case reached: {untouched}"
    assert not findings, f"{len(findings)} findings (seed {SEED}):\n" + "\n".join(str(f) for f in findings[:80])


@pytest.mark.skipif(not LONG, reason="the long run: make fuzz (CYBERINS_FUZZ_LONG=1)")
@pytest.mark.parametrize("kind", [PartyKind.INSURED, PartyKind.INSURER, PartyKind.PLATFORM], ids=lambda k: k.value)
async def test_schemathesis_leaves_the_system_healthy(api_stack, kind):
    """Vendors are left out: schemathesis cannot sign, so their POSTs stop at the signature."""
    started = datetime.now(UTC)
    issued = await api_stack.credentials(kind)
    with tempfile.TemporaryDirectory(prefix="cyberins-schemathesis-") as folder:
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "run", f"{api_stack.base_url}/openapi.json", "--checks", "not_a_server_error",
            "--header", f"Authorization: Bearer {issued.token}", "--max-examples", "50",
            "--phases", "examples,coverage,fuzzing", "--generation-database", "none", "--seed", str(SEED),
            "--request-timeout", "60", "--workers", "1", "--no-color", "--output-truncate", "true",
            cwd=folder, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 1200)
    await assert_healthy(api_stack.temporal, task_queue=api_stack.task_queue, since=started, retry_wait=RETRY_WAIT)
    assert process.returncode == 0, output.decode(errors="replace")[-20000:]
