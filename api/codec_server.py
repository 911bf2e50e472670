"""The codec server: the Temporal UI and CLI send it encrypted payloads and show what comes back.

Temporal's codec server protocol: `POST /encode` and `POST /decode` (also under a namespace path
segment, `/{namespace}/decode`, for the CLI's endpoint templating) take and return
`{"payloads": [...]}`, each payload in protobuf JSON. The UI calls from the browser, so the UI's
origin is allowed by CORS, with credentials.

Only an operator may see decrypted payloads. Three ways to prove it:
- `Authorization: Bearer <token>`: the Temporal CLI (`--codec-auth` / TEMPORAL_CODEC_AUTH);
- a session cookie, set by signing in at `/` with the token: the Temporal UI in production, whose
  codec settings include credentials (TEMPORAL_CODEC_INCLUDE_CREDENTIALS=true in deploy/). The
  sign-in page takes `?next=<a page of the UI>` and goes back there once signed in, so a link
  through `/?next=…` is the operator's first click;
- on the dev stack only (`trusted_ui_origins`), a call that the dev UI's own page makes from this
  machine. The dev server's UI has no login and its codec settings cannot include credentials (the
  Temporal CLI's `start-dev` sets only the endpoint), so the browser sends neither cookie nor token;
  what it does send, and a web page cannot forge, is `Origin`. Such a call is trusted only when all
  of these hold: the server listens on loopback, the peer is loopback, `Host` names loopback (no
  DNS-rebound name), and `Origin` is the dev UI's. Anyone who can already run programs on the
  developer's machine could make that call too; that is the trade the dev stack makes for a UI
  that decodes from the first click, and why production never turns it on.

Errors are problem documents; a malformed body or a payload that cannot be decrypted is a 4xx.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Collection
from html import escape
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.problems import Problem
from api.problems import install as install_problem_handlers
from codec.aes import AesGcmPayloadCodec, PayloadDecryptionError
from logs import get_logger
from settings import Settings

log = get_logger(__name__)

# The UI sends a page of history at a time, and Temporal caps a payload at 2 MB.
MAX_BODY_BYTES = 16 * 1024 * 1024
SESSION_COOKIE = "cyberins_codec_session"
SESSION_SECONDS = 8 * 3600
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_SIGN_IN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cyberins codec server</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>cyberins codec server</h1><p>{message}</p>
<form method="post" action="session"><input type="hidden" name="next" value="{next}"><label>Operator token
<input type="password" name="token" autocomplete="off" size="50"></label>
<button type="submit">Sign in</button></form>
<p>A Temporal UI deployed with TEMPORAL_CODEC_INCLUDE_CREDENTIALS=true then decrypts in this browser.
Another UI needs, in its codec server settings: your browser's setting, endpoint <code>{endpoint}</code>,
and "Include cross-origin credentials" ticked.</p></body></html>"""


