"""GET /docs: Swagger UI from files shipped in a package (fastapi-offline's copy), not a CDN,
so the page works on machines without internet access."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC = "/docs/static"


def _assets() -> Path:
    # The package's files are all we need; importing it would build nothing we use.
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        from mlserve.errors import MissingExtra

        raise MissingExtra("the Swagger UI files (package fastapi-offline) are not installed",
                           hint="pip install fastapi-offline (a dependency of mlserve)")
    return Path(spec.submodule_search_locations[0]) / "static"


def add_docs(app: FastAPI, title: str) -> None:
    """Serve Swagger UI at /docs for `app.openapi_url` (create the app with docs_url=None)."""
    app.mount(STATIC, StaticFiles(directory=_assets()), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "", title=title,
                                   swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{STATIC}/swagger-ui.css",
                                   swagger_favicon_url=f"{STATIC}/favicon.png")
