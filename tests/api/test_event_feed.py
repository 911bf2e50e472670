"""The event feed over real HTTP: events stored the way the workflows store them (activities.notifying.emit
in a unit of work), paged through in small pages.

Pages come in the order the events were recorded, with none twice and none left out; a type filter
skips the others; another party's events never appear and are not found by id; and the cursor a page
ends on is where the next events, stored later, begin.
"""

from __future__ import annotations

import uuid

import pytest

from activities.notifying import emit
from api.client import ApiClient
from api.context import PartyKind
from contracts.parties import Notification, Party
from domain.notifications import event_id_for
from storage.unit_of_work import UnitOfWork

PROBLEM = "application/problem+json"
# (kind the workflows write, the type parties see, payload)
A_EVENTS = [
    ("policy_bound", "policy.bound", {"term_number": 1}),
    ("emergency_dispatch", "incident.dispatch.requested", {"incident_id": "inc-feed-1"}),
    ("claim_offer", "claim.offer.made", {"claim_id": "clm-feed-1"}),
    ("policy_bound", "policy.bound", {"term_number": 2}),
    ("regulatory_report_due", "incident.report.due", {"incident_id": "inc-feed-1"}),
    ("claim_offer", "claim.offer.made", {"claim_id": "clm-feed-2"}),
    ("expired", "policy.expired", {"term_number": 2}),
]
B_EVENTS = [
    ("policy_bound", "policy.bound", {"term_number": 1}),
    ("claim_offer", "claim.offer.made", {"claim_id": "c"}),
]


async def store(api_stack, party_id: str, run: str, n: int, kind: str, payload: dict) -> str:
    """One event told to one insured, in its own transaction as an activity would: its event id."""
    key = f"feed:{run}:{party_id}:{n}"
    notification = Notification(
        dedupe_key=key, recipient=Party.INSURED, recipient_id=party_id, kind=kind, payload=payload
    )
    async with UnitOfWork(api_stack.sessions) as uow:
        await emit(uow, [notification])
    return event_id_for(key, PartyKind.INSURED.value, party_id)


@pytest.fixture(scope="module")
async def feed(api_stack):
    run = uuid.uuid4().hex[:8]
    a = await api_stack.credentials(PartyKind.INSURED, f"insured-feed-a-{run}")
    b = await api_stack.credentials(PartyKind.INSURED, f"insured-feed-b-{run}")
    a_ids, b_ids = [], []
    for n, (kind, _, payload) in enumerate(A_EVENTS):  # interleaved with B's, so ids of A's have gaps
        a_ids.append(await store(api_stack, a.party_id, run, n, kind, payload))
        if n < len(B_EVENTS):
            b_ids.append(await store(api_stack, b.party_id, run, n, B_EVENTS[n][0], B_EVENTS[n][2]))
    async with (
        ApiClient(api_stack.base_url, a.token) as a_client,
        ApiClient(api_stack.base_url, b.token) as b_client,
    ):
        yield {
            "a": a_client,
            "b": b_client,
            "a_ids": a_ids,
            "b_ids": b_ids,
            "a_party": a.party_id,
            "run": run,
        }


async def page_through(client: ApiClient, **params) -> tuple[list[dict], str | None]:
    events, after, pages = [], None, 0
    while True:
        page = await client.get("/v1/events", after=after, **params)
        events += page["events"]
        pages += 1
        assert pages < 50
        if not page["more"]:
            return events, page["next"]
        assert page["events"] and page["next"]
        after = page["next"]


@pytest.mark.parametrize("limit", [1, 2, 3, 500])
async def test_pages_come_in_order_with_none_twice_and_none_left_out(feed, limit):
    events, _ = await page_through(feed["a"], limit=limit)
    assert [event["id"] for event in events] == feed["a_ids"]
    assert [event["type"] for event in events] == [name for _, name, _ in A_EVENTS]


async def test_an_event_says_what_it_is_about_and_holds_only_its_types_fields(feed):
    events, _ = await page_through(feed["a"], limit=10)
    dispatch = events[1]
    assert (dispatch["object"], dispatch["object_id"], dispatch["urgent"]) == ("incident", "inc-feed-1", True)
    assert dispatch["data"] == {"incident_id": "inc-feed-1"}
    assert (events[0]["object"], events[0]["urgent"], events[0]["data"]) == (
        "policy",
        False,
        {"term_number": 1},
    )
    assert await feed["a"].get(f"/v1/events/{dispatch['id']}") == dispatch


async def test_a_type_filter_skips_the_others_and_keeps_the_order(feed):
    wanted = ("claim.offer.made", "policy.bound")
    events, _ = await page_through(feed["a"], limit=1, types=",".join(wanted))
    expected = [
        event_id for event_id, (_, name, _) in zip(feed["a_ids"], A_EVENTS, strict=True) if name in wanted
    ]
    assert [event["id"] for event in events] == expected and len(expected) == 4


async def test_another_partys_events_never_appear_and_are_not_found(feed):
    a_events, _ = await page_through(feed["a"], limit=2)
    b_events, _ = await page_through(feed["b"], limit=2)
    assert [event["id"] for event in b_events] == feed["b_ids"]
    assert not {e["id"] for e in a_events} & {e["id"] for e in b_events}
    theirs = feed["b_ids"][0]
    unknown = "msg_" + "a" * (len(theirs) - 4)
    for path in ("/v1/events/{}", "/v1/events/{}/deliveries"):
        answer, twin = (
            await feed["a"].get_raw(path.format(theirs)),
            await feed["a"].get_raw(path.format(unknown)),
        )
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), answer.text
        assert answer.content.replace(theirs.encode(), unknown.encode()) == twin.content
    answer = await feed["a"].post_raw(f"/v1/events/{theirs}/redeliver", {})
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")


async def test_the_last_cursor_is_where_later_events_begin(api_stack, feed):
    events, cursor = await page_through(feed["a"], limit=4)
    assert cursor is not None and len(events) == len(A_EVENTS)
    empty = await feed["a"].get("/v1/events", after=cursor)
    assert empty == {"events": [], "next": cursor, "more": False}
    later = await store(
        api_stack, feed["a_party"], feed["run"], 99, "claim_disputed", {"claim_id": "clm-feed-2"}
    )
    page = await feed["a"].get("/v1/events", after=cursor)
    assert [event["id"] for event in page["events"]] == [later]
    feed["a_ids"].append(later)


async def test_a_stored_event_is_one_event_however_often_it_is_emitted(api_stack, feed):
    again = await store(api_stack, feed["a_party"], feed["run"], 0, "policy_bound", {"term_number": 1})
    assert again == feed["a_ids"][0]
    events, _ = await page_through(feed["a"], limit=100)
    assert [event["id"] for event in events] == feed["a_ids"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "not-a-cursor"}, "query.after"),
        ({"after": "c"}, "query.after"),
        ({"after": "c" + "z" * 13}, "query.after"),
        ({"after": ""}, "query.after"),
        ({"types": "policy.bound,policy.teleported"}, "query.types"),
        ({"types": ""}, "query.types"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
    ],
)
async def test_a_malformed_cursor_type_or_limit_is_refused_naming_the_parameter(feed, params, field):
    answer = await feed["a"].get_raw("/v1/events", **params)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM, answer.text
    problem = answer.json()
    assert [error["field"] for error in problem["errors"]] == [field], problem
    if field == "query.types" and params["types"]:
        assert "policy.teleported" in problem["detail"] and "policy.bound" not in problem["detail"]
