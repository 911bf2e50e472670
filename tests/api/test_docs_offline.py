"""/docs and /redoc work without internet: their pages name no other host, every asset they name is
served by the API itself with its content type, and (where Chromium is installed) Swagger UI and
ReDoc render the operations in a browser that can reach nothing but loopback."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from api.server import serve_until
from devstack.ports import free_port

EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    """Every URL a page loads or links to: src and href of any element."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    # Swagger UI's page names the document and the redirect page in its script, not in attributes.
    return parser.urls + re.findall(r"""(?:url|spec-url)['"]?\s*[:=]\s*['"]([^'"]+)['"]""", html)


@pytest.fixture
async def api():
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api.local") as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_a_docs_page_names_no_other_host_and_its_assets_are_served(api, page):
    answer = await api.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert not re.search(r"https?://", html), "the page names an external URL"
    assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html
    urls = references(html)
    assets = [url for url in urls if url.startswith("/docs-assets/")]
    assert any(url.endswith(".js") for url in assets), urls
    for url in urls:
        assert not urlsplit(url).netloc, f"{url} is on another host"
        served = await api.get(url)
        assert served.status_code == 200, url
        suffix = url[url.rfind("."):]
        if suffix in EXPECTED_TYPES:
            assert EXPECTED_TYPES[suffix] in served.headers["content-type"], (url, served.headers)
    assert "/openapi.json" in urls


async def test_the_docs_pages_need_no_api_key(api):
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/docs-assets/swagger-ui.css"):
        assert (await api.get(path)).status_code == 200, path


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def rendered_dom(browser: str, url: str) -> str:
    """The page's DOM after its scripts ran, in a headless Chromium whose every connection to a host
    other than loopback goes to a closed proxy port, and whose name lookups all fail."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{free_port()}",
                "--proxy-bypass-list=127.0.0.1", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=20000", "--dump-dom", url,
            ],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
async def test_swagger_ui_and_redoc_render_the_operations_offline():
    port = free_port()
    stop = asyncio.Event()
    app = create_app(services=SimpleNamespace())  # the pages read only the OpenAPI document
    serving = asyncio.create_task(serve_until(app, "127.0.0.1", port, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        browser = _chromium()
        swagger = await asyncio.to_thread(rendered_dom, browser, f"http://127.0.0.1:{port}/docs")
        assert "opblock-summary-path" in swagger and "/v1/policies" in swagger, swagger[-2000:]
        redoc = await asyncio.to_thread(rendered_dom, browser, f"http://127.0.0.1:{port}/redoc")
        assert "/v1/policies" in redoc and "cyberins API" in redoc, redoc[-2000:]
    finally:
        stop.set()
        await serving