def _session_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the token itself never sits in a cookie jar."""
    return hmac.new(token.encode(), b"cyberins codec session", hashlib.sha256).hexdigest()


def _host_name(netloc: str) -> str:
    """`localhost:8301` -> `localhost`, `[::1]:8301` -> `[::1]`."""
    return netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc


def loopback_origins(origins: Collection[str]) -> list[str]:
    """The origins among `origins` that name this machine over plain loopback."""
    return [origin for origin in origins if _host_name(urlsplit(origin).netloc).lower() in LOOPBACK_HOSTS]


class _Operator:
    def __init__(self, token: str, trusted_ui_origins: Collection[str] = ()) -> None:
        if not token:
            raise ValueError("the codec server needs an operator token")
        self._bearer = f"Bearer {token}".encode()
        self._token = token.encode()
        self.session = _session_value(token).encode()
        self._trusted_ui_origins = frozenset(loopback_origins(trusted_ui_origins))
        if len(self._trusted_ui_origins) != len(set(trusted_ui_origins)):
            raise ValueError("only a UI on loopback may be trusted by its origin")

    def _from_the_local_ui(self, request: Request) -> bool:
        if not self._trusted_ui_origins or request.headers.get("origin") not in self._trusted_ui_origins:
            return False
        peer = request.client.host if request.client else ""
        host = _host_name(request.headers.get("host", "")).lower()
        return peer in LOOPBACK_HOSTS and host in LOOPBACK_HOSTS

    def token_matches(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode(), self._token)

    def check(self, request: Request) -> None:
        authorization = request.headers.get("authorization")
        if authorization is not None and hmac.compare_digest(authorization.encode(), self._bearer):
            return
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None and hmac.compare_digest(cookie.encode(), self.session):
            return
        if self._from_the_local_ui(request):
            return
        raise Problem(
            401,
            "not_authenticated",
            "an operator token is needed: Authorization: Bearer <token>, or sign in at / for the Temporal UI",
        )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise Problem(413, "body_too_large", f"the body may be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Problem(413, "body_too_large", f"the body may be at most {MAX_BODY_BYTES} bytes")
    return bytes(body)


async def _payloads(request: Request) -> Payloads:
    try:
        document = json.loads(await _read_body(request))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Problem(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("payloads"), list):
        raise Problem(400, "malformed_payloads", 'the body must be {"payloads": [...]}')
    try:
        return json_format.ParseDict(document, Payloads())
    except (json_format.ParseError, ValueError, TypeError, RecursionError):
        raise Problem(
            400, "malformed_payloads", "the payloads are not Temporal payloads in protobuf JSON"
        ) from None


def _answer(payloads: list) -> JSONResponse:
    return JSONResponse({"payloads": [json_format.MessageToDict(payload) for payload in payloads]})


def create_codec_app(
    codec: AesGcmPayloadCodec,
    token: str,
    allowed_origins: list[str],
    endpoint: str = "",
    *,
    trusted_ui_origins: Collection[str] = (),
) -> FastAPI:
    """`trusted_ui_origins`: the dev stack's UI, whose calls from loopback need no token (see above);
    empty everywhere else."""
    operator = _Operator(token, trusted_ui_origins)
    app = FastAPI(title="cyberins codec server", docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=allowed_origins,
        allow_credentials=True,
        allow_methods=["POST"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        max_age=600,
    )

    async def convert(request: Request, direction: str) -> JSONResponse:
        operator.check(request)
        payloads = await _payloads(request)
        try:
            if direction == "decode":
                converted = [codec.decrypt(payload) for payload in payloads.payloads]
            else:
                converted = [codec.encrypt(payload) for payload in payloads.payloads]
        except PayloadDecryptionError as error:
            log.warning("codec_refused", direction=direction, code=error.code)
            raise Problem(400, error.code, str(error)) from None
        log.info(
            "codec_converted",
            direction=direction,
            payloads=len(converted),
            namespace=request.headers.get("x-namespace") or request.path_params.get("namespace"),
        )
        return _answer(converted)

    @app.post("/decode", include_in_schema=False)
    @app.post("/{namespace}/decode", include_in_schema=False)
    async def decode(request: Request) -> JSONResponse:
        return await convert(request, "decode")

    @app.post("/encode", include_in_schema=False)
    @app.post("/{namespace}/encode", include_in_schema=False)
    async def encode(request: Request) -> JSONResponse:
        return await convert(request, "encode")

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def back_to_ui(next_page: str) -> str:
        """`next_page` when it is a page of an allowed UI origin; otherwise nothing (no open redirect)."""
        parts = urlsplit(next_page)
        return next_page if f"{parts.scheme}://{parts.netloc}" in allowed_origins else ""

    def page(message: str, status: int = 200, next_page: str = "") -> HTMLResponse:
        html = _SIGN_IN_PAGE.format(message=escape(message), endpoint=escape(endpoint), next=escape(next_page))
        return HTMLResponse(html, status)

    @app.get("/", include_in_schema=False)
    async def sign_in_page(next_page: str = Query("", alias="next")) -> HTMLResponse:
        return page(
            "Sign in with the operator token to let the Temporal UI in this browser decrypt payloads.",
            next_page=back_to_ui(next_page),
        )

    @app.post("/session", include_in_schema=False)
    async def sign_in(request: Request) -> HTMLResponse:
        try:
            form = parse_qs((await _read_body(request)).decode("utf-8"), max_num_fields=5)
        except (UnicodeDecodeError, ValueError):
            form = {}
        offered = (form.get("token") or [""])[0].strip()
        next_page = back_to_ui((form.get("next") or [""])[0])
        if not offered or not operator.token_matches(offered):
            log.warning("codec_sign_in_refused")
            return page("That is not the operator token.", 401, next_page)
        response: HTMLResponse | RedirectResponse = (
            RedirectResponse(next_page, 303) if next_page
            else page("Signed in: the Temporal UI in this browser can now decrypt payloads for 8 hours.")
        )
        response.set_cookie(
            SESSION_COOKIE,
            operator.session.decode(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    return app


def codec_app(
    settings: Settings, codec: AesGcmPayloadCodec, token: str, *, trust_local_ui: bool = False
) -> FastAPI:
    """The codec server as `cyberins codec-server` runs it, and as the dev stack runs it with
    `trust_local_ui`: then the dev UI's own calls decode, if the server listens on loopback only."""
    trusted: list[str] = []
    if trust_local_ui:
        if settings.codec_host in LOOPBACK_HOSTS:
            trusted = loopback_origins(settings.codec_origins)
        else:
            log.warning("codec_local_ui_not_trusted", reason="the codec server listens beyond loopback")
    return create_codec_app(
        codec, token, settings.codec_origins, endpoint=settings.codec_endpoint, trusted_ui_origins=trusted
    )
