"""``create_app()``: the FastAPI factory. Nothing is built at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from mediastudio import __version__
from mediastudio.accounts.endpoints import router as account_router
from mediastudio.catalog.endpoints import router as catalog_router
from mediastudio.catalog.service import Catalog
from mediastudio.chat.endpoints import router as chat_router
from mediastudio.compat.seed000.endpoints import router as seed000_router
from mediastudio.compat.seed000.errors import PREFIX as SEED000_PREFIX
from mediastudio.compat.seed000.errors import render_seed000_error
from mediastudio.compat.seed001.endpoints import router as seed001_router
from mediastudio.compat.seed001.errors import PREFIXES as SEED001_PREFIXES
from mediastudio.compat.seed001.errors import render_seed001_error
from mediastudio.compat.seed002.endpoints import router as seed002_router
from mediastudio.compat.seed002.errors import PREFIXES as SEED002_PREFIXES
from mediastudio.compat.seed002.errors import render_seed002_error
from mediastudio.dashboard.endpoints import router as dashboard_router
from mediastudio.dashboard.errors import ROOTS as DASHBOARD_ROOTS
from mediastudio.dashboard.errors import render_dashboard_error
from mediastudio.dashboard.history import router as dashboard_history_router
from mediastudio.dashboard.operator import router as dashboard_operator_router
from mediastudio.dashboard.pages import STATIC_DIR, STATIC_URL
from mediastudio.dashboard.playground import PLAYGROUND
from mediastudio.dashboard.playground import router as dashboard_playground_router
from mediastudio.dashboard.settings_page import router as dashboard_settings_router
from mediastudio.dashboard.signup import router as dashboard_signup_router
from mediastudio.dashboard.webhooks_page import router as dashboard_webhooks_router
from mediastudio.engines.registry import EngineRegistry
from mediastudio.enhancements.endpoints import router as enhancements_router
from mediastudio.events.endpoints import router as events_router
from mediastudio.events.openapi import document_streams
from mediastudio.files.endpoints import MULTIPART_OVERHEAD
from mediastudio.files.endpoints import router as files_router
from mediastudio.generations.endpoints import router as generations_router
from mediastudio.generations.openapi import document_bodies
from mediastudio.images.endpoints import router as images_router
from mediastudio.keys.endpoints import router as keys_router
from mediastudio.kit import openapi
from mediastudio.kit.accesslog import redact_access_log
from mediastudio.kit.apidocs import install_docs
from mediastudio.kit.edge import EdgeMiddleware
from mediastudio.kit.errors import ErrorRenderer, install_error_handlers
from mediastudio.kit.redis_events import RedisBus
from mediastudio.migrations import upgrade
from mediastudio.openai_compat.endpoints import router as openai_compat_router
from mediastudio.openai_compat.errors import PREFIX as OPENAI_PREFIX
from mediastudio.openai_compat.errors import render_openai_error
from mediastudio.platform import Platform
from mediastudio.settings import Settings, load_settings
from mediastudio.templates.endpoints import router as templates_router
from mediastudio.transcriptions.endpoints import router as transcriptions_router
from mediastudio.videos.endpoints import router as videos_router
from mediastudio.voices.endpoints import router as voices_router
from mediastudio.webhooks.endpoints import router as webhooks_router

logger = logging.getLogger("mediastudio")

DESCRIPTION = """
A self-hostable generative-media API. Authenticate with `Authorization: Bearer ms_live_…`
(live) or `ms_test_…` (sandbox: placeholder media, no credits). Jobs are asynchronous: a create
answers 202 with the generation; poll `GET /api/v1/generations/{id}` until it is terminal.
Errors are always `{"error": {"code", "message", "details"?, "request_id"}}`.
"""


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, routes, pydantic schemas: ~260,000
    objects) out of the garbage collector's reach. Each full collection walked them all and
    stopped the event loop for 220-270 ms, about once every minute under load, holding up
    every request in flight; after the freeze one takes 17-29 ms (docs/benchmarks.md, "GC
    pauses"). They live as long as the process anyway."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None, *, run_workers: bool = True, freeze_gc: bool = False
) -> FastAPI:
    """The app; ``freeze_gc`` (``serve``: the app is the process) freezes what start-up made.
    Not for apps made inside another process, such as the tests': what they leave behind would
    never be collected."""
    settings = settings or load_settings()
    redact_access_log()  # signed URLs and stream tokens work without a key: keep them out

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform.build(settings)
        await platform.limiter.ensure_reachable()
        await platform.storage.ensure_reachable()
        if isinstance(platform.bus, RedisBus):
            await platform.bus.ensure_reachable()
        await upgrade(platform.db)
        if run_workers:
            await platform.start_workers()
        app.state.platform = platform
        if freeze_gc:
            freeze_startup_objects()
        try:
            yield
        finally:
            await platform.close()

    app = FastAPI(
        title="MediaStudio API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    renderers: dict[str, ErrorRenderer] = {OPENAI_PREFIX: render_openai_error}
    # The first matching prefix renders: a longer seed prefix goes before one it extends.
    renderers |= {SEED000_PREFIX + "/": render_seed000_error}
    renderers |= {prefix: render_seed001_error for prefix in SEED001_PREFIXES}
    renderers |= {prefix: render_seed002_error for prefix in SEED002_PREFIXES}
    # The dashboard's pages answer people: its errors are pages in its layout (docs/dashboard.md).
    install_error_handlers(
        app, renderers, {root: render_dashboard_error for root in DASHBOARD_ROOTS}
    )
    # One pure-ASGI pass for request ids, rate-limit headers, the body cap and the error
    # boundary (kit/edge.py).
    app.add_middleware(
        EdgeMiddleware,
        limit=settings.request_max_bytes,
        limits={
            "/api/v1/files": settings.upload_max_bytes + MULTIPART_OVERHEAD,
            "/v1/audio/transcriptions": settings.upload_max_bytes + MULTIPART_OVERHEAD,
            # The playground's run form carries the model's inputs' uploads: two at most
            # (lipsync's video and sound), each capped by store_upload.
            PLAYGROUND: 2 * settings.upload_max_bytes + MULTIPART_OVERHEAD,
        },
    )
    for router in (
        generations_router,
        events_router,
        images_router,
        videos_router,
        transcriptions_router,
        chat_router,
        enhancements_router,
        voices_router,
        catalog_router,
        templates_router,
        account_router,
        files_router,
        webhooks_router,
        keys_router,
    ):
        app.include_router(router)
    # The dashboard (docs/dashboard.md): pages, not API operations, so not in /openapi.json.
    app.include_router(dashboard_router)
    app.include_router(dashboard_history_router)
    app.include_router(dashboard_settings_router)
    app.include_router(dashboard_playground_router)
    app.include_router(dashboard_webhooks_router)
    app.include_router(dashboard_operator_router)
    app.include_router(dashboard_signup_router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    # /v1 speaks OpenAI's API, whose reference and official clients are its contract: it is
    # kept out of /openapi.json, which schemathesis holds to MediaStudio's own (docs/api.md).
    app.include_router(openai_compat_router, include_in_schema=False)
    # The seeds' surfaces likewise: their documents are their contract, and their error shapes
    # are not the envelope /openapi.json promises on every route (docs/compat.md).
    app.include_router(seed000_router, include_in_schema=False)
    app.include_router(seed001_router, include_in_schema=False)
    app.include_router(seed002_router, include_in_schema=False)
    install_docs(app)
    _add_health(app)
    _finish_document(app, settings)
    return app


def _finish_document(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI document with the models' create bodies, the streams' events and the shared
    error responses (docs/api.md, "The OpenAPI document")."""

    def catalog() -> Catalog:
        platform: Platform | None = getattr(app.state, "platform", None)
        if platform is not None:
            return platform.catalog
        return Catalog(EngineRegistry.discover(settings), settings)  # asked before start-up

    passes = [
        document_bodies(catalog),
        document_streams,
        openapi.document_errors,
    ]
    openapi.install(app, passes)


