"""A fake Replicate on 127.0.0.1 that speaks the real HTTP protocol (a Starlette app under
uvicorn, in a thread), faithful enough that the official ``replicate`` client works against it
(``test_fake_replicate.py`` proves it):

- ``POST /v1/models/{owner}/{name}/predictions`` (``Prefer: wait`` answers the finished
  prediction), ``GET /v1/predictions/{id}``, ``POST /v1/predictions/{id}/cancel``,
  ``POST /v1/files``; ``Authorization: Bearer <token>`` or 401; errors as problem+json.
- Each prediction follows a :class:`Plan`: its statuses advance one step per GET (no clock),
  ``stall`` holds it in ``processing`` until :meth:`FakeReplicate.release` or a cancel,
  ``vanish`` makes it 404, ``error`` fails it with that text. :attr:`FakeReplicate.
  most_in_flight` is the most predictions that were unfinished at once.
- :attr:`FakeReplicate.answers` scripts the next answers of a route (a 429 with Retry-After, a
  500, a 422…) before it behaves normally; everything received is recorded.
- Outputs are served without auth at ``/delivery/…`` (as replicate.delivery URLs are). The
  curated models deliver what their Replicate pages document (the same facts their output plans
  state, see docs/engines.md; written here independently): ``prunaai/z-image-turbo`` an RGB
  image of the ``width`` x ``height`` sent (1024 each by default) in its ``output_format`` (jpg
  by default); ``minimax/hailuo-2.3(-fast)`` a silent 25 fps MP4 of the ``duration`` sent (6 s
  by default) at its ``resolution`` (768p by default): 16:9 from text, the first frame's aspect
  ratio with that many lines on the short side from an image; ``black-forest-labs/flux-kontext-pro``
  one image at Kontext's frame nearest the aspect ratio sent (the input image's by default), in
  its ``output_format`` (png by default); ``sync/lipsync-2`` the input video speaking the input
  sound, ``veed/fabric-1.0`` the input image saying it (tests/providers/fake_lipsync.py).
  Their inputs are validated as Replicate validates them (422). Any other model delivers a PNG
  of the requested width and height; :attr:`Plan.kind` may ask for a plain PNG or a tiny MP4
  whatever the model.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import math
import secrets
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediastudio.engines.sandbox import media
from tests.providers import fake_lipsync
from tests.providers.loopback import Loopback

TOKEN = "r8_FakeTestToken0000000000000000000000000"
PROGRESS_LOG = "  50%|█████     | 4/8 [00:01<00:01,  3.10it/s]"
TERMINAL = {"succeeded", "failed", "canceled"}

Z_IMAGE = "prunaai/z-image-turbo"
Z_IMAGE_FORMATS = {
    "jpg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
    "webp": ("WEBP", "image/webp"),
}
HAILUO_FAST, HAILUO = "minimax/hailuo-2.3-fast", "minimax/hailuo-2.3"
FLUX_SCHNELL = "black-forest-labs/flux-schnell"
KONTEXT = "black-forest-labs/flux-kontext-pro"
LIPSYNC = "sync/lipsync-2"
# FLUX.1 Kontext's frames (about a megapixel, sides in 16-pixel steps): it renders the one whose
# shape is nearest the aspect ratio sent, or the input image's with match_input_image.
KONTEXT_FRAMES = (
    (672, 1568),
    (688, 1504),
    (720, 1456),
    (752, 1392),
    (800, 1328),
    (832, 1248),
    (880, 1184),
    (944, 1104),
    (1024, 1024),
    (1104, 944),
    (1184, 880),
    (1248, 832),
    (1328, 800),
    (1392, 752),
    (1456, 720),
    (1504, 688),
    (1568, 672),
)
KONTEXT_RATIOS = (
    "match_input_image",
    "1:1",
    "16:9",
    "9:16",
    "4:3",
    "3:4",
    "3:2",
    "2:3",
    "4:5",
    "5:4",
    "21:9",
    "9:21",
    "2:1",
    "1:2",
)
# FLUX.1 [schnell]'s frame per aspect ratio (about a megapixel, sides in steps of 64), as the
# model renders them; stated here on their own so that the fake does not read our mapping.
FLUX_FRAMES = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}
HAILUO_DURATIONS = (6, 10)
HAILUO_LINES = {"768p": 768, "1080p": 1080}  # the short side of the frame
HAILUO_FPS = 25
_QUARTER_TURNS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass
class Plan:
    """How the next created prediction behaves."""

    statuses: tuple[str, ...] = ("starting", "processing", "succeeded")
    error: str | None = None  # the failure text when the plan ends in "failed"
    stall: bool = False  # stay "processing" until released or cancelled
    vanish: bool = False  # answer 404 to every GET
    outputs: int = 1  # how many files a success delivers
    as_list: bool = False  # output as a list even for one file
    # None: what the model delivers (see the module's docstring); "image": a PNG of the input's
    # width x height; "video": a tiny 1 s MP4 (fast tests of the boundary, whatever the model).
    kind: str | None = None


@dataclass(frozen=True)
class Delivery:
    """What each output file of a prediction is: its URL's suffix, its type, and its bytes."""

    suffix: str
    media_type: str
    render: Callable[[], bytes]
    count: int | None = None  # files the model delivers; None: as many as the test's Plan says


