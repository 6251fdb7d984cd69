"""The one typed configuration object.

Read from (highest priority first): explicit arguments, ``MEDIASTUDIO_*`` environment variables
(nested with ``__``, e.g. ``MEDIASTUDIO_PLANS__FREE__RATE_LIMIT``), an optional TOML file, then the
defaults below, which give the embedded deployment under one data directory. Nothing else in the
package reads ``os.environ``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from contextvars import ContextVar
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from mediastudio.kit.fetch import NetPolicy, parse_allow_hosts
from mediastudio.kit.ratelimit import validate_expression

_PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_toml_file: ContextVar[Path | None] = ContextVar("mediastudio_toml_file", default=None)


class Plan(BaseModel):
    """What an account on this plan may do. ``None`` means unlimited."""

    rate_limit: str | None = Field("60/minute", description="General per-key limit (limits syntax)")
    generation_rate_limit: str | None = Field(
        "5/10 seconds", description="Per-key limit on creating generations"
    )
    daily_quotas: dict[str, int] = Field(
        default_factory=dict, description="Generations per UTC day, per type; absent = unlimited"
    )
    allowed_models: list[str] = Field(
        default_factory=lambda: ["*"], description="Glob patterns of model ids this plan may use"
    )
    max_concurrent_jobs: int | None = Field(2, description="Jobs of one account running at once")

    @field_validator("rate_limit", "generation_rate_limit")
    @classmethod
    def _valid_limit(cls, value: str | None) -> str | None:
        if value is not None:
            validate_expression(value)  # a typo stops start-up instead of failing each request
        return value


class StorageSettings(BaseModel):
    """The object store behind ``storage_url=s3://bucket/prefix``
    (``MEDIASTUDIO_STORAGE__<FIELD>``); unused by local-disk storage. Credentials left unset
    come from boto3's own chain (the ``AWS_*`` variables, a profile, an instance or pod role)."""

    endpoint_url: str | None = Field(
        None, description="An S3-compatible server (MinIO, SeaweedFS, R2…); default: AWS"
    )
    public_endpoint_url: str | None = Field(
        None,
        description="Where clients reach the object store when that differs from where the "
        "API does (presigned download URLs are made for it); default: endpoint_url",
    )
    region: str = Field("us-east-1", description="The bucket's region (signs every request)")
    access_key_id: str | None = Field(None, description="Default: boto3's credential chain")
    secret_access_key: SecretStr | None = Field(
        None, description="Default: boto3's credential chain; never logged or returned"
    )
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="path for most self-hosted servers; virtual for AWS buckets"
    )
    downloads: Literal["redirect", "proxy"] = Field(
        "redirect",
        description="redirect: a signed /files/ URL answers 307 to a presigned bucket URL (the "
        "object store serves the bytes and Range); proxy: the API streams them from the bucket, "
        "for a bucket clients cannot reach",
    )
    download_ttl_s: int = Field(
        300,
        gt=0,
        le=7 * 24 * 3600,
        description="Life of the presigned object-store URL a signed /files/ URL redirects to",
    )
    multipart_threshold_bytes: int = Field(
        16 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        description="Files from this size are uploaded in parts (streamed from disk)",
    )
    multipart_part_bytes: int = Field(
        16 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        description="Size of one part of a multipart upload (S3's minimum is 5 MiB)",
    )


class ProviderSettings(BaseModel):
    """One hosted provider (``MEDIASTUDIO_PROVIDERS__<NAME>__<FIELD>``). Without an API key its
    models are listed as unavailable; sandbox keys never reach it either way."""

    api_key: SecretStr | None = Field(
        None, description="The provider's API token; never logged or returned"
    )
    base_url: str | None = Field(None, description="Default: the provider's public API")
    timeout_s: float = Field(30.0, gt=0, description="Read/write timeout of one request")
    poll_interval_s: float = Field(
        0.5, gt=0, description="First pause between status polls of one job"
    )
    poll_max_interval_s: float = Field(
        5.0, gt=0, description="Polls slow down to this for long jobs"
    )
    max_retry_wait_s: float = Field(
        60.0, ge=0, description="Longest Retry-After a rate-limited request waits for"
    )
    wait_s: int = Field(
        0,
        ge=0,
        le=60,
        description="Replicate: hold the create request open up to this many seconds (Prefer: "
        "wait); 0 stores the prediction id before waiting, so a restart can resume it",
    )
    queue_timeout_s: float | None = Field(
        None,
        gt=0,
        description="Give up on a job still waiting in the provider's queue after this many "
        "seconds (cancelled there), so a model with another route fails over; none: wait",
    )


