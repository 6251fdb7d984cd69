"""HTTP for the OpenAI-compatible surface (``/v1/``): OpenAI's paths and shapes, MediaStudio's
keys, scopes, rate limits and credits. Errors here are OpenAI's shape (see errors.py)."""

from __future__ import annotations

import calendar
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.background import BackgroundTask

from mediastudio.chat.endpoints import ChatPrincipal
from mediastudio.chat.service import (
    ChatEvent,
    ChatResult,
    ChatStarted,
    OnAnswer,
    Replayed,
    send_idempotent,
    stream_idempotent,
)
from mediastudio.files.endpoints import store_upload
from mediastudio.generations.endpoints import AudioPrincipal, ImagePrincipal, url_maker
from mediastudio.generations.models import Generation
from mediastudio.idempotency.service import check_key, request_hash
from mediastudio.keys.auth import ReadPrincipal
from mediastudio.kit.errors import MediaStudioError, NotFound
from mediastudio.openai_compat import chat, service
from mediastudio.openai_compat.schemas import (
    ChatCompletionRequest,
    ImageData,
    ImageGenerationRequest,
    ImageOutputFormat,
    ImageResponseFormat,
    ImagesResponse,
    ModelList,
    ModelObject,
    SpeechRequest,
    TranscriptionFormat,
)
from mediastudio.platform import Platform, get_platform

