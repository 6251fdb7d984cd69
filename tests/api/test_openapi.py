"""The published contract: every route in /openapi.json with its schemas and error responses."""

from __future__ import annotations

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


async def test_docs_page_uses_local_assets(api: Api) -> None:
    page = (await api.client.get("/docs")).text
    assert "/static/swagger/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    asset = await api.client.get("/static/swagger/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
