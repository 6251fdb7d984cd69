"""The published contract: every route in /openapi.json with its schemas and error responses."""

from __future__ import annotations

import re

from tests.conftest import Api


async def test_openapi_describes_every_route_with_errors(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/generate/image",
        "/api/v1/generate/video",
        "/api/v1/generate/speech",
        "/api/v1/generate/voice",
        "/api/v1/generate/music",
        "/api/v1/generations",
        "/api/v1/generations/{generation_id}",
        "/api/v1/generations/{generation_id}/cancel",
        "/api/v1/generations/{generation_id}/retry",
        "/api/v1/models",
        "/api/v1/account",
        "/api/v1/account/ledger",
    ):
        assert path in paths, path
    for path, operations in paths.items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "401" in responses and "429" in responses, (method, path)
            schema = responses["401"]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/ErrorEnvelope")
    create = paths["/api/v1/generate/image"]["post"]
    assert {"202", "402", "409", "422", "503"} <= set(create["responses"])
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ImageRequest"
    )
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_docs_pages_use_local_assets_that_read_openapi_3_1(api: Api) -> None:
    """The pages name only this server's assets, and those are versions that read the 3.1
    document (Swagger UI 5, ReDoc 2). tests/e2e/test_docs_browser.py renders them for real."""
    assert (await api.client.get("/openapi.json")).json()["openapi"].startswith("3.1")
    for page_url, asset_url, version in (
        ("/docs", "/static/docs/swagger-ui-bundle.js", re.compile(r'PACKAGE_VERSION:"5\.')),
        ("/redoc", "/static/docs/redoc.standalone.js", re.compile(r"exports\.Redoc")),
    ):
        response = await api.client.get(page_url)
        page = response.text
        assert asset_url in page and "cdn" not in page.lower() and "//fonts." not in page
        assert "default-src 'self'" in response.headers["content-security-policy"]
        asset = await api.client.get(asset_url)
        assert asset.status_code == 200 and version.search(asset.text), asset_url
