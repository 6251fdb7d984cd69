"""HTTP for videos: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict

from mediastudio.engines.builtin.compositions.script_video import TYPE as SCRIPT_VIDEO_TYPE
from mediastudio.engines.builtin.compositions.script_video import ScriptVideoInput
from mediastudio.engines.builtin.video_tools.clip_input import AutoClipInput
from mediastudio.engines.builtin.video_tools.dubbing import DubbingInput
from mediastudio.engines.builtin.video_tools.social import SocialVariantsInput
from mediastudio.engines.builtin.video_tools.subtitles import SubtitlesInput
from mediastudio.engines.inputs import AVATAR_TYPE, LIPSYNC_TYPE, AvatarInput, LipsyncInput
from mediastudio.generations.endpoints import (
    CREATE_RESPONSES,
    IdempotencyKey,
    PlatformDep,
    VideoPrincipal,
    create_typed,
)
from mediastudio.generations.openapi import creates
from mediastudio.generations.schemas import Envelope
from mediastudio.kit.errors import ERROR_RESPONSES
from mediastudio.kit.examples import EXAMPLE_AUDIO, EXAMPLE_IMAGE, EXAMPLE_VIDEO_URL

router = APIRouter(prefix="/api/v1", tags=["videos"], responses=ERROR_RESPONSES)


# The examples are what Swagger UI's "Try it out" sends (see generations/schemas.py).
class SubtitlesRequest(SubtitlesInput, Envelope):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "video_url": EXAMPLE_VIDEO_URL,
                    "segments": [
                        {"start": 0.0, "end": 2.5, "text": "Meet the new Aurora."},
                        {"start": 2.5, "end": 5.0, "text": "Light. Fast. Yours."},
                    ],
                    "position": "bottom",
                }
            ]
        },
    )


class SocialVariantsRequest(SocialVariantsInput, Envelope):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source_url": EXAMPLE_IMAGE,
                    "platforms": ["tiktok", "instagram"],
                    "reframe": "auto",
                }
            ]
        },
    )


@router.post(
    "/videos/subtitles",
    summary="Burn subtitles into a video",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("subtitles"),
)
async def burn_subtitles(
    request: Request,
    body: SubtitlesRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, "subtitles", body, idempotency_key)


@router.post(
    "/videos/social-variants",
    summary="Make one video per social platform from an image or a video",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("social-variants"),
)
async def social_variants(
    request: Request,
    body: SocialVariantsRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(
        request, platform, principal, "social-variants", body, idempotency_key
    )


class TranslateRequest(DubbingInput, Envelope):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "video_url": EXAMPLE_VIDEO_URL,
                    "target_language": "es",
                    "source_language": "en",
                    "output_formats": ["srt", "vtt"],
                }
            ]
        },
    )


@router.post(
    "/videos/translate",
    summary="Dub a video into another language (speech translated and spoken again)",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("dubbing"),
)
async def translate_video(
    request: Request,
    body: TranslateRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, "dubbing", body, idempotency_key)


# Auto-clip ---------------------------------------------------------------------------------------


class ClipRequest(AutoClipInput, Envelope):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "video_url": EXAMPLE_VIDEO_URL,
                    "max_clips": 3,
                    "min_duration": 5,
                    "max_duration": 30,
                    "aspect_ratio": "9:16",
                }
            ]
        },
    )


@router.post(
    "/videos/clip",
    summary="Cut the best moments of a video into short clips (auto-clip)",
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates("auto-clip"),
)
async def clip_video(
    request: Request,
    body: ClipRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Finds shots, scores segments by loudness, loudness peaks, motion and pace (``score``
    0-100 on each clip), and returns up to ``max_clips`` clips reframed to ``aspect_ratio``."""
    return await create_typed(request, platform, principal, "auto-clip", body, idempotency_key)


# Lip-sync ----------------------------------------------------------------------------------------


class LipsyncRequest(LipsyncInput, Envelope):
    # Extra fields are the chosen model's own (sync_mode…), validated against its schema.
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"video_url": EXAMPLE_VIDEO_URL, "audio_url": EXAMPLE_AUDIO, "sync_mode": "loop"}
            ]
        },
    )


@router.post(
    "/videos/lipsync",
    summary="Make a video's face say a sound (lip-sync)",
    description=(
        "The video (an upload's id, a URL or a data: URI) with its lips moved to the speech in "
        "audio_url, by a hosted model (sync-lipsync: Sync Labs' lipsync-2 on fal or Replicate); "
        "one MP4 whose sound is the speech."
    ),
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates(LIPSYNC_TYPE),
)
async def lipsync_video(
    request: Request,
    body: LipsyncRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, LIPSYNC_TYPE, body, idempotency_key)


# Talking avatars ---------------------------------------------------------------------------------


class AvatarRequest(AvatarInput, Envelope):
    # Extra fields are the chosen model's own (resolution…), validated against its schema.
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "image_url": EXAMPLE_IMAGE,
                    "text": "Hello! Here is what is new this week.",
                    "resolution": "480p",
                }
            ]
        },
    )


@router.post(
    "/avatars/animate",
    summary="Make a face talk (a talking-head video from an image and a sound or a text)",
    description=(
        "The image (an upload's id, a URL or a data: URI) animated to say audio_url, or text "
        "spoken first by a speech model of the catalog (speech_model, voice), by a hosted "
        "model (veed-fabric: VEED's Fabric 1.0 on fal or Replicate); one MP4 as long as the "
        "speech. Given text, the price includes the speech model's."
    ),
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates(AVATAR_TYPE),
)
async def animate_avatar(
    request: Request,
    body: AvatarRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(request, platform, principal, AVATAR_TYPE, body, idempotency_key)


# Script to video ---------------------------------------------------------------------------------


class ScriptVideoRequest(ScriptVideoInput, Envelope):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "script": "Morning light over the harbour.\n\nThe boats head out to sea.",
                    "aspect_ratio": "9:16",
                    "resolution": "720p",
                    "captions": True,
                }
            ]
        },
    )


@router.post(
    "/videos/script",
    summary="Make a script into a narrated video (one generated clip a scene)",
    description=(
        "The script cut into scenes (paragraphs, else sentences; or the scenes given), each "
        "said by a speech model and shown by a generated clip: a text-to-video model, or an "
        "image-to-video model on a still from an image model (or painted here when none can "
        "run), with captions timed to the speech; one MP4 in aspect_ratio as long as the "
        "voice-over. The price includes one job of each step model per scene."
    ),
    status_code=202,
    responses=CREATE_RESPONSES,
    openapi_extra=creates(SCRIPT_VIDEO_TYPE),
)
async def script_video(
    request: Request,
    body: ScriptVideoRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await create_typed(
        request, platform, principal, SCRIPT_VIDEO_TYPE, body, idempotency_key
    )