class OpenAISettings(ProviderSettings):
    """OpenAI answers with the output itself (no job to poll), so one request lasts as long as
    the generation: a GPT image model takes up to a minute or two."""

    timeout_s: float = Field(
        300.0, gt=0, description="Read/write timeout of one request (the whole generation)"
    )


class ElevenLabsSettings(ProviderSettings):
    """ElevenLabs answers with the audio itself (no job to poll); its voices are read from the
    account (``GET /v1/voices``) and kept for ``voices_ttl_s``."""

    timeout_s: float = Field(
        120.0, gt=0, description="Read/write timeout of one request (the whole generation)"
    )
    voices_ttl_s: float = Field(
        300.0, ge=0, description="How long the account's voice list is kept before re-reading"
    )


class OpenAICompatibleSettings(BaseModel):
    """A server that speaks OpenAI's chat API (LocalAI, vLLM, Ollama…), as a named provider
    (``MEDIASTUDIO_PROVIDERS__OPENAI_COMPATIBLE__<NAME>__<FIELD>``). Its models are chat models
    ``<name>/<model>``; local servers often need no key."""

    base_url: str = Field(description="The API root, e.g. http://127.0.0.1:11434/v1 for Ollama")
    api_key: SecretStr | None = Field(None, description="Sent as a bearer token when set")
    models: str = Field(
        "", description="Comma-separated model ids it serves (Ollama: llama3.2, qwen2.5…)"
    )
    timeout_s: float = Field(
        120.0, gt=0, description="Read/write timeout of one request (the whole answer)"
    )
    max_retry_wait_s: float = Field(
        60.0, ge=0, description="Longest Retry-After a rate-limited request waits for"
    )

    @property
    def model_ids(self) -> tuple[str, ...]:
        # A comma-separated string, not a list: ``__MODELS=a,b`` reads naturally in an
        # environment, where a list would have to be written as JSON.
        return tuple(part.strip() for part in self.models.split(",") if part.strip())


