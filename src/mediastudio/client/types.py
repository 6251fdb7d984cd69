"""The objects the SDK returns, parsed from the API's JSON: generations and their outputs, files,
webhooks and their deliveries, live events, chat replies, the account, models, voices and
templates."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar, cast

from mediastudio.client.core import TERMINAL


@dataclass(frozen=True)
class JobError:
    SCHEMA: ClassVar[str] = "JobError"  # checked as the resources below are
    code: str
    message: str


@dataclass(frozen=True)
class Credits:
    reserved: int
    charged: int
    refunded: int


@dataclass
class OutputData:
    SCHEMA: ClassVar[str] = "OutputRead"
    url: str
    content_type: str
    bytes: int | None
    width: int | None
    height: int | None
    duration_s: float | None

    @classmethod
    def fields_of(cls, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": body["url"],
            "content_type": body.get("content_type", "application/octet-stream"),
            "bytes": body.get("bytes"),
            "width": body.get("width"),
            "height": body.get("height"),
            "duration_s": body.get("duration_s"),
        }


class GenerationData:
    """The fields of a generation; :class:`~mediastudio.client.sync.Generation` and its async
    twin add ``outputs`` and the calls (``wait``, ``cancel``)."""

    id: str
    type: str
    model: str
    status: str
    progress: int
    error: JobError | None
    credits: Credits
    sandbox: bool
    external_id: str | None
    metadata: dict[str, Any]
    created_at: str | None
    raw: dict[str, Any]

    def _load(self, body: dict[str, Any]) -> None:
        """Take every field ``body`` has: a whole generation, or just status and progress."""
        self.raw = {**getattr(self, "raw", {}), **body}
        raw = self.raw
        self.id = raw["id"]
        self.type = raw.get("type", "")
        self.model = raw.get("model", "")
        self.status = raw.get("status", "queued")
        self.progress = int(raw.get("progress") or 0)
        error = raw.get("error")
        self.error = JobError(error["code"], error["message"]) if error else None
        self.credits = Credits(
            int(raw.get("credits_reserved") or 0),
            int(raw.get("credits_charged") or 0),
            int(raw.get("credits_refunded") or 0),
        )
        self.sandbox = bool(raw.get("sandbox", False))
        self.external_id = raw.get("external_id")
        self.metadata = raw.get("metadata") or {}
        self.created_at = raw.get("created_at")

    @property
    def done(self) -> bool:
        """The job is terminal: completed, partially completed, failed or cancelled."""
        return self.status in TERMINAL

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self.id!r}, status={self.status!r}, "
            f"progress={self.progress})"
        )


# The resources below are built from the API's JSON by field name (:func:`_build`), and each
# names the OpenAPI schema it mirrors (``SCHEMA``): tests/client/test_contract.py checks every
# field against the server's /openapi.json, so a renamed or dropped field fails a test instead
# of turning into a silent None.
_Built = TypeVar("_Built")


def _build(cls: type[_Built], body: dict[str, Any], **nested: Any) -> _Built:
    names = [f.name for f in fields(cast(Any, cls)) if f.name != "raw"]
    values = {name: body.get(name) for name in names}
    built: _Built = cast(Any, cls)(**{**values, **nested}, raw=body)
    return built


@dataclass(frozen=True)
class File:
    """An upload (``file_…``): give its ``id`` as any ``*_url`` input of a job."""

    SCHEMA: ClassVar[str] = "FileRead"
    id: str
    filename: str
    content_type: str  # sniffed from the content by the server, never from the name
    bytes: int
    sha256: str
    sandbox: bool
    url: str  # a signed download URL (it expires)
    created_at: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> File:
        return _build(cls, body)


@dataclass(frozen=True)
class Webhook:
    """A webhook endpoint. ``secret`` (``whsec_…``) is only there on the answers of ``create``
    and ``rotate_secret``: keep it then, to verify deliveries."""

    SCHEMA: ClassVar[str] = "WebhookWithSecret"
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: str | None
    is_default: bool
    previous_secret_expires_at: str | None
    created_at: str
    updated_at: str
    secret: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Webhook:
        return _build(cls, body)


@dataclass(frozen=True)
class DeliveryAttempt:
    # The items of that property (the document names the schema after its module: another
    # AttemptRead exists).
    SCHEMA: ClassVar[str] = "DeliveryRead.attempt_log"
    at: str
    status_code: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> DeliveryAttempt:
        return _build(cls, body)


@dataclass(frozen=True)
class Delivery:
    """One event sent (or being sent) to one endpoint, with every attempt."""

    SCHEMA: ClassVar[str] = "DeliveryRead"
    id: str
    endpoint_id: str | None
    event_id: str
    event: str
    generation_id: str | None
    sandbox: bool
    status: str  # pending, succeeded, failed (given up early) or dead
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_response_excerpt: str | None
    last_error: str | None
    attempt_log: list[DeliveryAttempt]
    created_at: str
    delivered_at: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Delivery:
        log = [DeliveryAttempt.of(item) for item in body.get("attempt_log") or []]
        return _build(cls, body, attempt_log=log)


_Gen = TypeVar("_Gen")


@dataclass(frozen=True)
class Event(Generic[_Gen]):
    """One event of a live stream (docs/events.md): ``type`` is ``status``, ``progress``,
    ``completed``, ``partially_completed``, ``failed``, ``cancelled`` or (account stream)
    ``ready``. ``generation`` is the whole generation on final and snapshot events."""

    SCHEMA: ClassVar[tuple[str, ...]] = ("StatusEvent", "ProgressEvent", "FinalEvent", "ReadyEvent")
    id: str
    type: str
    generation_id: str | None
    data: dict[str, Any]
    generation: _Gen | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def status(self) -> str | None:
        value = self.data.get("status")
        return str(value) if value is not None else None

    @property
    def progress(self) -> int | None:
        value = self.data.get("progress")
        return int(value) if value is not None else None

    @property
    def snapshot(self) -> bool:
        """The state at connect time (a first connection, or a resume the server could not
        replay), not a change."""
        return bool(self.data.get("snapshot"))

    @property
    def resumed(self) -> bool | None:
        """On ``ready``: whether the missed events were replayed (else: the current state)."""
        value = self.data.get("resumed")
        return bool(value) if value is not None else None

    @property
    def too_far_behind(self) -> bool:
        """On ``ready`` after a resume the server could not replay: more generations ended
        meanwhile than it sends; re-list them (``client.generations.list``)."""
        return bool(self.data.get("too_far_behind"))

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL


@dataclass(frozen=True)
class ChatUsage:
    SCHEMA: ClassVar[str] = "ChatUsage"
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, body: dict[str, Any] | None) -> ChatUsage | None:
        if not body:
            return None
        return cls(
            int(body.get("prompt_tokens") or 0),
            int(body.get("completion_tokens") or 0),
            int(body.get("total_tokens") or 0),
        )


@dataclass(frozen=True)
class ChatCompletion:
    """A reply of ``POST /v1/chat/completions`` (OpenAI's ``chat.completion``)."""

    id: str
    model: str
    content: str
    finish_reason: str | None
    usage: ChatUsage | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> ChatCompletion:
        choice = (body.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        return cls(
            id=str(body.get("id", "")),
            model=str(body.get("model", "")),
            content=str(message.get("content") or ""),
            finish_reason=choice.get("finish_reason"),
            usage=ChatUsage.of(body.get("usage")),
            raw=body,
        )


@dataclass(frozen=True)
class ChatChunk:
    """One piece of a streamed reply (OpenAI's ``chat.completion.chunk``): ``delta`` is the
    text it adds; the last chunk has ``finish_reason``, and ``usage`` when it was asked for."""

    id: str
    model: str
    delta: str
    finish_reason: str | None
    usage: ChatUsage | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> ChatChunk:
        choices = body.get("choices") or []
        choice = choices[0] if choices else {}
        delta = choice.get("delta") or {}
        return cls(
            id=str(body.get("id", "")),
            model=str(body.get("model", "")),
            delta=str(delta.get("content") or ""),
            finish_reason=choice.get("finish_reason"),
            usage=ChatUsage.of(body.get("usage")),
            raw=body,
        )


@dataclass(frozen=True)
class ChatReply:
    """A reply of the native ``POST /api/v1/chat``: pass ``conversation_id`` to go on."""

    SCHEMA: ClassVar[str] = "ChatResponse"
    id: str
    conversation_id: str
    reply: str
    timestamp: str
    model: str
    usage: ChatUsage
    finish_reason: str
    credits_charged: int
    sandbox: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> ChatReply:
        return _build(cls, body, usage=ChatUsage.of(body.get("usage")))


# Account ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """The key's account (``GET /account``): ``credit_balance`` is what can be spent now,
    ``credits_reserved`` what running jobs hold; ``usage`` is today's, per limit."""

    SCHEMA: ClassVar[str] = "AccountRead"
    id: str
    email: str
    name: str
    plan: str
    credit_balance: int
    credits_reserved: int
    limits: dict[str, Any]
    usage: dict[str, dict[str, int | None]]
    created_at: str
    sandbox: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Account:
        return _build(cls, body)


@dataclass(frozen=True)
class LedgerEntry:
    """One credit transaction: ``kind`` (reserve, capture, refund, grant…), ``amount`` and
    ``reserved_delta`` as signed changes, ``balance_after`` the balance it left."""

    SCHEMA: ClassVar[str] = "LedgerEntryRead"
    id: str
    kind: str
    amount: int
    reserved_delta: int
    balance_after: int
    generation_id: str | None  # a generation, or a voice (voice_…) for a cloning's price
    description: str
    created_at: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> LedgerEntry:
        return _build(cls, body)


# Models ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStep:
    """A step model only some requests need (``when``), and whether one can run now."""

    SCHEMA: ClassVar[str] = "ModelStep"
    type: str
    field: str
    when: str
    available: bool
    unavailable_reason: str | None
    # ``dataclasses.field``: the class's own ``field`` shadows it here.
    raw: dict[str, Any] = dataclasses.field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> ModelStep:
        return _build(cls, body)


@dataclass(frozen=True)
class ModelDeprecation:
    SCHEMA: ClassVar[str] = "ModelDeprecation"
    shutdown_date: str
    replacement: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> ModelDeprecation:
        return _build(cls, body)


@dataclass(frozen=True)
class Model:
    """A catalog model; ``available`` says whether this key can run it here now.
    ``input_schema`` (JSON Schema) is only on ``client.models.get``."""

    SCHEMA: ClassVar[str] = "ModelRead"
    id: str
    name: str
    type: str
    credits_per_generation: int
    pricing: dict[str, Any]
    description: str
    category: str
    available: bool
    unavailable_reason: str | None
    steps: list[ModelStep] | None
    deprecation: ModelDeprecation | None
    input_schema: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Model:
        steps = body.get("steps")
        deprecation = body.get("deprecation")
        return _build(
            cls,
            body,
            steps=[ModelStep.of(s) for s in steps] if steps is not None else None,
            deprecation=ModelDeprecation.of(deprecation) if deprecation else None,
        )


# Voices ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """A voice a speech model speaks with: pass ``id`` as ``voice`` with that ``model``."""

    SCHEMA: ClassVar[str] = "VoiceRead"
    id: str
    name: str
    language: str
    languages: list[str]
    gender: str | None
    model: str
    engine: str
    custom: bool  # one of the account's cloned voices (voice_…)
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Voice:
        return _build(cls, body)


@dataclass(frozen=True)
class Cloning:
    """Whether ``client.voices.create`` can clone for this key, with whom, at what price."""

    SCHEMA: ClassVar[str] = "CloningRead"
    available: bool
    provider: str
    credits: int
    unavailable_reason: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Cloning:
        return _build(cls, body)


@dataclass(frozen=True)
class VoiceList:
    """``client.voices.list()``: iterate it for the voices; ``cloning`` says whether cloning
    is possible for this key."""

    SCHEMA: ClassVar[str] = "VoiceList"
    data: list[Voice]
    total: int
    cloning: Cloning
    raw: dict[str, Any] = field(repr=False, compare=False)

    def __iter__(self) -> Iterator[Voice]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @classmethod
    def of(cls, body: dict[str, Any]) -> VoiceList:
        data = [Voice.of(item) for item in body.get("data") or []]
        return _build(cls, body, data=data, cloning=Cloning.of(body.get("cloning") or {}))


@dataclass(frozen=True)
class VoiceSample:
    SCHEMA: ClassVar[str] = "VoiceSampleRead"
    file_id: str  # the account's file, deleted with the voice
    sha256: str
    bytes: int
    content_type: str
    source: str  # upload or url
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> VoiceSample:
        return _build(cls, body)


@dataclass(frozen=True)
class Consent:
    SCHEMA: ClassVar[str] = "ConsentRead"
    statement: str  # what the caller affirmed, word for word
    api_key_id: str
    given_at: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Consent:
        return _build(cls, body)


@dataclass(frozen=True)
class CustomVoice:
    """One of the account's cloned voices (``voice_…``): ``status`` is ``ready`` once
    created, ``deleting`` after a delete whose provider call failed (delete again)."""

    SCHEMA: ClassVar[str] = "CustomVoiceRead"
    id: str
    name: str
    description: str | None
    language: str | None
    provider: str
    status: str
    requires_verification: bool
    samples: list[VoiceSample]
    consent: Consent
    credits_charged: int
    sandbox: bool
    created_at: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> CustomVoice:
        samples = [VoiceSample.of(item) for item in body.get("samples") or []]
        return _build(cls, body, samples=samples, consent=Consent.of(body.get("consent") or {}))


# Templates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextSlot:
    SCHEMA: ClassVar[str] = "TextSlotRead"
    name: str
    required: bool
    default: str
    max_chars: int
    width: int
    height: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> TextSlot:
        return _build(cls, body)


@dataclass(frozen=True)
class ImageSlot:
    SCHEMA: ClassVar[str] = "ImageSlotRead"
    name: str
    required: bool
    fit: str  # cover or contain
    width: int
    height: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> ImageSlot:
        return _build(cls, body)


@dataclass(frozen=True)
class Template:
    """A design rendered on the server: its ``texts`` and ``images`` slots and ``colors``
    variables are what ``client.templates.render`` fills."""

    SCHEMA: ClassVar[str] = "TemplateRead"
    id: str
    name: str
    description: str
    type: str  # image or video
    category: str
    tags: list[str]
    width: int
    height: int
    duration_s: float | None
    fps: int | None
    model: str
    credits: int
    output_formats: list[str]
    texts: list[TextSlot]
    images: list[ImageSlot]
    colors: dict[str, str]
    preview_url: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Template:
        texts = [TextSlot.of(item) for item in body.get("texts") or []]
        images = [ImageSlot.of(item) for item in body.get("images") or []]
        return _build(cls, body, texts=texts, images=images)
