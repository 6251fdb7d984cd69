"""The published contract: every route in /openapi.json with its schemas and error responses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs

from tests.conftest import Api, auth, make_settings, open_api
from tests.live_server import collect, serve_live


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


# The document as a contract (docs/api.md, "The OpenAPI document") --------------------------


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def validator(spec: dict[str, Any], ref: str) -> jsonschema_rs.Validator:
    """A validator of one component, the document's components reachable from it."""
    return jsonschema_rs.validator_for({"$ref": ref, "components": spec["components"]})


async def test_every_error_status_is_documented_in_the_envelope(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in json.dumps(spec)  # validation errors are 400 here
    for path, method, op in operations(spec):
        responses = op["responses"]
        assert "500" in responses, (method, path)
        if op.get("parameters") or op.get("requestBody"):
            assert "400" in responses, (method, path)
        if op.get("requestBody"):
            assert "413" in responses, (method, path)
        for status, response in responses.items():
            if status >= "400" and "application/json" in response.get("content", {}):
                schema = response["content"]["application/json"]["schema"]
                assert schema.get("$ref", "").endswith("/ErrorEnvelope") or path == "/readyz"
    paths = spec["paths"]
    assert "409" in paths["/api/v1/generations/{generation_id}/cancel"]["post"]["responses"]
    assert "422" not in paths["/api/v1/generations/{generation_id}/retry"]["post"]["responses"]
    download = paths["/files/{key}"]["get"]["responses"]
    assert {"200", "206", "400", "403", "404", "416"} <= set(download)


async def test_a_finished_job_answers_409_to_cancel_as_documented(api: Api) -> None:
    key = await api.key(await api.account(), sandbox=True)
    created = await api.client.post(
        "/api/v1/generate/image", json={"prompt": "a kite"}, headers=auth(key)
    )
    job = await api.wait(key, created.json()["id"])
    again = await api.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_request"


async def test_create_bodies_offer_every_model_of_their_type(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    op = spec["paths"]["/api/v1/generate/image"]["post"]
    assert op["x-generation-type"] == "image"
    catalog = api.platform.catalog
    image_models = {m.id for m in catalog.list("image") if not catalog.retired(m)}
    branches = schemas["ImageRequest"]["anyOf"]
    named = {b["properties"]["model"]["const"] for b in branches if "const" in str(b)}
    assert named == image_models
    assert any(b["title"].startswith("default: ") for b in branches)
    generic = schemas["CreateGeneration"]["anyOf"]
    every = {m.id for m in catalog.list(None) if not catalog.retired(m)}
    assert {b["properties"]["model"]["const"] for b in generic} == every
    # A retired model is not offered: every create naming it answers 503.
    retired = {m.id for m in catalog.list(None) if catalog.retired(m)}
    assert retired.isdisjoint(every) and not retired & named


async def test_a_typed_body_is_valid_by_the_document_exactly_when_the_server_takes_it(
    api: Api,
) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    request = validator(spec, "#/components/schemas/ImageRequest")
    key = await api.key(await api.account(), sandbox=True)
    bodies = [
        {"prompt": "a kite", "aspect_ratio": "16:9"},
        {"prompt": "a kite", "width": 512, "height": 256},
        {"prompt": "a kite", "model": "fake/image", "num_outputs": 2},
        {"prompt": "a kite", "aspect_ratio": "16:9", "width": 512},  # one way to size only
        {"prompt": "a kite", "model": "fake/image", "colour": "red"},  # not an input field
        {"prompt": "   "},  # blank once stripped
    ]
    for body in bodies:
        answer = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
        assert answer.status_code in (202, 400), answer.text
        assert request.is_valid(body) == (answer.status_code == 202), (body, answer.text)


async def test_stream_events_match_the_documented_event_schemas(tmp_path: Path) -> None:
    async with serve_live(make_settings(tmp_path / "data")) as live:
        spec = (await live.client.get("/openapi.json")).json()
        item = spec["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"]
        branches = item["text/event-stream"]["itemSchema"]["oneOf"]
        by_event = {b["properties"]["event"]["const"]: b for b in branches}
        assert {"status", "progress", "completed", "failed", "ready", "error"} <= set(by_event)
        key = await live.key(await live.account())
        body = {"prompt": "a lighthouse", "model": "fake/image", "width": 256, "height": 256}
        created = await live.client.post("/api/v1/generate/image", json=body, headers=auth(key))
        job = created.json()["id"]
        path = f"/api/v1/generations/{job}/events"
        async with live.client.stream("GET", path, headers=auth(key)) as response:
            events = await collect(response)
    assert events[-1].event == "completed"
    for event in events:
        data_schema = by_event[event.event]["properties"]["data"]["contentSchema"]
        assert validator(spec, data_schema["$ref"]).is_valid(event.data), event


def examples_in(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """Every request body example of the document, with the schema it must satisfy."""
    found = []
    for path, method, op in operations(spec):
        for media in op.get("requestBody", {}).get("content", {}).values():
            schema = media.get("schema", {})
            target = schema
            while "$ref" in target:
                target = spec["components"]["schemas"][target["$ref"].split("/")[-1]]
            values = [*target.get("examples", ())]
            values += [e["value"] for e in media.get("examples", {}).values() if "value" in e]
            values += [media["example"]] if "example" in media else []
            found += [(f"{method} {path}", schema, value) for value in values]
    return found


async def test_every_documented_example_is_valid_by_its_schema(tmp_path: Path) -> None:
    # The built-in engines' models exist, as on a fresh install: examples name them.
    settings = make_settings(tmp_path / "data", disabled_engines=[])
    async with open_api(settings) as api:
        spec = (await api.client.get("/openapi.json")).json()
    for where, schema, example in examples_in(spec):
        check = jsonschema_rs.validator_for({**schema, "components": spec["components"]})
        assert check.is_valid(example), (where, example)


async def test_every_operation_has_one_tag(api: Api) -> None:
    # Swagger UI and ReDoc list an operation once under each of its tags: with two, the pages
    # show it twice (tests/e2e/test_docs_browser.py counts what they render).
    spec = (await api.client.get("/openapi.json")).json()
    tagged = {
        f"{method.upper()} {path}": operation.get("tags", [])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert {name: tags for name, tags in tagged.items() if len(tags) != 1} == {}
