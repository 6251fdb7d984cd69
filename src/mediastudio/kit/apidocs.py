"""The interactive API docs: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served from this
server with no network access.

Both read ``/openapi.json``, which FastAPI writes as OpenAPI 3.1, so they must be versions that
understand 3.1: Swagger UI 5.x and ReDoc 2.x. Their files come from the ``fastapi-offline``
package (its ``static`` folder), which ships both; nothing is fetched from a CDN, at install or
at run time (docs/dependencies.md says why this package).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PACKAGE = ("fastapi_offline", "static")
ASSETS_URL = "/static/docs"
SWAGGER_JS = f"{ASSETS_URL}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS_URL}/swagger-ui.css"
REDOC_JS = f"{ASSETS_URL}/redoc.standalone.js"
FAVICON = f"{ASSETS_URL}/favicon.png"

# Show how long each "Try it out" took, and a filter box: the API has many operations. No
# validator badge: Swagger UI would send the document to validator.swagger.io for it.
SWAGGER_PARAMETERS: dict[str, Any] = {
    "displayRequestDuration": True,
    "filter": True,
    "validatorUrl": None,
}
# The pages may load and call only this server. ReDoc's sidebar shows Redocly's logo from their
# CDN; the browser refuses that image (ReDoc then hides it) instead of telling them who reads
# the docs. The inline parts are the pages' own start-up script and the UIs' styles.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
    )
)


def install_docs(app: FastAPI) -> None:
    """Mount the assets and add ``/docs`` and ``/redoc`` (neither is in the OpenAPI document)."""
    assert app.openapi_url is not None, "the docs need the OpenAPI document"
    openapi_url, title = app.openapi_url, app.title
    app.mount(ASSETS_URL, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _confined(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=title,
                swagger_js_url=SWAGGER_JS,
                swagger_css_url=SWAGGER_CSS,
                swagger_favicon_url=FAVICON,
                swagger_ui_parameters=SWAGGER_PARAMETERS,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _confined(
            get_redoc_html(
                openapi_url=openapi_url,
                title=title,
                redoc_js_url=REDOC_JS,
                redoc_favicon_url=FAVICON,
                with_google_fonts=False,  # ReDoc falls back to system fonts: no network
            )
        )


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
