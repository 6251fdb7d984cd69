"""HTTP for seed 001 (docs/compat.md): its paths and camelCase shapes over the generations and
accounts services, so keys, scopes, rate limits, quotas, credits, idempotency and sandbox keys
are the native API's. Errors are the seed's ``{error, code}`` (errors.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mediastudio.accounts import service as accounts
from mediastudio.compat.seed001.jobs import job_of, timestamp
from mediastudio.compat.seed001.schemas import (
    USAGE_KEYS,
    AvatarRequest,
    BRollRequest,
    ClipRequest,
    CommercialRequest,
    ImageRequest,
    InstantAdRequest,
    KeyCreateRequest,
    PhotoshootRequest,
    Queued,
    SettingsRequest,
    TextToVideoRequest,
    TranslateRequest,
    VideoRequest,
    VoiceCloneRequest,
    VoiceRequest,
)
from mediastudio.engines.builtin.compositions.instant_ad import MODEL_ID as INSTANT_AD_MODEL
from mediastudio.engines.builtin.compositions.instant_ad import TYPE as INSTANT_AD_TYPE
from mediastudio.engines.inputs import AVATAR_TYPE, IMAGE_EDIT_TYPE
from mediastudio.enhancements.service import MODEL as PRODUCT_MODEL
from mediastudio.enhancements.service import TYPE as PRODUCT_TYPE
from mediastudio.generations.endpoints import (
    AudioPrincipal,
    ImagePrincipal,
    VideoPrincipal,
    read_model,
)
from mediastudio.generations.repository import Filters
from mediastudio.generations.service import NewGeneration
from mediastudio.idempotency.service import check_key, request_hash
from mediastudio.keys import service as keys
from mediastudio.keys.auth import ReadPrincipal, WebhooksPrincipal, require
from mediastudio.keys.models import ApiKey
from mediastudio.keys.principal import Principal
from mediastudio.keys.service import ensure_scope
from mediastudio.kit.clock import utcnow
from mediastudio.kit.errors import InvalidRequest, NotSupported
from mediastudio.platform import Platform, get_platform
from mediastudio.voices.cloning import NewVoice
from mediastudio.webhooks.formats import SEED001_FORMAT

router = APIRouter(prefix="/api", tags=["compat: seed 001"])
PlatformDep = Annotated[Platform, Depends(get_platform)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
REPLAYED = {"Idempotent-Replayed": "true"}
KeysPrincipal = Annotated[Principal, Depends(require(keys.KEYS_SCOPE))]
LIST_LIMIT = 100  # GET /api/jobs: the newest jobs (the seed's list has no paging)


def catalog_model(platform: Platform, name: str | None, type_: str) -> str | None:
    """A catalog id for the seed's ``model``: the id itself, or the one model of this type whose
    id ends in ``/<name>`` (``flux-2-pro`` for ``<provider>/flux-2-pro``); any other name goes
    to the service as it is, which refuses it as it would on /api/v1."""
    if name is None or platform.catalog.registry.get(name) is not None:
        return name
    matches = [
        spec.id for spec in platform.catalog.list(type_) if spec.id.rsplit("/", 1)[-1] == name
    ]
    return matches[0] if len(matches) == 1 else name


async def _queue(
    request: Request,
    platform: Platform,
    principal: Principal,
    body: BaseModel,
    new: NewGeneration,
    idempotency_key: str | None,
    message: str,
) -> JSONResponse:
    key = check_key(idempotency_key) if idempotency_key is not None else None
    dumped = body.model_dump(mode="json", exclude_unset=True)
    fingerprint = request_hash(request.method, request.url.path, dumped) if key else ""
    created = await platform.generations.create(
        principal, new, idempotency_key=key, fingerprint=fingerprint
    )
    if created.replay is not None:  # the stored body is the native one: answered in ours
        body_ = created.replay.body
        queued = Queued(jobId=str(body_["id"]), status=str(body_["status"]), message=message)
        return JSONResponse({"data": queued.model_dump(exclude_none=True)}, headers=REPLAYED)
    assert created.generation is not None
    queued = Queued(jobId=created.generation.id, status=created.generation.status, message=message)
    return JSONResponse({"data": queued.model_dump(exclude_none=True)})


def _set(data: dict[str, Any], **values: Any) -> dict[str, Any]:
    """The given fields that the client sent (None: left to the model's default)."""
    data.update({name: value for name, value in values.items() if value is not None})
    return data


@router.post("/generate/image", summary="Generate an image (seed 001)")
async def generate_image(
    request: Request,
    body: ImageRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """``steps`` and ``style`` go to the model's input as they are: a model that takes no such
    field refuses them (400), as on /api/v1."""
    data = _set(
        {"prompt": body.prompt},
        width=body.width,
        height=body.height,
        seed=body.seed,
        negative_prompt=body.negativePrompt,
        steps=body.steps,
        style=body.style,
    )
    new = NewGeneration(
        input=data, type="image", model=catalog_model(platform, body.model, "image")
    )
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Image generation job queued"
    )


def _scripted_video(platform: Platform, body: VideoRequest | TextToVideoRequest) -> NewGeneration:
    """A video job from a script: seed 001's /generate/video and /generate/text2video take the
    same fields."""
    data = _set(
        {"prompt": body.script},
        duration=body.duration,
        resolution=body.resolution,
        style=body.style,
    )
    return NewGeneration(
        input=data, type="video", model=catalog_model(platform, body.model, "video")
    )


@router.post("/generate/video", summary="Generate a video from a script (seed 001)")
async def generate_video(
    request: Request,
    body: VideoRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    new = _scripted_video(platform, body)
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Video generation job queued"
    )


@router.post("/generate/text2video", summary="Text to video (seed 001)")
async def generate_text_to_video(
    request: Request,
    body: TextToVideoRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    new = _scripted_video(platform, body)
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Video generation job queued"
    )


@router.post("/generate/b-roll", summary="B-roll footage (seed 001)")
async def generate_b_roll(
    request: Request,
    body: BRollRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    data = _set({"prompt": body.prompt}, duration=body.duration, resolution=body.resolution)
    new = NewGeneration(
        input=data, type="video", model=catalog_model(platform, body.model, "video")
    )
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "B-roll generation job queued"
    )


# The seed scores clips 1-10; MediaStudio's auto-clip scores them 0-100 (relative to the video).
CLIP_SCORE_SCALE = 10


@router.post("/generate/clip", summary="Auto-clip a long video (seed 001)")
async def generate_clip(
    request: Request,
    body: ClipRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An ``auto-clip`` job, as ``POST /api/v1/videos/clip``: the source is fetched by the
    SSRF-safe fetcher (or is an upload's id); ``viralScoreThreshold`` 1-10 is the native 0-100."""
    threshold = body.viralScoreThreshold
    data = _set(
        {"video_url": body.sourceVideoUrl},
        max_clips=body.maxClips,
        min_duration=body.minDuration,
        max_duration=body.maxDuration,
        add_captions=body.addCaptions,
        aspect_ratio=body.aspectRatio,
        viral_score_threshold=threshold * CLIP_SCORE_SCALE if threshold is not None else None,
    )
    new = NewGeneration(input=data, type="auto-clip")
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Clip extraction job queued"
    )


@router.post("/generate/voice", summary="Text to speech (seed 001)")
async def generate_voice(
    request: Request,
    body: VoiceRequest,
    platform: PlatformDep,
    principal: AudioPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    data = _set({"text": body.text}, voice=body.voiceId, speed=body.speed, language=body.language)
    new = NewGeneration(
        input=data, type="speech", model=catalog_model(platform, body.model, "speech")
    )
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Voice generation job queued"
    )


@router.get("/jobs", summary="List jobs, or one with ?id= (seed 001)")
async def jobs(
    request: Request,
    platform: PlatformDep,
    principal: ReadPrincipal,
    id: Annotated[str | None, Query(max_length=40)] = None,
) -> JSONResponse:
    """``{"data": [jobs]}``, newest first; ``?id=`` answers ``{"data": job}`` (404 if none).
    A job's status is the seed's: a cancelled job is ``failed``, a partly completed one
    ``completed``, so a seed client's poll ends."""
    if id is not None:
        generation = await platform.generations.get(principal, id)
        job = job_of(read_model(request, platform, generation))
        return JSONResponse({"data": job.model_dump()})
    page = await platform.generations.list(
        principal, Filters(), limit=LIST_LIMIT, offset=0, starting_after=None
    )
    listed = [job_of(read_model(request, platform, item)).model_dump() for item in page.items]
    return JSONResponse({"data": listed})


@router.get("/usage", summary="Credits, today's usage and plan (seed 001)")
async def usage(platform: PlatformDep, principal: ReadPrincipal) -> JSONResponse:
    """``{"data": {credits, used: {images, …}, plan}}``: the account as GET /api/v1/account
    reads it; ``used`` counts today's (UTC) jobs of this key's mode per type."""
    async with platform.db.read() as session:
        summary = await accounts.summary(
            session, platform.settings, principal.account_id, sandbox=principal.sandbox
        )
    used = {
        USAGE_KEYS.get(type_, type_): counts["today"] for type_, counts in summary["usage"].items()
    }
    quotas = {
        USAGE_KEYS.get(type_, type_): counts["daily_quota"]
        for type_, counts in summary["usage"].items()
        if counts["daily_quota"] is not None
    }
    data = {
        "credits": summary["credit_balance"],
        "creditsReserved": summary["credits_reserved"],
        "used": used,
        "dailyQuotas": quotas,
        "plan": summary["plan"],
    }
    return JSONResponse({"data": data})


@router.patch("/settings", summary="Set the webhook URL (seed 001)")
async def update_settings(
    body: SettingsRequest, platform: PlatformDep, principal: WebhooksPrincipal
) -> JSONResponse:
    """``{webhookUrl}`` → ``{"data": {"webhookUrl"}}``: the account's default webhook endpoint,
    as ``PATCH /api/v1/settings`` sets it (checked against SSRF; null removes it). The first
    time, the answer adds ``webhookSecret``, the key to verify deliveries' signatures with,
    shown only then."""
    before = await platform.webhooks.default_url(principal)
    endpoint = await platform.webhooks.set_default_url(
        principal, body.webhookUrl, payload_format=SEED001_FORMAT
    )
    data: dict[str, Any] = {"webhookUrl": endpoint.url if endpoint is not None else None}
    if endpoint is not None and before is None:
        data["webhookSecret"] = endpoint.secret
    return JSONResponse({"data": data})


@router.post("/generate/avatar", summary="A talking-head video (seed 001)")
async def generate_avatar(
    request: Request,
    body: AvatarRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An ``avatar`` job, as ``POST /api/v1/avatars/animate``: ``image`` the face, ``audio``
    the speech or ``text`` spoken first (``voiceId`` its voice). ``model`` is a catalog id
    (``veed-fabric``); the seed's others are not in the catalog and are refused as unknown
    models, and ``resolution`` is checked by the model (veed-fabric: 480p or 720p)."""
    data = _set(
        {"image_url": body.image, "resolution": body.resolution},
        audio_url=body.audio,
        text=body.text,
        voice=body.voiceId,
    )
    new = NewGeneration(
        input=data, type=AVATAR_TYPE, model=catalog_model(platform, body.model, AVATAR_TYPE)
    )
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Avatar video job queued"
    )


@router.post("/generate/translate", summary="Translate a video's speech (seed 001)")
async def generate_translate(
    request: Request,
    body: TranslateRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A ``dubbing`` job, as ``POST /api/v1/videos/translate``. ``preserveOriginalVoice: true``
    is refused (400): MediaStudio's dubbing speaks with a catalog voice, and cloning the
    speaker's would need their consent, which this request cannot state."""
    if body.preserveOriginalVoice:
        raise InvalidRequest(
            "preserveOriginalVoice is not supported: the dubbed speech uses a stock voice. "
            "Clone the speaker's voice with their consent (POST /api/v1/voices) and dub with "
            "POST /api/v1/videos/translate and that voice."
        )
    data = {"video_url": body.videoUrl, "target_language": body.outputLanguage}
    new = NewGeneration(input=data, type="dubbing")
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Translation job queued"
    )


@router.post("/generate/commercial", summary="A product commercial (seed 001)")
async def generate_commercial(
    request: Request,
    body: CommercialRequest,
    platform: PlatformDep,
    principal: VideoPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A ``commercial`` job, as ``POST /api/v1/generate/commercial``: it animates the
    product's images, or without ``productImages`` (or with an empty list) stills an image
    model draws, as the native route does. The seed's fields MediaStudio has no counterpart
    for are refused (400) rather than dropped; ``musicMood`` is the native ``music_genre``."""
    unsupported = [
        name
        for name in ("spokespersonImage", "voiceModel", "videoModel")
        if getattr(body, name) is not None
    ]
    if unsupported:
        raise InvalidRequest(f"Not supported here: {', '.join(unsupported)}.")
    data = _set(
        {
            "product": body.product,
            "platform": body.platform,
            "duration": body.duration,
            "tone": body.tone,
        },
        product_images=body.productImages or None,
        target_audience=body.targetAudience,
        voice=body.voiceId,
        music_genre=body.musicMood,
    )
    new = NewGeneration(input=data, type="commercial")
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Commercial job queued"
    )


@router.post("/generate/voice-clone", summary="Clone a voice (seed 001)")
async def generate_voice_clone(
    body: VoiceCloneRequest, platform: PlatformDep, principal: AudioPrincipal
) -> JSONResponse:
    """``{voiceId, message}`` (the seed's answer, not wrapped in ``data``): the voice cloned as
    ``POST /api/v1/voices`` clones it, from one sample. The seed's request has no consent; a
    client adds ``"consent": true``, its statement that it owns the voice or has the speaker's
    consent, or is refused (400) with that explained."""
    if body.consent is not True:
        raise InvalidRequest(
            'Cloning a voice needs "consent": true in the request: your statement that you '
            "own this voice or have its speaker's explicit consent to clone it (it is stored "
            "with the voice)."
        )
    new = NewVoice(name=body.name, samples=[body.sampleAudioUrl], consent=True)
    voice = await platform.voices.clone(principal, new)
    return JSONResponse({"voiceId": voice.id, "message": "Voice cloned successfully"})


def _key(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "lastFour": key.last_four,
        "sandbox": key.sandbox,
        "scopes": list(key.scopes),
        "status": keys.status_of(key, utcnow()),
        "createdAt": timestamp(key.created_at),
        "expiresAt": timestamp(key.expires_at) if key.expires_at else None,
        "lastUsedAt": timestamp(key.last_used_at) if key.last_used_at else None,
    }


@router.get("/keys", summary="List the account's API keys (seed 001)")
async def list_keys(platform: PlatformDep, principal: KeysPrincipal) -> JSONResponse:
    """Every key of the account (never a secret): needs the ``keys`` scope."""
    async with platform.db.read() as session:
        listed = await keys.list_keys(session, principal.account_id)
    return JSONResponse({"data": [_key(key) for key in listed]})


@router.post("/keys", summary="Create an API key (seed 001)")
async def create_key(
    body: KeyCreateRequest, platform: PlatformDep, principal: KeysPrincipal
) -> JSONResponse:
    """``{"data": {id, key, name, …}}``, the key shown once. Needs the ``keys`` scope; the new
    key is never worth more than the calling one (keys/service.py ``create_from_key``)."""
    async with platform.db.write() as session:
        account = await accounts.require(session, principal.account_id)
        new = await keys.create_from_key(session, account, principal.key_id, name=body.name)
        data = {**_key(new.key), "key": new.secret}
    return JSONResponse({"data": data})


# The seed's backgrounds, angles and lightings the built-in product photo model makes: it cuts
# the photographed product out and places it on a backdrop in even studio light; it cannot
# re-photograph it from another angle or generate a scene (an image-edit model can).
PHOTOSHOOT_PRESETS = {
    "studio-white": "single_product_white_background",
    "lifestyle": "lifestyle_neutral_backdrop",
}
BUILTIN_ANGLES = ("front", "hero")
BUILTIN_LIGHTING = ("studio", "soft")
BACKGROUND_SCENES = {
    "studio-white": "on a seamless pure white studio background",
    "lifestyle": "in a tasteful lifestyle setting, in use at home",
    "outdoor": "outdoors, in a natural setting",
    "flat-lay": "as a flat lay on a clean surface with a few complementary props",
}
ANGLE_SHOTS = {
    "front": "shot from the front",
    "hero": "a low hero angle that makes it look iconic",
    "45-degree": "shot from a 45-degree angle",
    "top-down": "shot from directly above",
    "lifestyle": "a candid lifestyle angle",
}
LIGHTING_LOOKS = {
    "studio": "even studio lighting",
    "natural": "natural daylight",
    "dramatic": "dramatic, high-contrast lighting",
    "soft": "soft, diffused lighting",
    "golden-hour": "warm golden-hour light",
}


def photoshoot_prompt(body: PhotoshootRequest) -> str:
    """The instruction an image-edit model gets: keep the product, change its scene."""
    scene = (
        f"in this setting: {body.customBackground}"
        if body.background == "custom"
        else BACKGROUND_SCENES[body.background]
    )
    return (
        "Professional product photo of the product in this image, unchanged (same shape, "
        f"colours, label and text), {scene}, {ANGLE_SHOTS[body.angle]}, "
        f"{LIGHTING_LOOKS[body.lighting]}, sharp focus, high detail."
    )


def _builtin_photoshoot(body: PhotoshootRequest) -> NewGeneration:
    """A ``product-enhancement`` job of one photo (seed 004's model), when the request asks
    for what it makes; else a 400 that says what to send instead."""
    asked = [
        f"{name} {value!r}"
        for name, value, made in (
            ("background", body.background, tuple(PHOTOSHOOT_PRESETS)),
            ("angle", body.angle, BUILTIN_ANGLES),
            ("lighting", body.lighting, BUILTIN_LIGHTING),
        )
        if value not in made
    ]
    if asked:
        raise InvalidRequest(
            f"Not made by the built-in product photo model ({PRODUCT_MODEL}): "
            f"{', '.join(asked)}. It places the photographed product on a studio-white or "
            "lifestyle backdrop (angle front or hero, lighting studio or soft); for a "
            "generated scene, angle or light, name an image-edit model in 'model' "
            "(e.g. flux-kontext; GET /api/v1/models?type=image-edit lists them)."
        )
    if body.count != 1:
        raise InvalidRequest(
            f"count {body.count}: the built-in product photo model ({PRODUCT_MODEL}) makes one "
            "photo per request (more would be identical copies, each charged). Send count 1, "
            "or name an image-edit model in 'model' for up to 4 different photos."
        )
    data = {
        "preset": PHOTOSHOOT_PRESETS[body.background],
        "items": [{"image_url": body.productImage}],
        "output_format": "png",
    }
    return NewGeneration(input=data, model=PRODUCT_MODEL, type=PRODUCT_TYPE)


@router.post("/generate/photoshoot", summary="Product photos (seed 001)")
async def generate_photoshoot(
    request: Request,
    body: PhotoshootRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Without ``model`` (or with ``builtin/product-enhance``): the built-in product photo
    model, as ``POST /api/v1/product-image-enhancements`` with one item: the product cut out
    and placed on the backdrop (``studio-white``, ``lifestyle``). With an image-edit model in
    ``model`` (``flux-kontext``): one ``image-edit`` job, its instruction written from
    ``background`` / ``customBackground``, ``angle`` and ``lighting``, ``count`` its
    ``num_outputs`` (a model that makes one image refuses ``count`` > 1, 400). Either way one
    job; its photos are its outputs."""
    if body.background == "custom" and body.customBackground is None:
        raise InvalidRequest("customBackground is required when background is 'custom'.")
    if body.customBackground is not None and body.background != "custom":
        raise InvalidRequest("customBackground is only used with background 'custom'.")
    model = catalog_model(platform, body.model, IMAGE_EDIT_TYPE)
    if model is None or model == PRODUCT_MODEL:
        new = _builtin_photoshoot(body)
    else:
        data: dict[str, Any] = {
            "image_url": body.productImage,
            "prompt": photoshoot_prompt(body),
            "output_format": "png",
        }
        if body.count > 1:
            data["num_outputs"] = body.count
        new = NewGeneration(input=data, type=IMAGE_EDIT_TYPE, model=model)
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Photoshoot job queued"
    )


@router.post("/generate/instant-ad", summary="Ad creatives from a product page (seed 001)")
async def generate_instant_ad(
    request: Request,
    body: InstantAdRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A ``builtin/instant-ad`` job: the page fetched by the SSRF-safe fetcher and read, then
    ``count`` image creatives (``outputFormat`` image, the default), 15 s videos (video, which
    also needs ``generate:video``) or both. ``brandProfileId`` is refused (400): MediaStudio
    keeps no brand profiles."""
    if body.brandProfileId is not None:
        raise InvalidRequest(
            "brandProfileId is not supported: MediaStudio keeps no saved brand profiles. Leave "
            "it out; 'style' sets the creatives' colours and tone."
        )
    output_format = body.outputFormat or "image"
    if output_format != "image":
        ensure_scope(principal, "generate:video")
    data = {
        "website_url": body.websiteUrl,
        "platform": body.platform,
        "count": body.count,
        "style": body.style,
        "output_format": output_format,
    }
    new = NewGeneration(input=data, type=INSTANT_AD_TYPE, model=INSTANT_AD_MODEL)
    return await _queue(
        request, platform, principal, body, new, idempotency_key, "Instant ad job queued"
    )


NO_TELEPHONY = (
    "Voice agents are not supported: MediaStudio has no telephony (no phone numbers, no call "
    "handling). Its speech is text to speech: POST /api/generate/voice."
)


@router.post("/voice-agent/calls/outbound", summary="Voice agent call (seed 001): 501")
async def voice_agent_call(principal: AudioPrincipal) -> JSONResponse:
    """Answered 501 ``NOT_IMPLEMENTED`` after the key is checked (docs/compat.md)."""
    raise NotSupported(NO_TELEPHONY)


@router.get("/voice-agent/calls", summary="Voice agent calls (seed 001): 501")
async def voice_agent_calls(principal: ReadPrincipal) -> JSONResponse:
    raise NotSupported(NO_TELEPHONY)


@router.post("/voice-agent/agents", summary="Create a voice agent (seed 001): 501")
async def voice_agent_create(principal: AudioPrincipal) -> JSONResponse:
    raise NotSupported(NO_TELEPHONY)