class ProvidersSettings(BaseModel):
    replicate: ProviderSettings = Field(default_factory=ProviderSettings)
    fal: ProviderSettings = Field(default_factory=ProviderSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    elevenlabs: ElevenLabsSettings = Field(default_factory=ElevenLabsSettings)
    openai_compatible: dict[str, OpenAICompatibleSettings] = Field(
        default_factory=dict,
        description="OpenAI-compatible chat servers by name (lower-case letters, digits, - _)",
    )

    @field_validator("openai_compatible")
    @classmethod
    def _valid_names(
        cls, value: dict[str, OpenAICompatibleSettings]
    ) -> dict[str, OpenAICompatibleSettings]:
        reserved = {"openai", "replicate", "fal", "elevenlabs", "sandbox"}
        for name in value:
            if name in reserved or not _PROVIDER_NAME.fullmatch(name):
                raise ValueError(
                    f"OpenAI-compatible provider name {name!r}: use lower-case letters, digits,"
                    f" '-' or '_', and none of {sorted(reserved)}."
                )
        return value


def _default_plans() -> dict[str, Plan]:
    return {
        "free": Plan(
            rate_limit="60/minute",
            generation_rate_limit="5/10 seconds",
            daily_quotas={
                "image": 10,
                "image-edit": 10,
                "video": 2,
                "speech": 50,
                "music": 10,
                "background-removal": 20,
                "upscale": 20,
                "image-transform": 50,
                "product-enhancement": 5,
                "auto-clip": 2,
                "subtitles": 5,
                "dubbing": 2,
                "lipsync": 2,
                "avatar": 2,
                "translation": 20,
                "transcription": 20,
                "social-variants": 5,
                "commercial": 1,
                "script-video": 1,
                "instant-ad": 1,
                "chat": 50,
            },
            max_concurrent_jobs=1,
        ),
        "pro": Plan(
            rate_limit="600/minute",
            generation_rate_limit="20/10 seconds",
            daily_quotas={
                "image": 200,
                "image-edit": 200,
                "video": 50,
                "speech": 1000,
                "music": 200,
                "background-removal": 500,
                "upscale": 500,
                "image-transform": 1000,
                "product-enhancement": 100,
                "auto-clip": 50,
                "subtitles": 100,
                "dubbing": 50,
                "lipsync": 50,
                "avatar": 50,
                "translation": 500,
                "transcription": 500,
                "social-variants": 100,
                "commercial": 20,
                "script-video": 20,
                "instant-ad": 20,
            },
            max_concurrent_jobs=4,
        ),
        "enterprise": Plan(
            rate_limit="1200/minute",
            generation_rate_limit="50/10 seconds",
            daily_quotas={},
            max_concurrent_jobs=16,
        ),
        "unlimited": Plan(
            rate_limit=None, generation_rate_limit=None, daily_quotas={}, max_concurrent_jobs=None
        ),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEDIASTUDIO_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(Path(".mediastudio"), description="Where the embedded deployment lives")
    database_url: str | None = Field(
        None,
        description="Default: SQLite (WAL) in data_dir; postgresql://user@host/db for PostgreSQL",
    )
    database_pool_size: int = Field(
        10,
        gt=0,
        description="PostgreSQL: connections each process keeps (no overflow); SQLite ignores it",
    )
    storage_url: str | None = Field(
        None,
        description="Default: file:// under data_dir/files; s3://bucket/prefix for an object "
        "store (the s3 extra; see storage)",
    )
    storage: StorageSettings = Field(default_factory=StorageSettings)
    secret_key: str | None = Field(
        None, description="Signs output URLs; default: generated once into data_dir/secret_key"
    )
    public_url: str | None = Field(
        None, description="Base URL for links made outside a request; default: the request's"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    forwarded_allow_ips: str = Field(
        "",
        description="Comma-separated proxy addresses or CIDRs whose X-Forwarded-For and"
        " X-Forwarded-Proto are trusted ('*' for any); empty: no proxy is trusted and the client"
        " address is the connection's",
    )
    log_level: str = "info"

    rate_limit_storage: str = Field(
        "memory://",
        description="limits storage URI: memory:// counts in each process; redis://host:6379/0 "
        "shares the counters between every API process (the redis extra)",
    )
    rate_limit_key_prefix: str | None = Field(
        None,
        description="Prefix of the rate-limit keys in Redis; default: derived from the database, "
        "so processes on one database share windows and two deployments on one Redis do not",
    )
    plans: dict[str, Plan] = Field(default_factory=_default_plans)
    default_plan: str = "free"
    model_prices: dict[str, int] = Field(
        default_factory=dict, description="Credits per unit, by model id, overriding the engine's"
    )
    default_models: dict[str, str] = Field(
        default_factory=dict, description="Model used by /generate/{type} when none is given"
    )
    chat_default_model: str | None = Field(
        None,
        description="Chat model used when a request names none; default: openai/gpt-5.4-mini "
        "when OpenAI has a key, else the first model of the first OpenAI-compatible server",
    )
    model_lifecycle_date: date | None = Field(
        None,
        description="Judge the models' announced shutdown dates as of this day (UTC) instead of "
        "today: a model whose provider kept it running past its announced date stays usable, "
        "and a test suite stays the same whatever day it runs on (docs/providers.md#model-"
        "lifecycle)",
    )
    voice_clone_credits: int = Field(
        200,
        ge=0,
        description="Credits one voice cloning costs (POST /api/v1/voices; seed 003's standard "
        "training price); refunded when the cloning fails",
    )
    chat_abandoned_after_s: float = Field(
        900.0,
        gt=0,
        description="A chat message still unanswered (or a voice cloning still training) this "
        "long after it was sent was abandoned by a process that died: the sweeper refunds it "
        "(longer than any provider timeout)",
    )
    chat_history_max_messages: int = Field(
        50, ge=1, le=1000, description="Most earlier messages of a conversation sent with a new one"
    )

    engine_modules: list[str] = Field(
        default_factory=list,
        description="Extra modules with a register(registry) function, loaded like plugins",
    )
    disabled_engines: list[str] = Field(default_factory=list)
    providers: ProvidersSettings = Field(
        default_factory=ProvidersSettings, description="Hosted providers and their API keys"
    )

    workers_cpu: int = Field(2, ge=0)
    workers_gpu: int = Field(1, ge=0)
    workers_io: int = Field(8, ge=0)
    workers_remote: int = Field(
        256,
        ge=0,
        description="Slots for jobs that wait on a hosted provider: coroutines, not threads, so "
        "hundreds cost little",
    )
    broker_url: str | None = Field(
        None,
        description="Celery broker (amqp://guest:guest@127.0.0.1:5672// or redis://…) between "
        "the API and `mediastudio worker` processes (the distributed extra); unset: jobs run in "
        "the API process (docs/deployment.md#workers)",
    )
    broker_queue_prefix: str = Field(
        "mediastudio.",
        min_length=1,
        description="Start of the broker's queue names (mediastudio.cpu, mediastudio.gpu…): two "
        "deployments sharing one broker need different prefixes",
    )
    job_lease_s: float = Field(30.0, gt=0, description="A running job's lease; renewed while alive")
    job_max_attempts: int = Field(2, ge=1, description="Runs of one job before it fails for good")
    sweep_interval_s: float = Field(5.0, gt=0, description="How often expired leases are reclaimed")
    shutdown_grace_s: float = Field(10.0, ge=0, description="How long shutdown waits for engines")

    net_allow_hosts: str = Field(
        "",
        description="Comma-separated hosts, host:ports, IPs or CIDR ranges that user-supplied URLs"
        " may reach over http and on private addresses (e.g. for local development)",
    )
    net_ca_file: Path | None = Field(None, description="PEM bundle replacing the public CAs")
    input_max_bytes: int = Field(50 * 1024 * 1024, gt=0, description="Largest fetched input")
    input_fetch_timeout_s: float = Field(120.0, gt=0, description="Deadline for fetching one input")
    request_max_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="Largest request body outside uploads (big media: POST /api/v1/files)",
    )
    upload_max_bytes: int = Field(
        200 * 1024 * 1024, gt=0, description="Largest file POST /api/v1/files accepts"
    )
    openai_compat_wait_s: float = Field(
        300.0,
        gt=0,
        le=3600,
        description="How long the OpenAI-compatible /v1/ routes wait for a job before they"
        " cancel it (refunded) and answer 504: they answer with the output, not a job",
    )
    min_free_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Free disk space kept on the data volumes: below it uploads (507) and"
        " creates (503) are refused and /readyz answers 503, so accepted jobs and the"
        " database's own commits still have room",
    )
    templates_dir: Path | None = Field(
        None,
        description="A directory of your own template files (*.json, docs/templates.md), offered"
        " beside the built-in ones; every file is validated at start-up and a broken one stops"
        " the start with its path and the failing field",
    )
    image_memory_bytes: int = Field(
        1024 * 1024 * 1024,
        gt=0,
        description="Working memory one image-tool job may use (estimated per operation from the"
        " image's header): an image that would need more is refused with invalid_input before"
        " it is decoded; images are decoded smaller when the result allows",
    )

    local_device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="Where local models run (the [local] extra): auto picks the first CUDA GPU,"
        " else the CPU; or cpu, cuda, cuda:N",
    )
    local_dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto",
        description="Precision of local models' weights: auto is bf16 (fp16 on cards without"
        " bf16) on a GPU and fp32 on the CPU",
    )
    local_memory_bytes: int | None = Field(
        None,
        gt=0,
        description="Memory the resident local models may take on their device together; the"
        " least recently used is unloaded to fit another. Default: 80% of the GPU's memory, or"
        " of the machine's RAM on the CPU",
    )
    local_offload: Literal["auto", "none", "model", "sequential"] = Field(
        "auto",
        description="How a local diffusers pipeline sits on a GPU: auto keeps it wholly on the"
        " GPU when its weights (with room for activations) fit MEDIASTUDIO_LOCAL_MEMORY_BYTES,"
        " else moves its components to the GPU one at a time (model), or its layers when even"
        " the largest component does not fit (sequential, slow); none, model or sequential"
        " force one. The CPU has nothing to offload",
    )
    local_whisper_fallback: bool = Field(
        True,
        description="Whether a local Whisper decodes a window again at higher temperatures"
        " when its text looks wrong (repetitive, or unlikely: faster-whisper's fallback). Off,"
        " each window is decoded once: up to six times less CPU on hard audio, at some cost in"
        " quality",
    )

    webhook_retry_schedule: str = Field(
        "10,60,300,1800,7200,21600",
        description="Seconds between a failed webhook delivery and its next attempt, one per"
        " retry (comma-separated); after the last one the delivery is dead",
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="A delivery needs a 2xx within this")
    webhook_concurrency: int = Field(16, ge=1, description="Webhook deliveries in flight at once")
    webhook_per_endpoint_concurrency: int = Field(
        4, ge=1, description="Deliveries in flight to one endpoint (a slow one cannot take all)"
    )
    webhook_disable_after_days: float = Field(
        3.0, gt=0, description="An endpoint failing continuously this long is disabled"
    )
    webhook_max_endpoints: int = Field(
        20, ge=1, description="Webhook endpoints per account (each event is one row per endpoint)"
    )
    webhook_poll_interval_s: float = Field(1.0, gt=0, description="How often due retries are read")
    webhook_secret_overlap_s: int = Field(
        24 * 3600, ge=0, description="How long a rotated-out endpoint secret keeps signing"
    )

    creates_in_flight: int = Field(
        8,
        ge=1,
        description="Creates one API process works on at once; the rest wait their turn",
    )
    idempotency_ttl_s: int = 24 * 3600
    idempotency_lock_s: int = Field(60, description="An in-flight key older than this is abandoned")
    signed_url_ttl_s: int = 24 * 3600

    events_heartbeat_s: float = Field(
        15.0, gt=0, description="Live event streams send a keep-alive this often when idle"
    )
    events_buffer_size: int = Field(
        1000, ge=1, description="Events kept per account for Last-Event-ID resume"
    )
    events_snapshot_limit: int = Field(
        100, ge=0, description="Active generations sent as the initial state of GET /events"
    )
    events_catch_up_limit: int = Field(
        200,
        ge=0,
        description="Generations that finished while a GET /events listener was away (and the "
        "bus could not replay) sent when it resumes; past this, ready says too_far_behind",
    )
    events_access_recheck_s: float = Field(
        5.0,
        gt=0,
        description="Open event streams check this often that their key may still read "
        "(revoked, expired or rescoped keys end their streams)",
    )
    redis_url: str | None = Field(
        None,
        description="Redis shared by every API process and worker (the redis extra): the event "
        "bus, and the rate-limit storage unless rate_limit_storage is set",
    )
    event_bus: Literal["memory", "redis"] | None = Field(
        None,
        description="Where live events travel: memory (this process only) or redis (every "
        "process; needs redis_url); default: redis when redis_url is set",
    )
    redis_key_prefix: str | None = Field(
        None,
        description="Prefix of the event-bus keys in Redis; default: the rate-limit prefix",
    )
    ws_token_ttl_s: int = Field(
        60, gt=0, le=3600, description="Lifetime of a POST /ws/token token (WebSocket, SSE)"
    )

    dashboard_signup: bool = Field(
        False,
        description="The dashboard's sign-in page offers 'Create an account': anyone who reaches "
        "it may make an account (default plan, no credits) and its first user",
    )

    bootstrap: bool = Field(True, description="First serve on an empty database creates an account")
    bootstrap_credits: int = 1000
    bootstrap_plan: str = "pro"

    @field_validator("plans", mode="before")
    @classmethod
    def _merge_plans(cls, value: Any) -> Any:
        """Configured plans refine the defaults field by field (``MEDIASTUDIO_PLANS__FREE__
        RATE_LIMIT=…`` changes one limit of one plan) and may add new plans."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, dict[str, Any]] = {
            name: plan.model_dump() for name, plan in _default_plans().items()
        }
        for name, overrides in value.items():
            if isinstance(overrides, Plan):
                overrides = overrides.model_dump(exclude_unset=True)
            merged[name] = {**merged.get(name, {}), **overrides}
        return merged

    @field_validator("net_allow_hosts")
    @classmethod
    def _valid_allow_hosts(cls, value: str) -> str:
        parse_allow_hosts(value)  # a typo stops the server at start-up, not at the first fetch
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        _parse_schedule(value)
        return value

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _toml_file.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    # Derived values -----------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            # A plain PostgreSQL URL (what psql and most hosts hand out) means the asyncpg driver.
            for prefix in ("postgresql://", "postgres://"):
                if self.database_url.startswith(prefix):
                    return "postgresql+asyncpg://" + self.database_url[len(prefix) :]
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mediastudio.db').resolve()}"

    def resolved_rate_limit_key_prefix(self) -> str:
        if self.rate_limit_key_prefix:
            return self.rate_limit_key_prefix
        # The database is what makes processes one deployment; its password is left out so
        # that rotating it keeps the windows.
        database = make_url(self.resolved_database_url).set(password=None)
        digest = hashlib.sha256(database.render_as_string().encode()).hexdigest()[:16]
        return f"mediastudio:{digest}"

    @property
    def resolved_rate_limit_storage(self) -> str:
        """``rate_limit_storage`` when set, else ``redis_url`` when set, else ``memory://``."""
        if "rate_limit_storage" in self.model_fields_set or not self.redis_url:
            return self.rate_limit_storage
        return self.redis_url

    @property
    def resolved_event_bus(self) -> Literal["memory", "redis"]:
        if self.event_bus is not None:
            return self.event_bus
        return "redis" if self.redis_url else "memory"

    def resolved_redis_key_prefix(self) -> str:
        return self.redis_key_prefix or self.resolved_rate_limit_key_prefix()

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{(self.data_dir / 'files').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def local_volumes(self) -> list[Path]:
        """The folders on this machine that the platform writes to: the data directory (upload
        spool, job work directories), local storage and the SQLite file's folder."""
        folders = [self.data_dir.resolve()]
        storage = urlparse(self.resolved_storage_url)
        if storage.scheme == "file":
            folders.append(Path(os.path.expanduser(storage.path)))
        database = make_url(self.resolved_database_url)
        if database.get_backend_name() == "sqlite" and database.database not in (None, ":memory:"):
            folders.append(Path(database.database).expanduser().resolve().parent)
        return folders

    def plan(self, name: str) -> Plan:
        # An account whose plan was removed from configuration falls back to the default plan,
        # never to "unlimited".
        return self.plans.get(name) or self.plans[self.default_plan]

    def net_policy(self) -> NetPolicy:
        """What user-supplied URLs (engine inputs) may reach."""
        return NetPolicy(
            allow=parse_allow_hosts(self.net_allow_hosts),
            allow_setting="MEDIASTUDIO_NET_ALLOW_HOSTS",
            ca_file=self.net_ca_file,
            max_bytes=self.input_max_bytes,
            total_timeout_s=self.input_fetch_timeout_s,
        )

    def webhook_policy(self) -> NetPolicy:
        """What webhook deliveries may reach: the same allowlist, no redirects, a short deadline,
        and only an excerpt of each response read."""
        return replace(self.net_policy(), max_redirects=0, total_timeout_s=self.webhook_timeout_s)

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        return _parse_schedule(self.webhook_retry_schedule)

    def price_of(self, model_id: str, default: int) -> int:
        """Credits per unit of a model: the operator's ``model_prices`` over the engine's."""
        return self.model_prices.get(model_id, default)

    def workers_for(self, pool: str) -> int:
        return {
            "cpu": self.workers_cpu,
            "gpu": self.workers_gpu,
            "io": self.workers_io,
            "remote": self.workers_remote,
        }.get(pool, 1)

    def signing_key(self) -> bytes:
        """The HMAC key for signed URLs: configured, or created once inside the data directory."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            # Processes starting together on one data directory (an API and its worker) must
            # end up with one key: each writes its own candidate whole, then links it into
            # place; link fails for all but the first, and nobody reads a half-written file.
            self.data_dir.mkdir(parents=True, exist_ok=True)
            candidate = self.data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
                os.link(candidate, path)
            except FileExistsError:
                pass
            finally:
                candidate.unlink(missing_ok=True)
        return path.read_text().strip().encode()


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; ``config_file`` (or ``MEDIASTUDIO_CONFIG``) names an optional TOML file."""
    path = config_file or _env_path("MEDIASTUDIO_CONFIG")
    token = _toml_file.set(path)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _toml_file.reset(token)


def _parse_schedule(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(
            f"Invalid webhook retry schedule {text!r}: seconds, comma-separated."
        ) from exc
    if any(delay < 0 for delay in delays):
        raise ValueError(f"Invalid webhook retry schedule {text!r}: delays cannot be negative.")
    return delays


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None
