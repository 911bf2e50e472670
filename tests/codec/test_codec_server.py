"""The codec server over HTTP (in process): operators only, Temporal's protocol, 4xx for bad input."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from api.codec_server import SESSION_COOKIE, codec_app, create_codec_app
from codec.aes import AesGcmPayloadCodec
from settings import Settings
from tests.codec.keys import keyring

TOKEN = "operator-token-for-tests"
UI = "http://localhost:28233"
SECRET = "MARKER-ACCOUNT-6222020200112233"


@pytest.fixture
def codec() -> AesGcmPayloadCodec:
    return AesGcmPayloadCodec(keyring("k1"))


@pytest.fixture
async def http(codec):
    app = create_codec_app(codec, TOKEN, [UI], endpoint="http://localhost:28301")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost:28301"
    ) as client:
        yield client


def as_json(*payloads: Payload) -> dict:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def plain(value: str = SECRET) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"account": value}).encode())


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Namespace": "default"}


async def test_an_operator_decodes_to_plaintext_and_plain_payloads_pass(http, codec) -> None:
    [encrypted] = await codec.encode([plain()])
    answer = await http.post("/decode", json=as_json(encrypted, plain("old")), headers=bearer())
    assert answer.status_code == 200, answer.text
    decoded = [json_format.ParseDict(p, Payload()) for p in answer.json()["payloads"]]
    assert decoded == [plain(), plain("old")]
    assert SECRET in base64.b64decode(answer.json()["payloads"][0]["data"]).decode()


async def test_encode_then_decode_round_trips_under_a_namespace_path(http, codec) -> None:
    encoded = await http.post("/default/encode", json=as_json(plain()), headers=bearer())
    assert encoded.status_code == 200
    [payload] = encoded.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
    assert SECRET not in json.dumps(encoded.json())
    assert await codec.decode([json_format.ParseDict(payload, Payload())]) == [plain()]


async def test_empty_payloads_answer_an_empty_list(http) -> None:
    answer = await http.post("/decode", json={"payloads": []}, headers=bearer())
    assert answer.status_code == 200 and answer.json() == {"payloads": []}


@pytest.mark.parametrize(
    "headers", [{}, bearer("wrong"), {"Authorization": TOKEN}, {"Authorization": "Basic x"}]
)
async def test_without_the_operator_token_nothing_is_decoded(http, codec, headers) -> None:
    [encrypted] = await codec.encode([plain()])
    answer = await http.post("/decode", json=as_json(encrypted), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["code"] == "not_authenticated" and SECRET not in answer.text
    assert (await http.post("/encode", json=as_json(plain()), headers=headers)).status_code == 401


@pytest.mark.parametrize(
    "body, code",
    [
        (b"not json", "malformed_json"),
        (b"\xff\xfe\x00", "malformed_json"),
        (b"[" * 100_000, "malformed_json"),
        (b"[]", "malformed_payloads"),
        (b'{"payloads": {}}', "malformed_payloads"),
        (b'{"payloads": [1]}', "malformed_payloads"),
        (b'{"payloads": [{"data": "not base64!"}]}', "malformed_payloads"),
        (b'{"payloads": [{"metadata": {"encoding": 5}}]}', "malformed_payloads"),
        (b'{"payloads": [{"nonsense": true}]}', "malformed_payloads"),
    ],
)
async def test_malformed_bodies_are_a_400_problem(http, body: bytes, code: str) -> None:
    for path in ("/decode", "/encode"):
        answer = await http.post(path, content=body, headers={**bearer(), "Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == code


async def test_undecryptable_payloads_are_a_400_problem_not_passed_through(http, codec) -> None:
    [encrypted] = await codec.encode([plain()])
    stranger = (await AesGcmPayloadCodec(keyring("k9")).encode([plain()]))[0]
    tampered = Payload()
    tampered.CopyFrom(encrypted)
    tampered.data = tampered.data[:-1] + bytes([tampered.data[-1] ^ 1])
    short = Payload(metadata=dict(encrypted.metadata), data=b"x")
    for payload, code in [
        (stranger, "unknown_payload_key"),
        (tampered, "undecryptable_payload"),
        (short, "undecryptable_payload"),
    ]:
        answer = await http.post("/decode", json=as_json(payload), headers=bearer())
        assert answer.status_code == 400 and answer.json()["code"] == code, answer.text


async def test_a_body_over_the_limit_is_refused_unread(http) -> None:
    answer = await http.post(
        "/decode", headers={**bearer(), "Content-Length": str(64 * 1024 * 1024)}, content=b"{}"
    )
    assert answer.status_code == 413


async def test_the_ui_origin_may_call_with_credentials_and_others_may_not(http) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    allowed = await http.options("/decode", headers={"Origin": UI, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = await http.options("/decode", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


async def test_signing_in_sets_a_session_cookie_the_ui_then_sends(http, codec) -> None:
    page = await http.get("/")
    assert page.status_code == 200 and 'name="token"' in page.text
    wrong = await http.post("/session", data={"token": "wrong"})
    assert wrong.status_code == 401 and SESSION_COOKIE not in wrong.cookies
    signed_in = await http.post("/session", data={"token": TOKEN})
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    session = signed_in.cookies[SESSION_COOKIE]
    http.cookies.clear()  # each request below says which cookie it carries
    [encrypted] = await codec.encode([plain()])
    answer = await http.post(
        "/decode",
        json=as_json(encrypted),
        headers={"Origin": UI, "X-Namespace": "default", "Cookie": f"{SESSION_COOKIE}={session}"},
    )
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == UI
    forged = await http.post(
        "/decode", json=as_json(encrypted), headers={"Cookie": f"{SESSION_COOKIE}={'0' * 64}"}
    )
    assert forged.status_code == 401


async def test_a_garbled_sign_in_form_is_refused(http) -> None:
    answer = await http.post(
        "/session", content=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 401


async def test_signing_in_from_a_link_goes_back_to_the_ui_page_and_nowhere_else(http) -> None:
    page = f"{UI}/namespaces/default/workflows?query=x"
    form = await http.get("/", params={"next": page})
    assert 'name="next" value="http://localhost:28233/namespaces/default/workflows?query=x"' in form.text
    signed_in = await http.post("/session", data={"token": TOKEN, "next": page})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == page
    assert SESSION_COOKIE in signed_in.cookies
    elsewhere = await http.post("/session", data={"token": TOKEN, "next": "http://evil.example/steal"})
    assert elsewhere.status_code == 200 and "evil.example" not in elsewhere.text
    assert "evil.example" not in (await http.get("/", params={"next": "http://evil.example/"})).text


def local_ui_app(codec, *, client=("127.0.0.1", 50000)) -> httpx.AsyncClient:
    app = create_codec_app(codec, TOKEN, [UI], trusted_ui_origins=[UI])
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://localhost:28301")


async def test_the_dev_ui_decodes_from_loopback_without_signing_in(codec) -> None:
    [encrypted] = await codec.encode([plain()])
    from_the_ui = {"Origin": UI, "X-Namespace": "default"}
    async with local_ui_app(codec) as http:
        answer = await http.post("/decode", json=as_json(encrypted), headers=from_the_ui)
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == UI
        assert [json_format.ParseDict(p, Payload()) for p in answer.json()["payloads"]] == [plain()]
        for refused in (
            {"X-Namespace": "default"},  # no origin: a program, not the UI
            {"Origin": "http://evil.example", "X-Namespace": "default"},
            {**from_the_ui, "Host": "rebound.example:28301"},  # a DNS-rebound name
        ):
            answer = await http.post("/decode", json=as_json(encrypted), headers=refused)
            assert answer.status_code == 401 and SECRET not in answer.text, refused
    async with local_ui_app(codec, client=("192.0.2.7", 50000)) as http:
        answer = await http.post("/decode", json=as_json(encrypted), headers=from_the_ui)
        assert answer.status_code == 401


def test_only_a_ui_on_loopback_may_be_trusted_by_its_origin(codec) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ui = "https://temporal.example.cn"
        create_codec_app(codec, TOKEN, [ui], trusted_ui_origins=[ui])


async def decode_from_the_ui(app, payload: Payload) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost:28301") as http:
        return await http.post("/decode", json=as_json(payload), headers={"Origin": UI, "X-Namespace": "default"})


@pytest.mark.parametrize("codec_host, trusted", [("127.0.0.1", True), ("0.0.0.0", False)])
async def test_the_dev_stacks_codec_server_trusts_its_ui_only_when_it_listens_on_loopback(
    codec, codec_host: str, trusted: bool
) -> None:
    settings = Settings(codec_host=codec_host, temporal_ui_port=28233, codec_port=28301, temporal_ui_url=None)
    [encrypted] = await codec.encode([plain()])
    answer = await decode_from_the_ui(codec_app(settings, codec, TOKEN, trust_local_ui=True), encrypted)
    assert answer.status_code == (200 if trusted else 401)
    as_in_production = codec_app(settings, codec, TOKEN)  # `cyberins codec-server`
    assert (await decode_from_the_ui(as_in_production, encrypted)).status_code == 401
