"""A fake fal queue on 127.0.0.1 that speaks the real HTTP protocol (a Starlette app under
uvicorn, in a thread), faithful enough that the official ``fal-client`` works against it
(``test_fake_fal.py`` proves it, over TLS, as the client only speaks https):

- ``POST /{endpoint id}`` queues a request and answers its id and its ``status_url``,
  ``response_url`` and ``cancel_url`` (under the app's root, without the endpoint's path:
  ``/fal-ai/flux/requests/{id}``); ``GET …/requests/{id}/status[?logs=1]``, ``GET
  …/requests/{id}`` (the result), ``PUT …/requests/{id}/cancel``; ``Authorization: Key <key>``
  or 401; every answer about a request carries ``x-fal-request-id``.
- Each request follows a :class:`Plan`: its status advances one step per status read (no
  clock), after answering the current one; ``stall`` holds it ``IN_PROGRESS`` until
  :meth:`FakeFal.release` or a cancel; ``vanish`` makes it 404; ``error`` is the result's
  error answer (a model error such as a ``content_policy_violation`` 422, or a request error
  such as a 503 ``runner_scheduling_failure``); ``nsfw`` flags the images as fal's safety
  checker does.
- :attr:`FakeFal.answers` scripts the next answers of a route (``submit``, ``status``,
  ``result``, ``cancel``: a 429 with Retry-After, a 500…) before it behaves normally;
  everything received is recorded.
- Outputs are served without auth at ``/files/…`` (as fal's CDN serves them): a PNG of the
  requested ``image_size``, or a tiny MP4; ``fal-ai/sync-lipsync/v2`` the input video speaking
  the input sound, ``veed/fabric-1.0`` the input image saying it (tests/providers/fake_lipsync.py).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.providers import fake_lipsync
from tests.providers.fake_replicate import Received, data_uri_bytes, image, tiny_mp4
from tests.providers.loopback import Loopback

KEY = "00000000-fake-fal-key-id:0123456789abcdef0123456789abcdef"
QUEUED, RUNNING, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"
LOGS = [
    {"message": "Loading model", "level": "INFO", "source": "user", "timestamp": "2026-01-01"},
    {"message": " 50%|█████     | 2/4 [00:00<00:00]", "level": "INFO", "source": "user"},
]
CANCELLED_ANSWER = (
    499,
    {"detail": "Request cancelled by the client", "error_type": "client_cancelled"},
)
CONTENT_POLICY = (
    422,
    {
        "detail": [
            {
                "loc": ["body", "prompt"],
                "msg": "The content was flagged by a content checker.",
                "type": "content_policy_violation",
                "url": "https://docs.fal.ai/errors#content_policy_violation",
                "input": "…",
            }
        ]
    },
)
SCHEDULING_FAILURE = (
    503,
    {"detail": "No runner could be allocated", "error_type": "runner_scheduling_failure"},
)
NAMESPACES = ("workflows", "comfy")
LIPSYNC = "fal-ai/sync-lipsync/v2"
TALKING = (LIPSYNC, fake_lipsync.FABRIC)  # endpoints whose video follows the inputs


@dataclass
class Plan:
    """How the next queued request behaves."""

    statuses: tuple[str, ...] = (QUEUED, RUNNING, COMPLETED)
    stall: bool = False  # stay IN_PROGRESS until released or cancelled
    vanish: bool = False  # answer 404 to every status read
    error: tuple[int, dict[str, Any]] | None = None  # the result's error answer
    nsfw: bool = False  # has_nsfw_concepts: [true]
    outputs: int = 1
    kind: str = "image"  # image (PNG of the input's image_size) or video (MP4)


@dataclass
class Queued:
    id: str
    endpoint: str
    input: dict[str, Any]
    plan: Plan
    step: int = 0
    status: str = QUEUED
    released: bool = False
    cancelled: bool = False
    polls: int = 0

    def advance(self) -> None:
        if self.status == COMPLETED:
            return
        if self.plan.stall and not self.released and self.status == RUNNING:
            return
        self.step = min(self.step + 1, len(self.plan.statuses) - 1)
        self.status = self.plan.statuses[self.step]


@dataclass
class FakeFal:
    key: str = KEY
    plans: deque[Plan] = field(default_factory=deque)  # for the next submits, then Plan()
    answers: dict[str, deque[tuple[int, dict[str, Any], dict[str, str]]]] = field(
        default_factory=dict
    )
    queued: dict[str, Queued] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # What tests ask ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.base_url.split("://", 1)[1]

    @property
    def submits(self) -> list[Queued]:
        return list(self.queued.values())

    def requests(self, method: str, prefix: str = "/") -> list[Received]:
        return [r for r in self.received if r.method == method and r.path.startswith(prefix)]

    def script(self, route: str, status: int, body: dict[str, Any], **headers: str) -> None:
        self.answers.setdefault(route, deque()).append((status, body, headers))

    def release(self) -> None:
        with self.lock:
            for queued in self.queued.values():
                queued.released = True

    def reset(self) -> None:
        with self.lock:
            self.plans.clear()
            self.answers.clear()
            self.queued.clear()
            self.received.clear()
            self.cancelled.clear()

    # The app ---------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/files/{rid}/{name}", self._deliver, methods=["GET"]),
                Route("/{app:path}/requests/{rid}/status", self._status, methods=["GET"]),
                Route("/{app:path}/requests/{rid}/cancel", self._cancel, methods=["PUT"]),
                Route("/{app:path}/requests/{rid}", self._result, methods=["GET"]),
                Route("/{endpoint:path}", self._submit, methods=["POST"]),
            ]
        )

    async def _record(self, request: Request) -> None:
        body: Any = None
        if request.method in ("POST", "PUT"):
            raw = await request.body()
            body = await request.json() if raw else None
        self.received.append(
            Received(request.method, request.url.path, dict(request.headers), body)
        )

    def _refused(self, request: Request, route: str) -> Response | None:
        if request.headers.get("authorization") != f"Key {self.key}":
            return JSONResponse({"detail": "Invalid Key ID or Secret"}, status_code=401)
        queue = self.answers.get(route)
        if queue:
            status, body, headers = queue.popleft()
            return JSONResponse(body, status_code=status, headers=headers)
        return None

    async def _submit(self, request: Request) -> Response:
        await self._record(request)
        refused = self._refused(request, "submit")
        if refused is not None:
            return refused
        body = self.received[-1].body
        if not isinstance(body, dict):
            detail = [{"loc": ["body"], "msg": "Input should be an object", "type": "dict_type"}]
            return JSONResponse({"detail": detail}, status_code=422)
        endpoint = request.path_params["endpoint"]
        if endpoint == LIPSYNC:
            found = fake_lipsync.refusal(
                body.get("video_url"), body.get("audio_url"), body.get("sync_mode", "cut_off")
            )
            if found is not None:
                detail = [{"loc": ["body"], "msg": found, "type": "value_error"}]
                return JSONResponse({"detail": detail}, status_code=422)
        if endpoint == fake_lipsync.FABRIC:
            # fal's Fabric requires its resolution (no default there).
            found = fake_lipsync.fabric_refusal(
                body.get("image_url"), body.get("audio_url"), body.get("resolution")
            )
            if found is not None:
                detail = [{"loc": ["body"], "msg": found, "type": "value_error"}]
                return JSONResponse({"detail": detail}, status_code=422)
        with self.lock:
            plan = self.plans.popleft() if self.plans else Plan()
            queued = Queued(str(uuid.uuid4()), endpoint, body, plan)
            self.queued[queued.id] = queued
        urls = self._urls(request, queued)
        return JSONResponse(
            {"request_id": queued.id, **urls, "queue_position": 0},
            headers={"x-fal-request-id": queued.id},
        )

    async def _status(self, request: Request) -> Response:
        await self._record(request)
        refused = self._refused(request, "status")
        if refused is not None:
            return refused
        with self.lock:
            queued = self._find(request)
            if queued is None or queued.plan.vanish:
                return JSONResponse({"detail": "Request not found"}, status_code=404)
            queued.polls += 1
            answer = self._status_json(request, queued)
            queued.advance()
        return JSONResponse(answer, headers={"x-fal-request-id": queued.id})

    async def _cancel(self, request: Request) -> Response:
        await self._record(request)
        refused = self._refused(request, "cancel")
        if refused is not None:
            return refused
        with self.lock:
            queued = self._find(request)
            if queued is None:
                return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
            if queued.status == COMPLETED:
                return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
            self.cancelled.append(queued.id)
            queued.cancelled = True
            queued.status = COMPLETED
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)

    async def _result(self, request: Request) -> Response:
        await self._record(request)
        refused = self._refused(request, "result")
        if refused is not None:
            return refused
        with self.lock:
            queued = self._find(request)
        if queued is None:
            return JSONResponse({"detail": "Request not found"}, status_code=404)
        headers = {"x-fal-request-id": queued.id}
        if queued.status != COMPLETED:
            return JSONResponse(
                {"detail": "Request is still in progress"}, status_code=400, headers=headers
            )
        error = CANCELLED_ANSWER if queued.cancelled else queued.plan.error
        if error is not None:
            status, body = error
            if isinstance(body.get("error_type"), str):
                headers["x-fal-error-type"] = body["error_type"]
            return JSONResponse(body, status_code=status, headers=headers)
        return JSONResponse(self._output(request, queued), headers=headers)

    async def _deliver(self, request: Request) -> Response:
        queued = self.queued.get(request.path_params["rid"])
        if queued is None:
            return Response(status_code=404)
        if queued.plan.kind == "video" or queued.endpoint in TALKING:
            return Response(_video(queued), media_type="video/mp4")
        width, height = _size(queued.input)
        return Response(image(width, height, "PNG"), media_type="image/png")

    # Shapes ------------------------------------------------------------------------------------

    def _find(self, request: Request) -> Queued | None:
        queued = self.queued.get(request.path_params["rid"])
        if queued is None or app_root(queued.endpoint) != request.path_params["app"]:
            return None
        return queued

    def _urls(self, request: Request, queued: Queued) -> dict[str, str]:
        base = f"{str(request.base_url).rstrip('/')}/{app_root(queued.endpoint)}"
        url = f"{base}/requests/{queued.id}"
        return {"status_url": f"{url}/status", "response_url": url, "cancel_url": f"{url}/cancel"}

    def _status_json(self, request: Request, queued: Queued) -> dict[str, Any]:
        with_logs = request.query_params.get("logs") in ("1", "true")
        answer: dict[str, Any] = {
            "status": queued.status,
            "request_id": queued.id,
            "response_url": self._urls(request, queued)["response_url"],
        }
        if queued.status == QUEUED:
            answer["queue_position"] = 0
        else:
            answer["logs"] = list(LOGS) if with_logs else None
        if queued.status == COMPLETED:
            answer["metrics"] = {"inference_time": 0.01}
        return answer

    def _output(self, request: Request, queued: Queued) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        if queued.plan.kind == "video" or queued.endpoint in TALKING:
            video = {"url": f"{base}/files/{queued.id}/out.mp4", "content_type": "video/mp4"}
            size = len(_video(queued))
            return {"video": {**video, "file_name": "out.mp4", "file_size": size}}
        width, height = _size(queued.input)
        images = [
            {
                "url": f"{base}/files/{queued.id}/{index}.png",
                "width": width,
                "height": height,
                "content_type": "image/png",
            }
            for index in range(queued.plan.outputs)
        ]
        return {
            "images": images,
            "timings": {"inference": 0.01},
            "seed": 42,
            "has_nsfw_concepts": [queued.plan.nsfw] * len(images),
            "prompt": queued.input.get("prompt", ""),
        }


def _video(queued: Queued) -> bytes:
    """Sync's lip-synced video for its endpoint (inputs sent as data: URIs), else a tiny MP4."""
    values = queued.input
    if queued.endpoint == fake_lipsync.FABRIC:
        return fake_lipsync.talking_head(
            data_uri_bytes(values["image_url"]),
            data_uri_bytes(values["audio_url"]),
            values["resolution"],
        )
    if queued.endpoint != LIPSYNC:
        return tiny_mp4()
    return fake_lipsync.lipsynced(
        data_uri_bytes(values["video_url"]),
        data_uri_bytes(values["audio_url"]),
        values.get("sync_mode", "cut_off"),
    )


