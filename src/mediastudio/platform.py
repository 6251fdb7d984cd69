"""The running platform: every long-lived object, built once and shared.

``create_app``'s lifespan builds one for the API process; CLI commands build one without
workers. Nothing here is created at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from mediastudio.catalog.service import Catalog
from mediastudio.chat.catalog import ChatModels
from mediastudio.chat.service import ChatService
from mediastudio.compat.seed001.jobs import webhook_payload as seed001_webhook_payload
from mediastudio.engines.registry import EngineRegistry
from mediastudio.enhancements.present import event_fields as enhancement_event_fields
from mediastudio.files.service import FileService
from mediastudio.generations.service import GenerationService
from mediastudio.keys.cache import KeyCache
from mediastudio.kit.db import Database
from mediastudio.kit.disk import DiskGuard
from mediastudio.kit.events import EventBus, InProcessBus
from mediastudio.kit.ratelimit import RateLimiter
from mediastudio.kit.redis_events import RedisBus
from mediastudio.kit.storage import Storage, UrlSigner, storage_from_url
from mediastudio.runtime.celery_queue import CeleryQueue, celery_app
from mediastudio.runtime.dispatch import InlineDispatcher
from mediastudio.runtime.queue import JobQueue
from mediastudio.runtime.runner import JobRunner
from mediastudio.runtime.sweeper import Sweeper
from mediastudio.runtime.webhooks import WebhookSender
from mediastudio.settings import Settings
from mediastudio.voices.cloning import VoiceService
from mediastudio.webhooks.events import ENHANCEMENT_TYPE
from mediastudio.webhooks.formats import SEED001_FORMAT
from mediastudio.webhooks.outbox import WebhookOutbox
from mediastudio.webhooks.service import WebhookService

if TYPE_CHECKING:
    from mediastudio.kit.s3storage import S3Options


@dataclass
class Platform:
    settings: Settings
    db: Database
    registry: EngineRegistry
    catalog: Catalog
    signer: UrlSigner
    storage: Storage
    limiter: RateLimiter
    bus: EventBus
    runner: JobRunner
    # Where jobs are offered: the in-process dispatcher, or the broker when one is configured
    # (then ``dispatcher`` is None: jobs run in `mediastudio worker` processes).
    queue: JobQueue
    dispatcher: InlineDispatcher | None
    broker: CeleryQueue | None
    sweeper: Sweeper
    generations: GenerationService
    files: FileService
    outbox: WebhookOutbox
    webhooks: WebhookService
    sender: WebhookSender
    disk: DiskGuard
    chat: ChatService
    voices: VoiceService
    key_cache: KeyCache
    workers_started: bool = False

    @classmethod
    def build(cls, settings: Settings, *, pools: Collection[str] | None = None) -> Platform:
        """``pools``: the only pools this process's in-process workers run (default all)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url, pool_size=settings.database_pool_size)
        registry = EngineRegistry.discover(settings)
        catalog = Catalog(registry, settings)
        signer = UrlSigner(settings.signing_key())
        storage = storage_from_url(settings.resolved_storage_url, signer, s3_options(settings))
        bus = event_bus(settings)
        outbox = WebhookOutbox(
            settings,
            storage,
            {SEED001_FORMAT: seed001_webhook_payload},
            # Seed 004's batches: their events carry the batch as its status endpoint shows it.
            {ENHANCEMENT_TYPE: enhancement_event_fields},
        )
        runner = JobRunner(db, registry, storage, settings, bus, signer=signer, notify=outbox)
        dispatcher: InlineDispatcher | None = None
        broker: CeleryQueue | None = None
        queue: JobQueue
        if settings.broker_url:
            queue = broker = _broker(settings, registry)
        else:
            queue = dispatcher = InlineDispatcher(runner, settings, pools)
        disk = DiskGuard(settings.local_volumes(), settings.min_free_bytes)
        files = FileService(db, storage, disk)
        return cls(
            settings=settings,
            db=db,
            registry=registry,
            catalog=catalog,
            signer=signer,
            storage=storage,
            limiter=RateLimiter(
                settings.resolved_rate_limit_storage,
                key_prefix=settings.resolved_rate_limit_key_prefix(),
            ),
            bus=bus,
            runner=runner,
            queue=queue,
            dispatcher=dispatcher,
            broker=broker,
            sweeper=Sweeper(db, queue, settings, runner.worker_id, bus, notify=outbox),
            generations=GenerationService(
                db, settings, catalog, queue, storage, files, bus, disk, notify=outbox
            ),
            files=files,
            outbox=outbox,
            webhooks=WebhookService(db, settings, outbox),
            sender=WebhookSender(db, settings, outbox, runner.worker_id),
            disk=disk,
            chat=ChatService(db, settings, ChatModels(settings)),
            voices=VoiceService(db, settings, files, storage),
            key_cache=KeyCache(db.changes),
        )

    def signed_urls(self, client_base_url: str) -> Callable[[str], str]:
        """Storage key → signed download URL for one client: under ``public_url`` when one is
        configured, else under the address the client reached us at."""
        base_url = self.settings.public_url or client_base_url
        ttl = self.settings.signed_url_ttl_s
        return lambda key: self.storage.url(key, base_url=base_url, ttl_s=ttl)

    async def start_workers(self) -> None:
        """Start the in-process workers (none when a broker carries jobs to worker processes),
        recover what a previous process left, keep sweeping, send webhooks."""
        if self.dispatcher is not None:
            await self.dispatcher.start()
        await self.sweeper.sweep(startup=True)
        self.sweeper.start()
        await self.sender.recover()
        self.sender.start()
        self.workers_started = True

    async def close(self) -> None:
        if self.workers_started:
            await self.sweeper.stop()
            if self.dispatcher is not None:
                await self.dispatcher.stop()
            await self.sender.stop()
        if self.broker is not None:
            self.broker.close()
        if isinstance(self.bus, RedisBus):
            await self.bus.aclose()
        await self.registry.aclose()
        await self.chat.models.aclose()
        await self.voices.aclose()
        await self.db.dispose()