@dataclass
class Prediction:
    id: str
    model: str
    input: dict[str, Any]
    plan: Plan
    delivery: Delivery
    step: int = 0
    status: str = "starting"
    released: bool = False
    gets: int = 0

    def advance(self) -> None:
        if self.status in TERMINAL:
            return
        if self.plan.stall and not self.released:
            self.status = "processing"
            return
        self.step = min(self.step + 1, len(self.plan.statuses) - 1)
        self.status = self.plan.statuses[self.step]

    def finish(self) -> None:
        """Jump to the plan's end (Prefer: wait)."""
        if self.status not in TERMINAL and not (self.plan.stall and not self.released):
            self.step = len(self.plan.statuses) - 1
            self.status = self.plan.statuses[-1]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeReplicate:
    token: str = TOKEN
    plans: deque[Plan] = field(default_factory=deque)  # for the next creates, then Plan()
    # route name ("create", "get", "cancel", "files") → answers to give before behaving
    answers: dict[str, deque[tuple[int, dict[str, Any], dict[str, str]]]] = field(
        default_factory=dict
    )
    predictions: dict[str, Prediction] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    # The most predictions that were unfinished at once (counted as each one is created).
    most_in_flight: int = 0
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # What tests ask ---------------------------------------------------------------------------

    @property
    def creates(self) -> list[Prediction]:
        return list(self.predictions.values())

    def requests(self, method: str, prefix: str) -> list[Received]:
        return [r for r in self.received if r.method == method and r.path.startswith(prefix)]

    def script(self, route: str, status: int, body: dict[str, Any], **headers: str) -> None:
        self.answers.setdefault(route, deque()).append((status, body, headers))

    def release(self) -> None:
        with self.lock:
            for prediction in self.predictions.values():
                prediction.released = True

    # The app ---------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/models/{owner}/{name}/predictions", self._create, methods=["POST"]),
                Route("/v1/predictions/{pid}", self._get, methods=["GET"]),
                Route("/v1/predictions/{pid}/cancel", self._cancel, methods=["POST"]),
                Route("/v1/files", self._upload, methods=["POST"]),
                Route("/delivery/{pid}/{name}", self._deliver, methods=["GET"]),
            ]
        )

    async def _record(self, request: Request, body: Any = None) -> None:
        if body is None and request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
        self.received.append(
            Received(request.method, request.url.path, dict(request.headers), body)
        )

    def _refused(self, request: Request, route: str) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        queue = self.answers.get(route)
        if queue:
            status, body, headers = queue.popleft()
            return JSONResponse(
                body, status_code=status, headers=headers, media_type="application/problem+json"
            )
        return None

    async def _create(self, request: Request) -> Response:
        await self._record(request)
        refused = self._refused(request, "create")
        if refused is not None:
            return refused
        body = await request.json()
        model = f"{request.path_params['owner']}/{request.path_params['name']}"
        if not isinstance(body.get("input"), dict):
            return problem(422, "Input validation failed", "- input: input is required")
        invalid = refusal(model, body["input"])
        if invalid is not None:
            return problem(422, "Input validation failed", invalid)
        with self.lock:
            plan = self.plans.popleft() if self.plans else Plan()
            delivery = self._delivery(model, body["input"], plan)
            prediction = Prediction(new_id(), model, body["input"], plan, delivery)
            self.predictions[prediction.id] = prediction
            if request.headers.get("prefer", "").startswith("wait"):
                prediction.finish()
            unfinished = sum(p.status not in TERMINAL for p in self.predictions.values())
            self.most_in_flight = max(self.most_in_flight, unfinished)
        return JSONResponse(self._json(prediction), status_code=201)

    async def _get(self, request: Request) -> Response:
        await self._record(request)
        refused = self._refused(request, "get")
        if refused is not None:
            return refused
        with self.lock:
            prediction = self.predictions.get(request.path_params["pid"])
            if prediction is None or prediction.plan.vanish:
                return problem(404, "Not found", "The requested resource could not be found.")
            prediction.gets += 1
            prediction.advance()
            return JSONResponse(self._json(prediction))

    async def _cancel(self, request: Request) -> Response:
        await self._record(request)
        refused = self._refused(request, "cancel")
        if refused is not None:
            return refused
        with self.lock:
            prediction = self.predictions.get(request.path_params["pid"])
            if prediction is None:
                return problem(404, "Not found", "The requested resource could not be found.")
            self.cancelled.append(prediction.id)
            if prediction.status not in TERMINAL:
                prediction.status = "canceled"
            return JSONResponse(self._json(prediction))

    async def _upload(self, request: Request) -> Response:
        form = await request.form()
        upload = form["content"]
        assert not isinstance(upload, str)
        data = await upload.read()
        await self._record(request, {"filename": upload.filename, "size": len(data)})
        refused = self._refused(request, "files")
        if refused is not None:
            return refused
        file_id = new_id()
        self.files[file_id] = data
        now = stamp()
        return JSONResponse(
            {
                "id": file_id,
                "name": upload.filename,
                "content_type": upload.content_type,
                "size": len(data),
                "etag": secrets.token_hex(16),
                "checksums": {},
                "metadata": {},
                "created_at": now,
                "expires_at": None,
                "urls": {"get": f"{self.base_url}/v1/files/{file_id}"},
            },
            status_code=201,
        )

    async def _deliver(self, request: Request) -> Response:
        prediction = self.predictions.get(request.path_params["pid"])
        if prediction is None:
            return Response(status_code=404)
        delivery = prediction.delivery
        content = await asyncio.to_thread(delivery.render)
        return Response(content, media_type=delivery.media_type)

    def _delivery(self, model: str, values: dict[str, Any], plan: Plan) -> Delivery:
        if plan.kind == "video":
            return Delivery("mp4", "video/mp4", tiny_mp4)
        if plan.kind is None and model == Z_IMAGE:
            return z_image_delivery(values)
        if plan.kind is None and model == FLUX_SCHNELL:
            return flux_delivery(values)
        if plan.kind is None and model == KONTEXT:
            return kontext_delivery(values, self._first_frame(values.get("input_image")))
        if plan.kind is None and model == LIPSYNC:
            video, audio = self._first_frame(values["video"]), self._first_frame(values["audio"])
            assert video is not None and audio is not None
            mode = values.get("sync_mode", "loop")
            render = functools.partial(fake_lipsync.lipsynced, video, audio, mode)
            return Delivery("mp4", "video/mp4", render)
        if plan.kind is None and model == fake_lipsync.FABRIC:
            face, audio = self._first_frame(values["image"]), self._first_frame(values["audio"])
            assert face is not None and audio is not None
            resolution = values.get("resolution", "720p")
            render = functools.partial(fake_lipsync.talking_head, face, audio, resolution)
            return Delivery("mp4", "video/mp4", render)
        if plan.kind is None and model in (HAILUO_FAST, HAILUO):
            return hailuo_delivery(values, self._first_frame(values.get("first_frame_image")))
        width = int(values.get("width") or 64)
        height = int(values.get("height") or 64)
        return Delivery("png", "image/png", functools.partial(image, width, height, "PNG"))

    def _first_frame(self, reference: object) -> bytes | None:
        """A first frame sent inline (a data: URI) or stored with the file API."""
        if not isinstance(reference, str):
            return None
        if reference.startswith("data:"):
            return data_uri_bytes(reference)
        file_id = reference.removeprefix(f"{self.base_url}/v1/files/")
        return self.files.get(file_id)

    def _json(self, prediction: Prediction) -> dict[str, Any]:
        url = f"{self.base_url}/v1/predictions/{prediction.id}"
        status = prediction.status
        output: Any = None
        if status == "succeeded":
            suffix = prediction.delivery.suffix
            files = [
                f"{self.base_url}/delivery/{prediction.id}/out-{index}.{suffix}"
                for index in range(prediction.delivery.count or prediction.plan.outputs)
            ]
            output = files if prediction.plan.as_list or len(files) > 1 else files[0]
        return {
            "id": prediction.id,
            "model": prediction.model,
            "version": "hidden",
            "input": prediction.input,
            "logs": PROGRESS_LOG if status == "processing" else "",
            "output": output,
            "data_removed": False,
            "error": prediction.plan.error if status == "failed" else None,
            "status": status,
            "source": "api",
            "created_at": stamp(),
            "started_at": stamp() if status != "starting" else None,
            "completed_at": stamp() if status in TERMINAL else None,
            "metrics": {"predict_time": 0.01} if status in TERMINAL else {},
            "urls": {"get": url, "cancel": f"{url}/cancel", "web": f"{self.base_url}/p/x"},
        }


def problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "status": status},
        status_code=status,
        media_type="application/problem+json",
    )


def new_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def image(width: int, height: int, image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(buffer, format=image_format)
    return buffer.getvalue()


# The curated models, as Replicate documents them ---------------------------------------------


def refusal(model: str, values: dict[str, Any]) -> str | None:
    """Replicate's 422 detail for an input the model's schema refuses, or None."""
    if model == Z_IMAGE:
        return _one_of("output_format", values.get("output_format", "jpg"), tuple(Z_IMAGE_FORMATS))
    if model == FLUX_SCHNELL:
        return _one_of("aspect_ratio", values.get("aspect_ratio", "1:1"), tuple(FLUX_FRAMES)) or (
            _one_of("num_outputs", values.get("num_outputs", 1), (1, 2, 3, 4))
        )
    if model == KONTEXT:
        return _kontext_refusal(values)
    if model == fake_lipsync.FABRIC:
        found = fake_lipsync.fabric_refusal(
            values.get("image"), values.get("audio"), values.get("resolution", "720p")
        )
        return f"- input: {found}" if found else None
    if model == LIPSYNC:
        found = fake_lipsync.refusal(
            values.get("video"), values.get("audio"), values.get("sync_mode", "loop")
        )
        return f"- input: {found}" if found else None
    if model not in (HAILUO_FAST, HAILUO):
        return None
    if model == HAILUO_FAST and not values.get("first_frame_image"):
        return "- input: first_frame_image is required"
    return _one_of("duration", values.get("duration", 6), HAILUO_DURATIONS) or _one_of(
        "resolution", values.get("resolution", "768p"), tuple(HAILUO_LINES)
    )


def _kontext_refusal(values: dict[str, Any]) -> str | None:
    if not isinstance(values.get("prompt"), str):
        return "- input: prompt is required"
    tolerance = values.get("safety_tolerance", 2)
    if values.get("input_image") and tolerance not in (0, 1, 2):
        return "- input.safety_tolerance: 2 is the maximum allowed when input images are used"
    return _one_of(
        "aspect_ratio", values.get("aspect_ratio", "match_input_image"), KONTEXT_RATIOS
    ) or _one_of("output_format", values.get("output_format", "png"), ("jpg", "png"))


def _one_of(name: str, value: object, allowed: tuple[object, ...]) -> str | None:
    if value in allowed:
        return None
    listed = ", ".join(map(str, allowed))
    return f"- input.{name}: {name} must be one of the following: {listed}"


def z_image_delivery(values: dict[str, Any]) -> Delivery:
    """An RGB image of exactly the width and height sent, in the format sent."""
    width, height = int(values.get("width", 1024)), int(values.get("height", 1024))
    suffix = values.get("output_format", "jpg")
    pil_format, media_type = Z_IMAGE_FORMATS[suffix]
    return Delivery(suffix, media_type, functools.partial(image, width, height, pil_format))


def flux_delivery(values: dict[str, Any]) -> Delivery:
    """``num_outputs`` images at FLUX's frame for the aspect ratio, in the format sent (WebP by
    default, as on Replicate)."""
    width, height = FLUX_FRAMES[values.get("aspect_ratio", "1:1")]
    suffix = values.get("output_format", "webp")
    pil_format, media_type = Z_IMAGE_FORMATS[suffix]
    render = functools.partial(image, width, height, pil_format)
    return Delivery(suffix, media_type, render, count=int(values.get("num_outputs", 1)))


def kontext_delivery(values: dict[str, Any], input_image: bytes | None) -> Delivery:
    """One image at Kontext's frame nearest the aspect ratio sent (the input image's with
    match_input_image; square without an image), in the format sent (PNG by default)."""
    ratio = values.get("aspect_ratio", "match_input_image")
    if ratio == "match_input_image":
        across, down = (_upright_size(input_image) if input_image else None) or (1, 1)
    else:
        across, down = (int(part) for part in ratio.split(":"))
    wanted = math.log(across / down)
    width, height = min(KONTEXT_FRAMES, key=lambda f: abs(math.log(f[0] / f[1]) - wanted))
    suffix = values.get("output_format", "png")
    pil_format, media_type = Z_IMAGE_FORMATS[suffix]
    return Delivery(suffix, media_type, functools.partial(image, width, height, pil_format))


def hailuo_delivery(values: dict[str, Any], first_frame: bytes | None) -> Delivery:
    """A silent MP4 of the duration sent, 16:9 from text or the first frame's aspect ratio,
    with the resolution's lines on the short side."""
    lines = HAILUO_LINES[values.get("resolution", "768p")]
    aspect = _upright_size(first_frame) if first_frame is not None else None
    across, down = aspect or (16, 9)
    scale = lines / min(across, down)
    width, height = _even(across * scale), _even(down * scale)
    seconds = int(values.get("duration", 6))
    return Delivery("mp4", "video/mp4", functools.partial(mp4, width, height, seconds, HAILUO_FPS))


def _upright_size(content: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(content)) as frame:
            width, height = frame.size
            turned = frame.getexif().get(0x0112) in _QUARTER_TURNS
    except (UnidentifiedImageError, OSError):
        return None  # as if no frame were given
    return (height, width) if turned else (width, height)


def _even(side: float) -> int:
    return 2 * round(side / 2)


@functools.cache
def mp4(width: int, height: int, seconds: int, fps: int) -> bytes:
    """A silent MP4 of that size, length and frame rate (made once per shape)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        media.write_video(
            path,
            duration_s=seconds,
            width=width,
            height=height,
            fps=fps,
            seed=1,
            label="fake",
            progress=lambda done: None,
            check_cancelled=lambda: None,
            with_audio=False,
        )
        return path.read_bytes()


def tiny_mp4() -> bytes:
    """A 1 s, 64x64 MP4 (made once)."""
    return mp4(64, 64, 1, 8)


def data_uri_bytes(uri: str) -> bytes:
    header, _, data = uri.partition(",")
    assert header.startswith("data:") and header.endswith(";base64"), header[:40]
    return base64.b64decode(data)


class RunningFake(Loopback[FakeReplicate]):
    """``with RunningFake() as fake: fake.base_url`` — uvicorn on a free loopback port."""

    def __init__(self, fake: FakeReplicate | None = None) -> None:
        super().__init__(fake or FakeReplicate(), "Replicate")
