"""API abuse: thousands of malformed inputs to the signature check and to the running API, and not
one server error.

* `api.signatures.verify` as a pure function, under Hypothesis: arbitrary, oversized and non-ASCII
  webhook headers, bodies and secrets, mixed with genuine signatures and near misses. It either
  returns the id of a push that really is signed and fresh, or raises SignatureError; nothing else.
* Over real HTTP against the API stack: a few thousand requests to every route of the app and to
  paths that are not routes, sent concurrently, with random bytes, broken and pathological JSON
  (deep nesting, huge numbers, lone surrogates), wrong content types, and random, oversized or
  non-ASCII Authorization, webhook-* and Idempotency-Key headers, with and without real keys and
  genuine signatures. No answer is a 5xx, and every answer that is not a 2xx is a problem document.

The HTTP requests come from a seeded generator; a failure names the seed (API_FUZZ_SEED repeats it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.client import ApiClient
from api.context import PartyKind
from api.signatures import TOLERANCE_SECONDS, SignatureError, decode_secret, sign, verify
from tests import builders

PROBLEM = "application/problem+json"
NOW = 1_790_000_000
SIGNATURE_CODES = {"missing_header", "malformed_webhook_id", "malformed_timestamp", "timestamp_too_old",
                   "timestamp_in_future", "malformed_signature", "bad_signature"}

# -- The signature check alone -----------------------------------------------------------------------

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=16)  # surrogates too
header_text = st.one_of(
    any_text,
    st.sampled_from(["", " ", "\t", "\u00a0", "\u2028", "\x00", "v1,", "v1, ", "msg_\u4e2d\u6587", "x" * 257,
                     "v1," + "A" * 4_000, "\u4e2d" * 300, "msg_" + "9" * 252]),
)
fresh = st.integers(-TOLERANCE_SECONDS - 2, TOLERANCE_SECONDS + 2).map(lambda skew: str(NOW + skew))
message_ids = st.uuids().map(lambda u: f"msg_{u.hex}")
timestamps = st.one_of(
    st.integers(-(10**15), 10**15).map(str),
    st.sampled_from(["", "-5", "+5", "0x10", "1e9", "\u00b2", "\u0661\u0662", " 1790000000 ", "9" * 13, "0" * 12]),
    header_text,
)
random_base64 = st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode())
ENTRY_KINDS = st.lists(st.sampled_from(["genuine", "near_miss", "v1", "v1a", "text"]), min_size=1, max_size=10)


@st.composite
def pushes(draw) -> tuple[dict[str, str], bytes, list[bytes]]:
    """Headers that are garbage, nearly right or right, for a body and the secrets to check against."""
    body = draw(st.binary(max_size=100))
    secrets = draw(st.lists(st.binary(max_size=64), max_size=3))
    # Mostly plausible, so that most examples get as far as comparing signatures.
    webhook_id = draw(_mostly(message_ids, header_text))
    timestamp = draw(_mostly(fresh, timestamps))
    genuine = _genuine(secrets, webhook_id, timestamp, body)
    entries = []
    for kind in draw(ENTRY_KINDS):
        if kind in ("genuine", "near_miss") and genuine:
            entry = genuine[draw(st.integers(0, len(genuine) - 1))]
            entries.append(entry if kind == "genuine" else entry[:-2] + ("A=" if entry[-2] != "A" else "B="))
        elif kind in ("v1", "v1a"):
            entries.append(f"{kind},{draw(random_base64)}")
        else:
            entries.append(draw(header_text))
    separator = draw(st.sampled_from([" ", "  ", "\t", "\n", ","]))
    headers = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": separator.join(entries)}
    if draw(st.integers(0, 9)) == 0:
        del headers["webhook-signature"]
    extra = draw(st.dictionaries(st.sampled_from(["webhook-ID", "Webhook-Signature", "x"]), header_text, max_size=1))
    return {name: value for name, value in {**headers, **extra}.items() if value is not None}, body, secrets


def _mostly(plausible: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    """Seven in ten plausible, two odd, one missing."""
    return st.integers(0, 9).flatmap(lambda n: plausible if n < 7 else odd if n < 9 else st.none())


def _genuine(secrets: list[bytes], webhook_id: str | None, timestamp: str | None, body: bytes) -> list[str]:
    if not secrets or webhook_id is None or timestamp is None or not timestamp.strip().isdigit():
        return []
    try:
        return [sign(secret, webhook_id.strip(), int(timestamp.strip()), body) for secret in secrets]
    except (UnicodeEncodeError, ValueError):
        return []  # an id that cannot be encoded cannot be signed either


@settings(max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(push=pushes())
def test_verify_only_accepts_a_genuine_fresh_push_and_otherwise_says_why(push):
    headers, body, secrets = push
    try:
        webhook_id = verify(headers, body, secrets, now=NOW)
    except SignatureError as refusal:
        assert refusal.code in SIGNATURE_CODES and str(refusal)
        return
    assert webhook_id == headers["webhook-id"].strip()
    timestamp = int(headers["webhook-timestamp"].strip())
    assert abs(timestamp - NOW) <= TOLERANCE_SECONDS
    offered = set(headers["webhook-signature"].split())
    assert any(sign(secret, webhook_id, timestamp, body) in offered for secret in secrets), "accepted unsigned"


# -- The running API ---------------------------------------------------------------------------------

REQUESTS = 2_500
CONCURRENCY = 24
HEADER_BUDGET = 10_000  # bytes of fuzzed header values per request
# Known bug (test_a_nul_in_a_list_cursor_is_refused_not_a_server_error): `after=%00` on a list reaches
# PostgreSQL, which refuses NUL in text: 500. Left out until fixed; False lets the fuzz find it.
KNOWN_BUG_NUL_IN_CURSOR = False


@dataclass(frozen=True)
class Credentials:
    tokens: dict[str, str]  # party kind → a real API key
    vendor_secret: bytes  # the vendor's webhook secret, to sign garbage genuinely
    key_id: str  # a real key id, to pair with a wrong secret


@dataclass
class Probe:
    kind: str
    method: str
    url: str
    headers: list[tuple[bytes, bytes]]
    content: bytes | None

    def __str__(self) -> str:
        names = ", ".join(name.decode() for name, _ in self.headers)
        return f"[{self.kind}] {self.method} {self.url[:120]} ({len(self.content or b'')} bytes; {names})"


def _documents() -> list[dict]:
    """Real request bodies, to break in small ways so that parsing gets past the first byte."""
    finding = {**builders.monitoring_finding("evt-fuzz").model_dump(mode="json"), "policy_id": "pol-000000000000"}
    return [
        {"insurer_id": "insurer-fuzz", "application": builders.application().model_dump(mode="json")},
        {"findings": [finding] * 3},
        {"policy_id": "pol-000000000000", "reference": "r-1", "discovered_at": "2026-01-01T00:00:00+08:00",
         "grade": "general", "category": "network_attack", "summary": "x", "affected_systems": ["MES"]},
        {"items": [{"item_id": "ir", "head": "emergency_response", "amount": {"fen": 100, "currency": "CNY"}}]},
        {"head": "emergency_response", "amount": {"fen": 1, "currency": "CNY"}, "approver_id": "a"},
        {"reason": "disputed"},
    ]


class ProbeMaker:
    """Malformed requests, reproducibly from one seed: a kind of bad body on a route, bad headers."""

    BODIES = ("random_bytes", "broken_json", "deep_nesting", "huge_number", "wrong_shape", "bad_encoding",
              "odd_strings", "empty", "real_document")
    CONTENT_TYPES = (b"application/json", b"application/json", b"application/json", b"text/plain", b"application/xml",
                     b"multipart/form-data; boundary=zz", b"application/x-www-form-urlencoded",
                     b"application/json; charset=utf-16", b"application/problem+json", b"*/*", b"\xe4\xb8\xad/json")

    def __init__(self, rng: random.Random, credentials: Credentials) -> None:
        self.rng, self.credentials = rng, credentials
        paths = create_app().openapi()["paths"]
        self.routes = [(method.upper(), path) for path, item in paths.items() for method in item]
        self.documents = _documents()

    def probe(self) -> Probe:
        rng = self.rng
        kind = rng.choice(self.BODIES)
        method, path = rng.choice(self.routes)
        if rng.random() < 0.1:
            kind, path = f"{kind} on a random path", self._random_path()
        if rng.random() < 0.05:
            method = rng.choice(["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "GET", "POST"])
        body = getattr(self, "_" + kind.split()[0])
        content = body() if method in ("POST", "PUT", "PATCH") else None
        url = self._fill(path) + (self._query() if rng.random() < 0.3 else "")
        return Probe(kind, method, url, self._headers(method, content), content)

    # -- Bodies ------------------------------------------------------------------------------------

    def _random_bytes(self) -> bytes:
        return self.rng.randbytes(self.rng.choice([1, 7, 100, 1_000, 20_000]))

    def _real_document(self) -> bytes:
        return json.dumps(self.rng.choice(self.documents)).encode()

    def _broken_json(self) -> bytes:
        text = self._real_document()
        cut = self.rng.randrange(len(text))
        return self.rng.choice([text[:cut], text[:cut] + text[cut + 1 :], text[:cut] + b"\x00,]}" + text[cut:]])

    def _deep_nesting(self) -> bytes:
        depth = self.rng.choice([100, 1_000, 10_000, 100_000])
        opening, closing = self.rng.choice([(b"[", b"]"), (b'{"a":', b"}"), (b'{"findings":[', b"]}")])
        return opening * depth + b"1" + closing * self.rng.choice([depth, depth - 1, 0])

    def _huge_number(self) -> bytes:
        number = self.rng.choice(
            [b"9" * 5_000, b"-" + b"9" * 100_000, b"1e999999", b"-1e-999999", b"NaN", b"Infinity", b"-Infinity",
             str(2**64).encode(), b"0." + b"0" * 10_000 + b"1", b"1" * 4_301]
        )
        where = self.rng.choice([b"%s", b'{"amount": {"fen": %s, "currency": "CNY"}}', b'{"limit": %s}',
                                 b'{"findings": [{"policy_id": %s}]}'])
        return where.replace(b"%s", number)

    def _wrong_shape(self) -> bytes:
        document = self.rng.choice(self.documents)
        return self.rng.choice([
            b"[]", b"null", b"true", b'"a string"', b"{}", b'{"findings": []}', b'{"findings": "x"}',
            json.dumps([document] * 3).encode(), json.dumps({**document, "extra": {"x": [1]}}).encode(),
            json.dumps({key: [value] for key, value in document.items()}).encode(),
            b'{"a": 1, "a": 2, "a": {"a": [null]}}',
        ])

    def _bad_encoding(self) -> bytes:
        text = self._real_document().decode()
        return self.rng.choice([
            text.encode("utf-16"), text.encode("utf-32"), b"\xef\xbb\xbf" + text.encode(),
            text.encode()[:-1] + b"\xff\xfe}", text.replace('"', "\u201c").encode(),
        ])

    def _odd_strings(self) -> bytes:
        odd = self.rng.choice(["\\ud800", "\\udfff\\ud800", "\\u0000", "\x7f\\u200b", "\u4e2d" * 5_000,
                               "x" * 200_000, "\\n\\r\\t", "%s%n{0}", "'; DROP TABLE policies;--"])
        text = self._real_document().decode()
        return text.replace('"x"', f'"{odd}"').replace('"r-1"', f'"{odd}"').replace('"a"', f'"{odd}"').encode()

    def _empty(self) -> bytes:
        return self.rng.choice([b"", b" ", b"\n", b"\x00"])

    # -- Paths and queries -------------------------------------------------------------------------

    def _object_id(self) -> str:
        return self.rng.choice([
            f"pol-{uuid.uuid4().hex[:12]}", "clm-000000000000", "inc-0", "a" * 129, "a" * 3_000, "..", ".", "%00",
            "%2F..%2Fhealth", quote("\u4e2d\u6587"), quote(self.rng.randbytes(8)), "%ff%fe", "~!$&'()*+,;=", "-",
        ])

    def _fill(self, path: str) -> str:
        for name in ("policy_id", "incident_id", "claim_id", "vendor_event_id"):
            while "{" + name + "}" in path:
                path = path.replace("{" + name + "}", self._object_id(), 1)
        return path

    def _random_path(self) -> str:
        segments = [self.rng.choice(["policies", "claims", "incidents", "findings", "x", "%2e%2e", self._object_id()])
                    for _ in range(self.rng.randint(0, 6))]
        return self.rng.choice(["/v1/", "/v1//", "/V1/", "/v1/./"]) + "/".join(segments)

    def _query(self) -> str:
        return "?" + self.rng.choice([
            "limit=-1", "limit=0", "limit=99999999999999999999999", "limit=abc", "limit=1&limit=2", "after=" + "a" * 300,
            "after=%ff%fe", "%zz=%zz", "a=" + quote("\u4e2d" * 50), "limit=1e3", "=&&=", "after=%01",
            *(["after=%00"] if not KNOWN_BUG_NUL_IN_CURSOR else []),
        ])

    # -- Headers -----------------------------------------------------------------------------------

    def _headers(self, method: str, content: bytes | None) -> list[tuple[bytes, bytes]]:
        rng, budget = self.rng, [HEADER_BUDGET]
        headers: list[tuple[bytes, bytes]] = []
        token = rng.choice([None, *self.credentials.tokens.values(), *self.credentials.tokens.values()])
        authorization = rng.choice([
            f"Bearer {token}".encode() if token else None, b"Bearer", b"Basic dXNlcjpwYXNz",
            f"Bearer cyk_{self.credentials.key_id}_{'A' * 43}".encode(), b"Bearer " + self._garbage(budget),
            f"Bearer {token}".encode() if token else b"",
        ])
        if authorization is not None:
            headers.append((b"authorization", authorization))
        if content is not None and rng.random() < 0.9:
            headers.append((b"content-type", rng.choice(self.CONTENT_TYPES)))
        if method == "POST":
            if token == self.credentials.tokens["vendor"] and rng.random() < 0.5:
                headers += self._signed(content or b"")
            else:
                for name in (b"webhook-id", b"webhook-timestamp", b"webhook-signature"):
                    if rng.random() < 0.6:
                        headers.append((name, self._garbage(budget)))
            if rng.random() < 0.5:
                headers.append((b"idempotency-key", self._garbage(budget)))
        # HTTP itself trims a value's outer blanks; a client cannot even send them (h11 refuses).
        return [(name, value.strip(b" \t")) for name, value in headers]

    def _signed(self, body: bytes) -> list[tuple[bytes, bytes]]:
        webhook_id = f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time()) + self.rng.choice([0, 0, 0, -TOLERANCE_SECONDS - 60, TOLERANCE_SECONDS + 60])
        signature = sign(self.credentials.vendor_secret, webhook_id, timestamp, body)
        return [(b"webhook-id", webhook_id.encode()), (b"webhook-timestamp", str(timestamp).encode()),
                (b"webhook-signature", signature.encode())]

    def _garbage(self, budget: list[int]) -> bytes:
        """A header value HTTP allows (visible ASCII, spaces, tabs, obs-text) that our API should not."""
        rng = self.rng
        value = rng.choice([
            str(uuid.uuid4()).encode(), str(int(time.time())).encode(), b"v1," + base64.b64encode(rng.randbytes(32)),
            bytes(rng.choice(range(0x21, 0x7F)) for _ in range(rng.randint(1, 60))),
            bytes(rng.choice(range(0x80, 0x100)) for _ in range(rng.randint(1, 60))),
            "\u4e2d\u6587\u6807\u8bc6".encode(), b"a\tb c", b"", b"-1", b"9" * 40,
            b"x" * rng.choice([256, 257, 300, 2_000, 5_000]),
        ])
        if len(value) > budget[0]:
            value = value[: max(budget[0], 1)]
        budget[0] -= len(value)
        return value


@pytest.fixture(scope="module")
async def credentials(api_stack) -> Credentials:
    issued = {kind: await api_stack.credentials(kind) for kind in PartyKind}
    vendor = issued[PartyKind.VENDOR]
    assert vendor.webhook_secret is not None
    return Credentials(
        tokens={kind.value: credential.token for kind, credential in issued.items()},
        vendor_secret=decode_secret(vendor.webhook_secret),
        key_id=issued[PartyKind.INSURED].key_id,
    )


async def test_thousands_of_malformed_requests_get_problem_documents_and_no_server_error(api_stack, credentials):
    seed = int(os.environ.get("API_FUZZ_SEED", random.randrange(2**32)))
    maker = ProbeMaker(random.Random(seed), credentials)
    probes = [maker.probe() for _ in range(REQUESTS)]
    log = api_stack.logs / "api.log"
    logged_before = log.stat().st_size
    limits, gate = httpx.Limits(max_connections=CONCURRENCY), asyncio.Semaphore(CONCURRENCY)
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    async def send(http: httpx.AsyncClient, probe: Probe) -> None:
        async with gate:
            try:
                answer = await http.request(probe.method, probe.url, headers=probe.headers, content=probe.content)
            except httpx.HTTPError as error:
                failures.append(f"{probe} → no answer: {error!r}")
                return
        statuses[answer.status_code] += 1
        media_type = answer.headers.get("content-type", "")
        if answer.is_redirect and answer.headers.get("location"):
            return  # `/v1/policies/x/` → `/v1/policies/x`: Starlette's trailing-slash redirect, not an error
        if answer.status_code >= 500 or (not answer.is_success and media_type != PROBLEM):
            failures.append(f"{probe} → {answer.status_code} {media_type}: {answer.text[:200]!r}")

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=api_stack.base_url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(send(http, probe) for probe in probes))
    elapsed = time.monotonic() - started

    kinds = Counter(probe.kind for probe in probes)
    print(f"fuzz seed {seed}: {REQUESTS} requests in {elapsed:.1f} s; statuses {dict(sorted(statuses.items()))}; "
          f"kinds {dict(sorted(kinds.items()))}")
    assert not failures, f"seed {seed}: {len(failures)} bad answers, e.g.\n" + "\n".join(failures[:15])
    logged = log.read_bytes()[logged_before:].decode(errors="replace")
    unexpected = [line for line in logged.splitlines() if "unexpected" in line]
    assert not unexpected, f"seed {seed}: the API logged unexpected errors:\n" + "\n".join(unexpected[:5])
    assert sum(statuses.values()) == REQUESTS and len(statuses) > 5


# -- Known bugs the fuzz found ------------------------------------------------------------------------


async def test_a_nul_in_a_list_cursor_is_refused_not_a_server_error(api_stack, credentials):
    async with httpx.AsyncClient(base_url=api_stack.base_url, timeout=30) as http:
        for path in ("/v1/policies", "/v1/incidents", "/v1/claims"):
            answer = await http.get(
                path, params={"after": "pol-\x00"}, headers={"Authorization": f"Bearer {credentials.tokens['insurer']}"}
            )
            assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])
            assert answer.headers["content-type"] == PROBLEM


async def test_a_finding_with_a_nul_is_refused_at_the_door(api_stack, credentials):
    """Once accepted (202) and signalled, a NUL failed record_findings on PostgreSQL at every retry, and
    the policy's later findings waited behind it; now it is refused before anything is signalled."""
    vendor = await api_stack.credentials(PartyKind.VENDOR)
    insured = await api_stack.credentials(PartyKind.INSURED)
    application = builders.application(assessing_vendor_id=vendor.party_id, alternative_vendor_ids=[])
    async with (
        ApiClient(api_stack.base_url, insured.token) as insured_api,
        ApiClient(api_stack.base_url, vendor.token, webhook_secret=vendor.webhook_secret) as vendor_api,
    ):
        body = {"insurer_id": "insurer-nul", "application": application.model_dump(mode="json")}
        policy = (await insured_api.post("/v1/policies", body))["id"]
        finding = {**builders.monitoring_finding("evt-\x00-nul").model_dump(mode="json"), "policy_id": policy}
        answer = await vendor_api.post_raw("/v1/findings", {"findings": [finding]})
    assert answer.status_code == 422, answer.text[:300]