_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "Not ready: the body says what is not (status: unavailable)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "status": {"const": "unavailable"},
                        "database": {"type": "string"},
                        "workers": {"type": "boolean"},
                        "disk": {
                            "type": "object",
                            "properties": {
                                "ok": {"type": "boolean"},
                                "free_bytes": {"type": "integer"},
                                "min_free_bytes": {"type": "integer"},
                            },
                        },
                    },
                }
            }
        },
    }
}


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses=_NOT_READY)
    async def readyz(request: Request) -> JSONResponse:
        """The database answers, the data volumes have more free space than the floor
        (``MEDIASTUDIO_MIN_FREE_BYTES``) and, when this process runs workers, they are started.
        503 when not: below the floor this instance accepts no new work."""
        platform: Platform = request.app.state.platform
        space = platform.disk.space()
        disk = {
            "ok": space.ok,
            "free_bytes": space.free_bytes,
            "min_free_bytes": space.min_free_bytes,
        }
        try:
            async with platform.db.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            logger.exception("readiness check failed")
            body = {"status": "unavailable", "database": "error", "disk": disk}
            return JSONResponse(body, status_code=503)
        ready = {"workers": platform.workers_started, "disk": disk}
        if not space.ok:
            return JSONResponse({"status": "unavailable", **ready}, status_code=503)
        return JSONResponse({"status": "ready", **ready})