logger = logging.getLogger("mediastudio.openai_compat")
router = APIRouter(prefix="/v1", tags=["openai-compatible"])
PlatformDep = Annotated[Platform, Depends(get_platform)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
REPLAYED = {"Idempotent-Replayed": "true"}


def _model_object(platform: Platform, model_id: str) -> ModelObject:
    chat = platform.chat.models.get(model_id)
    if chat is not None:  # chat models are no engine's: the chat service calls their server
        return ModelObject(id=model_id, created=0, owned_by=chat.provider)
    registered = platform.catalog.registry.get(model_id)
    if registered is None:
        raise NotFound(f"The model {model_id!r} does not exist.")
    return ModelObject(id=model_id, created=0, owned_by=registered.engine.name)


@router.get("/models", response_model=ModelList, summary="Models your key can run (OpenAI shape)")
async def list_models(platform: PlatformDep, principal: ReadPrincipal) -> ModelList:
    """The catalog's models and the chat models this key can use now (a sandbox key: all)."""
    catalog = platform.catalog
    runnable = [
        spec.id
        for spec in catalog.list(None)
        if catalog.availability(spec, sandbox=principal.sandbox).available
    ]
    runnable += [
        model.id
        for model in platform.chat.models.models.values()
        if platform.chat.models.availability(model, sandbox=principal.sandbox).available
    ]
    return ModelList(data=[_model_object(platform, model_id) for model_id in runnable])


@router.get("/models/{model_id:path}", response_model=ModelObject, summary="One model")
async def get_model(model_id: str, platform: PlatformDep, principal: ReadPrincipal) -> ModelObject:
    return _model_object(platform, service.model_id(platform, model_id) or model_id)


@router.post(
    "/images/generations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    summary="Create images (OpenAI's images.generate)",
)
async def create_images(
    request: Request,
    body: ImageGenerationRequest,
    platform: PlatformDep,
    principal: ImagePrincipal,
) -> ImagesResponse:
    """Runs any image model of the catalog as a job (billed as on /api/v1) and answers once it
    is done, with signed URLs or base64 images."""
    generation = await service.run(platform, principal, service.image_job(platform, body))
    return await _images(request, platform, generation, body.response_format)


@router.post(
    "/images/edits",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    summary="Edit an image (OpenAI's images.edit)",
)
async def edit_images(
    request: Request,
    platform: PlatformDep,
    principal: ImagePrincipal,
    prompt: Annotated[str, Form(min_length=1, max_length=2000, description="What to change")],
    image: Annotated[UploadFile | None, File(description="The image; kept as an upload")] = None,
    images: Annotated[
        list[UploadFile] | None,
        File(alias="image[]", description="The client's list form: one image only here"),
    ] = None,
    mask: Annotated[
        UploadFile | None, File(description="A PNG whose transparent pixels mark where to edit")
    ] = None,
    model: Annotated[
        str | None,
        Form(
            max_length=200,
            description="Any image-edit model (gpt-image-1.5 means openai/gpt-image-1.5-edit); "
            "default: the catalog's default image-edit model",
        ),
    ] = None,
    n: Annotated[int, Form(ge=1, le=4, description="How many images")] = 1,
    size: Annotated[
        str | None,
        Form(
            max_length=16,
            pattern=r"^(auto|\d{2,5}x\d{2,5})$",
            description="WIDTHxHEIGHT: its shape picks the result's; auto keeps the image's",
        ),
    ] = None,
    response_format: Annotated[ImageResponseFormat, Form()] = "url",
    output_format: Annotated[ImageOutputFormat, Form()] = "png",
    quality: Annotated[str | None, Form(max_length=20, description="For models that take it")] = (
        None
    ),
    input_fidelity: Annotated[
        str | None, Form(max_length=20, description="For models that take it")
    ] = None,
    user: Annotated[str | None, Form(max_length=200, description="Accepted and ignored")] = None,
) -> ImagesResponse:
    """Runs an image-edit model of the catalog as a job (billed as on /api/v1) and answers once
    it is done, with signed URLs or base64 images."""
    parts = ([image] if image is not None else []) + list(images or [])
    if len(parts) != 1:
        raise service.refusal("image", "give exactly one image to edit")
    stored = await store_upload(platform, principal, parts[0])
    stored_mask = await store_upload(platform, principal, mask) if mask is not None else None
    new = service.edit_job(
        platform,
        image_id=stored.id,
        mask_id=stored_mask.id if stored_mask is not None else None,
        model=model,
        prompt=prompt,
        n=n,
        size=size,
        output_format=output_format,
        quality=quality,
        input_fidelity=input_fidelity,
    )
    generation = await service.run(platform, principal, new)
    return await _images(request, platform, generation, response_format)


async def _images(
    request: Request, platform: Platform, generation: Generation, response_format: str
) -> ImagesResponse:
    """A finished image job's outputs in OpenAI's answer: signed URLs or base64."""
    sign = url_maker(request, platform)
    data = []
    for output in generation.outputs:
        if response_format == "b64_json":
            data.append(ImageData(b64_json=await service.output_b64(platform, output["key"])))
        else:
            data.append(ImageData(url=sign(output["key"])))
    return ImagesResponse(created=_created(generation), data=data)


@router.post(
    "/audio/speech",
    summary="Text to speech (OpenAI's audio.speech.create): the audio file",
    response_class=Response,
    responses={200: {"content": {"audio/mpeg": {}}, "description": "The audio file"}},
)
async def create_speech(
    body: SpeechRequest, platform: PlatformDep, principal: AudioPrincipal
) -> Response:
    generation = await service.run(platform, principal, service.speech_job(platform, body))
    output = generation.outputs[0]
    local = platform.storage.local_path(output["key"])
    if local is not None:
        return FileResponse(local, media_type=output["content_type"])
    # Object storage: streamed from it, never held whole.
    size = int(output["bytes"])
    return StreamingResponse(
        platform.storage.read(output["key"], 0, size),
        media_type=output["content_type"],
        headers={"Content-Length": str(size)},
    )


@router.post(
    "/audio/transcriptions",
    summary="Speech to text (OpenAI's audio.transcriptions.create)",
    responses={200: {"content": {"application/json": {}, "text/plain": {}}}},
)
async def create_transcription(
    platform: PlatformDep,
    principal: AudioPrincipal,
    file: Annotated[UploadFile, File(description="The audio or video; kept as an upload")],
    model: Annotated[str, Form(max_length=200, description="openai/whisper-1 or whisper-1…")],
    language: Annotated[str | None, Form(max_length=16)] = None,
    prompt: Annotated[str | None, Form(max_length=2000)] = None,
    response_format: Annotated[TranscriptionFormat, Form()] = "json",
    temperature: Annotated[float | None, Form(ge=0, le=1)] = None,
    timestamp_granularities: Annotated[
        list[str] | None,
        Form(
            alias="timestamp_granularities[]",
            description="segment (always given) and word (verbose_json then has words)",
        ),
    ] = None,
) -> Response:
    stored = await store_upload(platform, principal, file)
    new = service.transcription_job(
        platform,
        file_id=stored.id,
        model=model,
        response_format=response_format,
        language=language,
        prompt=prompt,
        temperature=temperature,
        timestamp_granularities=timestamp_granularities,
    )
    generation = await service.run(platform, principal, new)
    content = await service.output_bytes(platform, generation.outputs[0]["key"])
    return _transcription_response(content.decode("utf-8"), response_format)


@router.post("/chat/completions", summary="Chat (OpenAI's chat.completions.create)")
async def create_chat_completion(
    request: Request,
    body: ChatCompletionRequest,
    platform: PlatformDep,
    principal: ChatPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The chat service's rules (scope ``chat``, quota, credits, a stored conversation per
    call) in OpenAI's shapes; ``stream`` relays the reply as the provider writes it."""
    chat.check_parameters(body)
    key = check_key(idempotency_key) if idempotency_key is not None else None
    dumped = body.model_dump(mode="json", exclude_unset=True)
    fingerprint = request_hash(request.method, request.url.path, dumped) if key else ""
    messages = chat.messages_of(body)
    model, options = chat.chat_model(platform, body.model), chat.options_of(body)
    if body.stream:

        def stream(on_answer: OnAnswer | None) -> AsyncGenerator[ChatEvent, None]:
            return platform.chat.stream(
                principal, messages, model=model, options=options, on_answer=on_answer
            )

        events = stream_idempotent(
            platform.db, platform.settings, principal, key, fingerprint, stream, _completion
        )
        # The first event is awaited here: every refusal up to the provider's first piece is
        # the answer's status, as OpenAI's are; after it, an error is an event of the stream.
        first = await anext(events)
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return StreamingResponse(
            _sse(first, events, include_usage),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **(REPLAYED if isinstance(first, Replayed) else {})},
            # A client that hangs up while a piece is being sent leaves the events suspended:
            # closing them settles the message (docs/api.md, streaming).
            background=BackgroundTask(events.aclose),
        )

    async def answer(on_answer: OnAnswer | None) -> ChatResult:
        return await platform.chat.complete(
            principal, messages, model=model, options=options, on_answer=on_answer
        )

    sent, replayed = await send_idempotent(
        platform.db, platform.settings, principal, key, fingerprint, answer, _completion
    )
    return JSONResponse(sent, headers=REPLAYED if replayed else None)


def _completion(result: ChatResult) -> dict[str, object]:
    return chat.completion(result)


async def _sse(
    first: ChatEvent | Replayed,
    events: AsyncGenerator[ChatEvent | Replayed, None],
    include_usage: bool,
) -> AsyncIterator[str]:
    if isinstance(first, Replayed):
        for line in chat.replayed(first.body, include_usage):
            yield line
        return
    assert isinstance(first, ChatStarted)
    chunks = chat.Chunks.of(first, include_usage)
    yield chunks.start()
    try:
        async for item in events:
            if isinstance(item, str):
                yield chunks.text(item)
            elif isinstance(item, ChatResult):
                for line in chunks.end(item.finish_reason, chat.completion(item)["usage"]):
                    yield line
    except MediaStudioError as exc:  # refunded by the service; the client raises it
        yield chat.error_event(exc)
    except Exception:
        logger.exception("chat stream failed")
        yield chat.error_event(MediaStudioError())


def _transcription_response(content: str, response_format: str) -> Response:
    if response_format in ("srt", "vtt"):
        return PlainTextResponse(content)
    transcript: dict[str, Any] = json.loads(content)
    if response_format == "text":
        return PlainTextResponse(transcript["text"])
    if response_format == "json":
        return JSONResponse({"text": transcript["text"]})
    return JSONResponse(
        {
            "task": "transcribe",
            "language": transcript.get("language"),
            "duration": transcript.get("duration"),
            "text": transcript["text"],
            "segments": transcript.get("segments", []),
            **({"words": transcript["words"]} if "words" in transcript else {}),
        }
    )


def _created(generation: Generation) -> int:
    # A naive time from the database is UTC: timegm reads it so (and converts an aware one).
    return calendar.timegm((generation.completed_at or generation.created_at).utctimetuple())