def _broker(settings: Settings, registry: EngineRegistry) -> CeleryQueue:
    """The broker queue. Redis hands an unacknowledged message out again after its visibility
    timeout: twice the longest job's deadline, so that a running job's message never is."""
    longest = max((spec.timeout_s for spec in registry.models()), default=600.0)
    assert settings.broker_url is not None
    prefix = settings.broker_queue_prefix
    app = celery_app(
        settings.broker_url,
        queue_prefix=prefix,
        visibility_timeout_s=2 * longest + settings.job_lease_s,
    )
    # An offer the sweeper repeats is sent again once per lease at most: a lost message delays
    # its job by about a lease, and a backlog does not multiply its messages.
    return CeleryQueue(app, queue_prefix=prefix, resend_after_s=settings.job_lease_s)


def event_bus(settings: Settings) -> EventBus:
    """The bus ``settings`` choose: this process's memory, or Redis for several processes."""
    # A listener's queue is half the replay buffer, so one that overflows can still be caught
    # up from the buffer instead of falling back to a snapshot.
    queue_size = max(1, settings.events_buffer_size // 2)
    if settings.resolved_event_bus == "memory":
        return InProcessBus(buffer_size=settings.events_buffer_size, queue_size=queue_size)
    if not settings.redis_url:
        raise ValueError("MEDIASTUDIO_EVENT_BUS=redis needs MEDIASTUDIO_REDIS_URL")
    return RedisBus(
        settings.redis_url,
        key_prefix=settings.resolved_redis_key_prefix(),
        buffer_size=settings.events_buffer_size,
        queue_size=queue_size,
    )


async def get_platform(request: Request) -> Platform:
    # async so FastAPI calls it inline rather than through its thread pool on every request
    platform: Platform = request.app.state.platform
    return platform


def s3_options(settings: Settings) -> S3Options | None:
    """``settings.storage`` for kit's S3 backend, when the storage URL is ``s3://`` (boto3 is
    only imported then)."""
    if not settings.resolved_storage_url.startswith("s3://"):
        return None
    from mediastudio.kit.s3storage import S3Options

    storage = settings.storage
    secret = storage.secret_access_key
    return S3Options(
        endpoint_url=storage.endpoint_url,
        public_endpoint_url=storage.public_endpoint_url,
        region=storage.region,
        access_key_id=storage.access_key_id,
        secret_access_key=None if secret is None else secret.get_secret_value(),
        addressing_style=storage.addressing_style,
        download_ttl_s=storage.download_ttl_s,
        multipart_threshold_bytes=storage.multipart_threshold_bytes,
        multipart_part_bytes=storage.multipart_part_bytes,
        downloads=storage.downloads,
    )
