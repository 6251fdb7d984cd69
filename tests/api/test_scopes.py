"""Every route with every scope: a key holds exactly the routes its scopes cover.

The table below names the scopes that open each route of the app. It is compared with the app's
own route table first, so a new route that is not in it fails here until someone decides which
scope it needs. Then one key per scope calls every route: where the scope does not cover the
route the answer must be 403 ``insufficient_scope`` (before any lookup, body parsing or work);
where it does, anything but that.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mediastudio.keys.service import ALL_SCOPES
from tests.conftest import auth, make_settings
from tests.live_server import LiveApi, serve_live

PUBLIC: frozenset[str] = frozenset()  # no key at all (health, docs, signed downloads, presets)
READ = frozenset({"read"})
WEBHOOKS = frozenset({"webhooks"})
IMAGE = frozenset({"generate:image"})
VIDEO = frozenset({"generate:video"})
AUDIO = frozenset({"generate:audio"})
CHAT = frozenset({"chat"})
KEYS = frozenset({"keys"})
ANY_GENERATE = IMAGE | VIDEO | AUDIO
SESSION: frozenset[str] = frozenset()  # no scope: a dashboard session instead (checked below)

ROUTE_SCOPES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("HEAD", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("MOUNT", "/static/docs"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/files/{key:path}"): PUBLIC,
    ("HEAD", "/files/{key:path}"): PUBLIC,
    ("GET", "/api/v1/product-image-enhancements/presets"): PUBLIC,
    ("GET", "/api/v1/templates"): PUBLIC,
    ("GET", "/api/v1/templates/{template_id}"): PUBLIC,
    ("GET", "/api/v1/templates/{template_id}/preview.png"): PUBLIC,
    # Creating jobs: the scope of the job's kind.
    ("POST", "/api/v1/generate/image"): IMAGE,
    ("POST", "/api/v1/generate/image-edit"): IMAGE,
    ("POST", "/api/v1/generate/video"): VIDEO,
    ("POST", "/api/v1/generate/voice"): AUDIO,
    ("POST", "/api/v1/generate/speech"): AUDIO,
    ("POST", "/api/v1/generate/music"): AUDIO,
    ("POST", "/api/v1/transcriptions"): AUDIO,
    ("POST", "/api/v1/generate/commercial"): VIDEO,
    ("POST", "/api/v1/images/remove-background"): IMAGE,
    ("POST", "/api/v1/images/upscale"): IMAGE,
    ("POST", "/api/v1/images/transform"): IMAGE,
    ("POST", "/api/v1/videos/subtitles"): VIDEO,
    ("POST", "/api/v1/videos/translate"): VIDEO,
    ("POST", "/api/v1/videos/social-variants"): VIDEO,
    ("POST", "/api/v1/videos/clip"): VIDEO,
    ("POST", "/api/v1/videos/lipsync"): VIDEO,
    ("POST", "/api/v1/avatars/animate"): VIDEO,
    ("POST", "/api/v1/videos/script"): VIDEO,
    ("POST", "/api/v1/product-image-enhancements"): IMAGE,
    # Chat answers in the request (no job): its own scope.
    ("POST", "/api/v1/chat"): CHAT,
    # The OpenAI-compatible surface: the same scopes as the native routes it mirrors.
    ("POST", "/v1/images/generations"): IMAGE,
    ("POST", "/v1/images/edits"): IMAGE,
    ("POST", "/v1/audio/speech"): AUDIO,
    ("POST", "/v1/audio/transcriptions"): AUDIO,
    ("POST", "/v1/chat/completions"): CHAT,
    # The kind comes from the body or the job: any generate scope at the door, then the kind's.
    ("POST", "/api/v1/generations"): ANY_GENERATE,
    # A template's render: image or video as the template says, checked once it is found.
    ("POST", "/api/v1/templates/{template_id}/render"): ANY_GENERATE,
    ("POST", "/api/v1/generations/{generation_id}/cancel"): ANY_GENERATE,
    ("POST", "/api/v1/generations/{generation_id}/retry"): ANY_GENERATE,
    ("DELETE", "/api/v1/generations/{generation_id}"): ANY_GENERATE,
    ("POST", "/api/v1/files"): ANY_GENERATE,
    ("DELETE", "/api/v1/files/{file_id}"): ANY_GENERATE,
    # Reading.
    ("GET", "/api/v1/generations"): READ,
    ("GET", "/api/v1/generations/{generation_id}"): READ,
    ("GET", "/api/v1/generations/{generation_id}/events"): READ,
    ("GET", "/api/v1/events"): READ,
    ("POST", "/api/v1/ws/token"): READ,
    ("WS", "/api/v1/ws"): READ,
    ("GET", "/api/v1/product-image-enhancements/{enhancement_id}"): READ,
    ("GET", "/api/v1/voices"): READ,
    ("GET", "/api/v1/voices/{voice_id}"): READ,
    # Cloning a voice is audio work (priced, rate limited as a generation); deleting one too.
    ("POST", "/api/v1/voices"): AUDIO,
    ("DELETE", "/api/v1/voices/{voice_id}"): AUDIO,
    ("GET", "/api/v1/models"): READ,
    ("GET", "/api/v1/models/{model_id:path}"): READ,
    ("GET", "/api/v1/account"): READ,
    ("GET", "/api/v1/account/ledger"): READ,
    ("GET", "/api/v1/files"): READ,
    ("GET", "/api/v1/files/{file_id}"): READ,
    ("GET", "/api/v1/chat/conversations/{conversation_id}"): READ,
    ("GET", "/v1/models"): READ,
    ("GET", "/v1/models/{model_id:path}"): READ,
    # Webhooks and the account's notification settings.
    ("POST", "/api/v1/webhooks"): WEBHOOKS,
    ("GET", "/api/v1/webhooks"): WEBHOOKS,
    ("GET", "/api/v1/webhooks/{webhook_id}"): WEBHOOKS,
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): WEBHOOKS,
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): WEBHOOKS,
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"): WEBHOOKS,
    ("POST", "/api/v1/webhooks/{webhook_id}/test"): WEBHOOKS,
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): WEBHOOKS,
    ("POST", "/api/v1/webhook-deliveries/{delivery_id}/retry"): WEBHOOKS,
    ("GET", "/api/v1/account/webhook-secret"): WEBHOOKS,
    ("PATCH", "/api/v1/settings"): WEBHOOKS,
    ("GET", "/api/v1/settings"): WEBHOOKS,
    ("GET", "/api/v1/product-image-enhancements"): READ,
    # Seed 000's base URL (docs/compat.md): the scopes of the native routes it calls.
    ("POST", "/compat/seed000/api/v1/generate/image"): IMAGE,
    ("POST", "/compat/seed000/api/v1/generate/video"): VIDEO,
    ("GET", "/compat/seed000/api/v1/generations"): READ,
    ("GET", "/compat/seed000/api/v1/generations/{generation_id}"): READ,
    ("GET", "/compat/seed000/api/v1/models"): READ,
    ("POST", "/compat/seed000/api/v1/webhooks"): WEBHOOKS,
    ("GET", "/compat/seed000/api/v1/webhooks"): WEBHOOKS,
    ("PATCH", "/compat/seed000/api/v1/webhooks/{webhook_id}"): WEBHOOKS,
    ("DELETE", "/compat/seed000/api/v1/webhooks/{webhook_id}"): WEBHOOKS,
    # Seed 002's surface (docs/compat.md): the scopes of the native routes it calls.
    ("POST", "/api/generate"): ANY_GENERATE,
    ("GET", "/api/status/{job_id}"): READ,
    ("POST", "/api/chat"): CHAT,
    # Seed 001's surface (docs/compat.md): likewise.
    ("POST", "/api/generate/image"): IMAGE,
    ("POST", "/api/generate/video"): VIDEO,
    ("POST", "/api/generate/voice"): AUDIO,
    ("POST", "/api/generate/text2video"): VIDEO,
    ("POST", "/api/generate/b-roll"): VIDEO,
    ("POST", "/api/generate/clip"): VIDEO,
    ("GET", "/api/jobs"): READ,
    ("GET", "/api/usage"): READ,
    ("PATCH", "/api/settings"): WEBHOOKS,
    ("POST", "/api/generate/avatar"): VIDEO,
    ("POST", "/api/generate/translate"): VIDEO,
    ("POST", "/api/generate/commercial"): VIDEO,
    ("POST", "/api/generate/voice-clone"): AUDIO,
    ("POST", "/api/generate/photoshoot"): IMAGE,
    # generate:video too when the ad includes videos (checked in the route).
    ("POST", "/api/generate/instant-ad"): IMAGE,
    # No telephony: 501 after the key is checked.
    ("POST", "/api/voice-agent/calls/outbound"): AUDIO,
    ("GET", "/api/voice-agent/calls"): READ,
    ("POST", "/api/voice-agent/agents"): AUDIO,
    ("GET", "/api/keys"): KEYS,
    ("POST", "/api/keys"): KEYS,
    # A web session's, never a key's (docs/dashboard.md): key management (seed 000) and the
    # dashboard's pages refuse or ignore API keys, so no scope opens them.
    ("POST", "/api/v1/keys"): SESSION,
    ("GET", "/api/v1/keys"): SESSION,
    ("DELETE", "/api/v1/keys/{key_id}"): SESSION,
    ("GET", "/"): SESSION,
    ("GET", "/dashboard"): SESSION,
    ("GET", "/dashboard/login"): SESSION,
    ("POST", "/dashboard/login"): SESSION,
    ("POST", "/dashboard/logout"): SESSION,
    ("GET", "/dashboard/keys"): SESSION,
    ("POST", "/dashboard/keys"): SESSION,
    ("POST", "/dashboard/keys/{key_id}/revoke"): SESSION,
    ("GET", "/dashboard/password"): SESSION,
    ("POST", "/dashboard/password"): SESSION,
    ("GET", "/dashboard/generations"): SESSION,
    ("GET", "/dashboard/generations/{generation_id}"): SESSION,
    ("POST", "/dashboard/generations/{generation_id}/cancel"): SESSION,
    ("POST", "/dashboard/generations/{generation_id}/retry"): SESSION,
    ("POST", "/dashboard/generations/{generation_id}/delete"): SESSION,
    ("GET", "/dashboard/settings"): SESSION,
    ("POST", "/dashboard/settings"): SESSION,
    ("GET", "/dashboard/usage"): SESSION,
    ("GET", "/dashboard/playground"): SESSION,
    ("GET", "/dashboard/playground/runs/{generation_id}"): SESSION,
    ("GET", "/dashboard/playground/runs/{generation_id}/events"): SESSION,
    ("POST", "/dashboard/playground/runs/{generation_id}/cancel"): SESSION,
    ("GET", "/dashboard/playground/{model_id:path}"): SESSION,
    ("POST", "/dashboard/playground/{model_id:path}"): SESSION,
    ("GET", "/dashboard/webhooks"): SESSION,
    ("POST", "/dashboard/webhooks"): SESSION,
    ("GET", "/dashboard/webhooks/{webhook_id}"): SESSION,
    ("POST", "/dashboard/webhooks/{webhook_id}/events"): SESSION,
    ("POST", "/dashboard/webhooks/{webhook_id}/rotate"): SESSION,
    ("POST", "/dashboard/webhooks/{webhook_id}/test"): SESSION,
    ("POST", "/dashboard/webhooks/{webhook_id}/disable"): SESSION,
    ("POST", "/dashboard/webhooks/{webhook_id}/enable"): SESSION,
    ("POST", "/dashboard/webhooks/{webhook_id}/delete"): SESSION,
    ("GET", "/dashboard/webhook-deliveries/{delivery_id}"): SESSION,
    ("POST", "/dashboard/webhook-deliveries/{delivery_id}/redeliver"): SESSION,
    ("GET", "/dashboard/operator"): SESSION,
    ("GET", "/dashboard/operator/accounts/{account_id}"): SESSION,
    ("POST", "/dashboard/operator/accounts/{account_id}/grant"): SESSION,
    ("GET", "/dashboard/signup"): SESSION,
    ("POST", "/dashboard/signup"): SESSION,
    # Every other method there: the same 404 as an unknown route (dashboard/operator.py).
    **{
        (method, path): SESSION
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
        for path in ("/dashboard/operator", "/dashboard/operator/{rest:path}", "/dashboard/signup")
    },
    ("MOUNT", "/static/dashboard"): PUBLIC,
}

# Streams that stay open when the key may read them: opened, status read, closed.
STREAMS = {"/api/v1/generations/{generation_id}/events", "/api/v1/events"}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, routers included however FastAPI nests
    them; a mount counts as one route."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            if hasattr(route, "original_router"):  # an included router, kept whole
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "methods") and route.methods:
                for method in route.methods:
                    yield method, prefix + route.path
            elif hasattr(route, "app") and not hasattr(route, "endpoint"):
                yield "MOUNT", prefix + route.path
            else:
                yield "WS", prefix + route.path

    return set(walk(app.routes, ""))


def concrete(path: str) -> str:
    """A path with every parameter filled by an id that exists nowhere."""
    for name, value in {
        "{generation_id}": "gen_nope",
        "{enhancement_id}": "gen_nope",
        "{model_id:path}": "fake/image",
        "{file_id}": "file_nope",
        "{webhook_id}": "whk_nope",
        "{delivery_id}": "whd_nope",
        "{template_id}": "tmpl-nope",
    }.items():
        path = path.replace(name, value)
    return path


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveApi]:
    async with serve_live(make_settings(tmp_path / "data")) as api:
        yield api


async def test_every_route_of_the_app_is_in_the_scope_table(live: LiveApi) -> None:
    from mediastudio.app import create_app

    served = app_routes(create_app(live.platform.settings))
    unlisted = served - set(ROUTE_SCOPES)
    assert not unlisted, f"routes without a decided scope: {sorted(unlisted)}"
    gone = set(ROUTE_SCOPES) - served
    assert not gone, f"the table names routes the app no longer has: {sorted(gone)}"


async def call(live: LiveApi, key: str, method: str, path: str) -> tuple[int, str | None]:
    """The status and error code of one call with ``key``; streams are opened and closed."""
    url = concrete(path)
    if method == "WS":
        return await call_socket(live, key)
    headers = auth(key)
    body = {} if method in {"POST", "PATCH"} else None
    if path in STREAMS:
        async with live.client.stream(method, url, headers=headers) as response:
            if response.status_code == 200:
                return 200, None
            await response.aread()
    else:
        response = await live.client.request(method, url, headers=headers, json=body)
    payload = response.json() if response.content else {}
    error = payload.get("error")
    # A seed surface's error is a string: MediaStudio's own code is its ``reason``.
    code = error.get("code") if isinstance(error, dict) else payload.get("reason")
    return response.status_code, code


async def call_socket(live: LiveApi, key: str) -> tuple[int, str | None]:
    async with connect(
        live.ws_url, additional_headers=auth(key), proxy=None, open_timeout=5
    ) as socket:
        first = json.loads(await socket.recv(decode=True))
        if first["type"] != "error":
            return 200, None
        try:
            await socket.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1008
        return 403 if first["error"]["code"] == "insufficient_scope" else 400, first["error"][
            "code"
        ]


async def test_each_scope_opens_exactly_its_routes(live: LiveApi) -> None:
    account = await live.account()
    keys = {scope: await live.key(account, scopes=[scope]) for scope in ALL_SCOPES}
    protected = [route for route, scopes in ROUTE_SCOPES.items() if scopes and route[0] != "MOUNT"]
    wrong = []
    for method, path in protected:
        for scope, key in keys.items():
            status, code = await call(live, key, method, path)
            refused = status == 403 and code == "insufficient_scope"
            if refused == (scope in ROUTE_SCOPES[method, path]):
                wrong.append(f"{method} {path} with {scope!r}: {status} {code}")
    assert not wrong, "\n".join(wrong)


async def test_public_routes_need_no_key(live: LiveApi) -> None:
    for path in ("/openapi.json", "/docs", "/redoc", "/healthz", "/readyz"):
        assert (await live.client.get(path)).status_code == 200, path
    presets = await live.client.get("/api/v1/product-image-enhancements/presets")
    assert presets.status_code == 200


async def test_a_read_key_cannot_delete_an_upload(live: LiveApi) -> None:
    """The attack from the issue: a read-only key deleted another key's upload."""
    account = await live.account()
    writer = await live.key(account, scopes=["generate:image"])
    reader = await live.key(account, scopes=["read"])
    webhooks = await live.key(account, scopes=["webhooks"])
    png = _tiny_png()
    uploaded = await live.client.post(
        "/api/v1/files", headers=auth(writer), files={"file": ("p.png", png, "image/png")}
    )
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["id"]
    for key in (reader, webhooks):
        refused = await live.client.delete(f"/api/v1/files/{file_id}", headers=auth(key))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "insufficient_scope"
    still = await live.client.get(f"/api/v1/files/{file_id}", headers=auth(reader))
    assert still.status_code == 200


async def test_controlling_a_job_needs_the_scope_of_its_kind(live: LiveApi) -> None:
    """Any generate scope passes the door; cancelling an image job needs generate:image."""
    account = await live.account()
    image = await live.key(account, scopes=["generate:image", "read"])
    audio = await live.key(account, scopes=["generate:audio"])
    created = await live.client.post(
        "/api/v1/generate/image",
        headers=auth(image),
        json={
            "prompt": "a lighthouse [slow:5]",
            "model": "fake/image",
            "width": 256,
            "height": 256,
        },
    )
    assert created.status_code == 202, created.text
    job = created.json()["id"]
    for method, path in (("POST", f"{job}/cancel"), ("DELETE", job), ("POST", f"{job}/retry")):
        response = await live.client.request(
            method, f"/api/v1/generations/{path}", headers=auth(audio)
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["details"]["required"] == "generate:image"
    after = await live.client.get(f"/api/v1/generations/{job}", headers=auth(image))
    assert after.json()["status"] in {"queued", "processing"}
    cancelled = await live.client.post(f"/api/v1/generations/{job}/cancel", headers=auth(image))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def _tiny_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()
