"""The API's documentation pages work without internet: Swagger UI at /docs and ReDoc at /redoc load
their scripts, styles and icon from the API itself, never from a CDN.

The files come from the fastapi-offline wheel, which ships Swagger UI's dist bundle and ReDoc's
standalone script; they are served under /docs-assets. ReDoc is told not to fetch Google Fonts, so a
disconnected browser shows the same page as a connected one. The pages and assets need no API key:
they describe the API, and the OpenAPI document they read is public too.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
SWAGGER_JS = f"{ASSETS_PATH}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS_PATH}/swagger-ui.css"
REDOC_JS = f"{ASSETS_PATH}/redoc.standalone.js"
FAVICON = f"{ASSETS_PATH}/favicon.png"


def assets_folder() -> Path:
    """Where the installed package keeps the files; a missing one is a broken install, said at startup."""
    folder = Path(str(files("fastapi_offline") / "static"))
    names = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"the API's documentation assets are missing from {folder}: {', '.join(missing)}")
    return folder


def install(app: FastAPI) -> None:
    """/docs, /docs/oauth2-redirect and /redoc over local assets. The app must be made with
    `docs_url=None, redoc_url=None`, so that FastAPI's CDN pages are not registered first."""
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_folder()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} – Swagger UI",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
            oauth2_redirect_url=oauth2_redirect,
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} – ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