def app_root(endpoint: str) -> str:
    """An endpoint's app (owner/alias, or namespace/owner/alias), as fal's request URLs name it."""
    parts = endpoint.split("/")
    return "/".join(parts[: 3 if parts[0] in NAMESPACES else 2])


def _size(arguments: dict[str, Any]) -> tuple[int, int]:
    size = arguments.get("image_size")
    if isinstance(size, dict):
        return int(size.get("width", 64)), int(size.get("height", 64))
    return 64, 64


@dataclass(frozen=True)
class Tls:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it (the official client only
    speaks https; it trusts the CA through SSL_CERT_FILE, as any httpx client does)."""

    ca_file: Path
    cert_file: Path

    @classmethod
    def make(cls, folder: Path) -> Tls:
        authority = trustme.CA()
        server = authority.issue_cert("127.0.0.1")
        ca_file, cert_file = folder / "ca.pem", folder / "server.pem"
        authority.cert_pem.write_to_path(str(ca_file))
        server.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        return cls(ca_file, cert_file)


class RunningFal(Loopback[FakeFal]):
    """``with RunningFal() as fake: fake.base_url`` — uvicorn on a free loopback port, over
    https when given :class:`Tls`."""

    def __init__(self, fake: FakeFal | None = None, tls: Tls | None = None) -> None:
        super().__init__(
            fake or FakeFal(),
            "fal",
            cert_file=tls.cert_file if tls else None,
            # Clients that keep a TLS connection open (the official client never closes its
            # own) must not hold the shutdown for long.
            timeout_graceful_shutdown=1,
        )
