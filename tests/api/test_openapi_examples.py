"""Every request body in /openapi.json has an example, and the server accepts each one as it is,
with a sandbox key: what Swagger UI's "Try it out" sends when nobody edits the body."""

from __future__ import annotations

import base64
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mediastudio.app import create_app
from mediastudio.kit.examples import EXAMPLE_IMAGE
from tests.conftest import Api, auth, make_settings, open_api
from tests.dashboard.conftest import cheap_password_hashes  # noqa: F401 (autouse)
from tests.dashboard.helpers import make_user, signed_in
from tests.unit.test_fetch import FakeDns

CREATES = {
    "/api/v1/generate/image",
    "/api/v1/generate/video",
    "/api/v1/generate/speech",
    "/api/v1/generate/voice",
    "/api/v1/generate/music",
    "/api/v1/generate/commercial",
    "/api/v1/generations",
    "/api/v1/images/remove-background",
    "/api/v1/images/upscale",
    "/api/v1/images/transform",
    "/api/v1/videos/subtitles",
    "/api/v1/videos/social-variants",
    "/api/v1/videos/clip",
    "/api/v1/product-image-enhancements",
    "/api/v1/webhooks",
    "/api/v1/files",
    "/api/v1/voices",
}
# Ids that operations on a path like /webhooks/{webhook_id} take, from the create that made them.
IDS_FROM = {"webhook_id": "/api/v1/webhooks"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """The built-in engines' models exist (the generic create's example names one); no workers:
    only acceptance is under test, and jobs left queued cost nothing."""
    app = create_app(make_settings(tmp_path / "data", disabled_engines=[]), run_workers=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(platform=app.state.platform, client=client)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Webhook URLs are resolved when registered: example.com, as the public internet has it."""
    fake = FakeDns()
    fake.add("example.com", ["93.184.215.14"])
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = spec["components"]["schemas"][name]
    return schema


def example_of(spec: dict[str, Any], media: dict[str, Any]) -> Any:
    """The body Swagger UI fills in: the media type's example, else the schema's first."""
    if "example" in media:
        return media["example"]
    if media.get("examples"):
        return next(iter(media["examples"].values()))["value"]
    schema = resolve(spec, media["schema"])
    if schema.get("examples"):
        return schema["examples"][0]
    return schema.get("example")


def header_example(parameter: dict[str, Any]) -> Any:
    if "example" in parameter:
        return parameter["example"]
    if parameter.get("examples"):
        return next(iter(parameter["examples"].values()))["value"]
    return None


def success_code(operation: dict[str, Any]) -> int:
    return min(int(code) for code in operation["responses"] if code.startswith("2"))


def operations_with_bodies(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Creates first, so that operations on what they made find its id."""
    found = [
        (path, method, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        # The OpenAI-compatible /v1/ answers with the finished output, so it needs workers:
        # tests/openai_compat runs its examples on a live server instead.
        if "requestBody" in operation and not path.startswith("/v1/")
    ]
    return sorted(found, key=lambda item: "{" in item[0])


def example_request(
    spec: dict[str, Any], path: str, operation: dict[str, Any], ids: dict[str, str]
) -> dict[str, Any]:
    """httpx arguments for what Swagger UI sends: the body example, the required headers'
    examples, and for the upload the file a person picks (the example image)."""
    headers: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            # An id made by an earlier example's create, else the parameter's own example.
            value = ids.get(parameter["name"]) or parameter["schema"]["examples"][0]
            path = path.replace("{" + parameter["name"] + "}", value)
        elif parameter["in"] == "header" and parameter.get("required"):
            value = header_example(parameter)
            assert value is not None, f"{path}: required header {parameter['name']} has no example"
            headers[parameter["name"]] = str(value)
    content = operation["requestBody"]["content"]
    if "multipart/form-data" in content:
        image = base64.b64decode(EXAMPLE_IMAGE.split(",", 1)[1])
        return {"url": path, "headers": headers, "files": {"file": ("product.png", image)}}
    body = example_of(spec, content["application/json"])
    assert body is not None, f"{path}: the request body has no example"
    return {"url": path, "headers": headers, "json": body}


async def test_every_request_body_example_is_accepted_as_is(api: Api, dns: FakeDns) -> None:
    key = await api.key(await api.account(), sandbox=True)
    await make_user(api, "owner@example.com")
    # Key management takes the dashboard's session and its CSRF header, never a key.
    session = {"X-CSRF-Token": await signed_in(api.client, "owner@example.com")}
    spec = (await api.client.get("/openapi.json")).json()
    ids: dict[str, str] = {}
    accepted: set[str] = set()
    for path, method, operation in operations_with_bodies(spec):
        request = example_request(spec, path, operation, ids)
        takes_session = {"APIKeyCookie": []} in operation.get("security", [])
        request["headers"].update(session if takes_session else auth(key))
        response = await api.client.request(method.upper(), **request)
        assert response.status_code == success_code(operation), (method, path, response.text)
        accepted.add(path)
        for name, source in IDS_FROM.items():
            if source == path and method == "post":
                ids[name] = response.json()["id"]
    assert accepted >= CREATES, CREATES - accepted
    assert "/api/v1/webhooks/{webhook_id}" in accepted
    assert "/api/v1/keys" in accepted


async def test_generation_examples_run_on_their_documented_route(api: Api, dns: FakeDns) -> None:
    """A create's example makes a job of that route's type, with the example's input."""
    key = await api.key(await api.account(), sandbox=True)
    spec = (await api.client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/generate/image"]["post"]
    body = example_of(spec, operation["requestBody"]["content"]["application/json"])
    created = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    assert created.status_code == 202, created.text
    job = created.json()
    assert (job["type"], job["sandbox"], job["prompt"]) == ("image", True, body["prompt"])
    assert job["input"]["aspect_ratio"] == body["aspect_ratio"]


async def test_image_tool_examples_also_run_under_a_live_key(tmp_path: Path) -> None:
    """The examples' image is inline, so the built-in tools make real images from it with no
    network: what a person trying the docs with a live key gets."""
    settings = make_settings(tmp_path / "data", disabled_engines=[])
    async with open_api(settings) as api:
        key = await api.key(await api.account(credits=100))
        spec = (await api.client.get("/openapi.json")).json()
        for path in ("/api/v1/images/remove-background", "/api/v1/images/transform"):
            content = spec["paths"][path]["post"]["requestBody"]["content"]
            body = example_of(spec, content["application/json"])
            created = await api.client.post(path, json=body, headers=auth(key))
            assert created.status_code == 202, created.text
            job = await api.wait(key, created.json()["id"], timeout=60)
            assert job["status"] == "completed", job
            image = Image.open(io.BytesIO((await api.client.get(job["output_url"])).content))
            assert (image.format, image.size) == ("PNG", (64, 64)), path
