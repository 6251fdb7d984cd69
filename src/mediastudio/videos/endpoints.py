"""HTTP for videos: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict

from mediastudio.engines.builtin.video_tools.clip_input import AutoClipInput
from mediastudio.generations.endpoints import (
    CREATE_RESPONSES,
    IdempotencyKey,
    PlatformDep,
    VideoPrincipal,
    create_typed,
)
from mediastudio.generations.schemas import Envelope
from mediastudio.kit.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["videos"], responses=ERROR_RESPONSES)


# Auto-clip ---------------------------------------------------------------------------------------


class ClipRequest(AutoClipInput, Envelope):
    model_config = ConfigDict(extra="allow")


@router.post(
    "/videos/clip",
    summary="Cut the best moments of a video into short clips (auto-clip)",
    status_code=202,
    responses=CREATE_RESPONSES,
)
async def clip_video(
    request: Request,
    body: ClipRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Finds shots, scores segments by loudness, loudness peaks, motion and pace (``score``
    0-100 on each clip), and returns up to ``max_clips`` clips reframed to ``aspect_ratio``."""
    return await create_typed(request, platform, principal, "auto-clip", body, idempotency_key)
