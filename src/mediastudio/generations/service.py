"""Generation rules: create (validate, quota, reserve, insert, enqueue), read, cancel, retry,
delete.

Accepting a job is a few indexed queries and one write transaction; the job reaches a worker
only after that transaction commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts import repository as accounts
from mediastudio.catalog.service import Catalog
from mediastudio.credits import service as credits
from mediastudio.engines.contract import ModelSpec
from mediastudio.engines.inputs import prompt_of
from mediastudio.files.references import file_ids_in
from mediastudio.files.service import FileService
from mediastudio.generations import lifecycle, repository
from mediastudio.generations.events import announce
from mediastudio.generations.models import Generation, Status
from mediastudio.generations.repository import Filters
from mediastudio.generations.schemas import present
from mediastudio.idempotency import service as idempotency
from mediastudio.keys.principal import Principal
from mediastudio.keys.service import ensure_scope, scope_for
from mediastudio.kit.clock import start_of_utc_day, utcnow
from mediastudio.kit.db import Database, after_commit
from mediastudio.kit.disk import DiskGuard
from mediastudio.kit.errors import Conflict, NotFound, QuotaExceeded, StorageUnavailable
from mediastudio.kit.events import EventBus
from mediastudio.kit.ids import new_id
from mediastudio.kit.storage import Storage
from mediastudio.runtime.queue import JobQueue
from mediastudio.settings import Settings
from mediastudio.voices.cloning import usable_voice
from mediastudio.voices.models import CUSTOM_VOICE_PREFIX
from mediastudio.webhooks.urls import check_without_dns


@dataclass(frozen=True)
class NewGeneration:
    """A create request after HTTP parsing: which model or type, the raw input, the envelope."""

    input: dict[str, Any]
    model: str | None = None
    type: str | None = None
    webhook_url: str | None = None
    metadata: dict[str, Any] | None = None
    external_id: str | None = None
    field_prefix: str = ""


@dataclass(frozen=True)
class Created:
    generation: Generation | None
    replay: idempotency.Replay | None = None


@dataclass(frozen=True)
class Page:
    items: Sequence[Generation]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        return self.items[-1].id if self.has_more and self.items else None


class GenerationService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        catalog: Catalog,
        queue: JobQueue,
        storage: Storage,
        files: FileService,
        bus: EventBus,
        disk: DiskGuard,
        *,
        notify: lifecycle.Notifier,
    ) -> None:
        self.bus = bus
        self.disk = disk
        self.files = files
        self.notify = notify
        self.db = db
        self.settings = settings
        self.catalog = catalog
        self.queue = queue
        self.storage = storage
        self._admitted = asyncio.Semaphore(settings.creates_in_flight)

    async def create(
        self,
        principal: Principal,
        request: NewGeneration,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> Created:
        async with self._admitted:
            return await self._create(principal, request, idempotency_key, fingerprint)

    async def _create(
        self,
        principal: Principal,
        request: NewGeneration,
        idempotency_key: str | None,
        fingerprint: str,
    ) -> Created:
        # Choosing a default model validates the input against the candidates: the chosen
        # one's result is kept rather than validated a second time.
        inputs: dict[str, BaseModel] = {}
        spec = self.catalog.resolve(
            request.model, request.type, principal, payload=request.input, validated=inputs
        )
        ensure_scope(principal, scope_for(spec.kind, spec.type))
        validated = inputs.get(spec.id)
        if validated is None:
            validated = self.catalog.validate(
                spec, request.input, field_prefix=request.field_prefix
            )
        if request.webhook_url is not None:
            # Refused now if it can be without DNS; a name is checked at every delivery.
            check_without_dns(
                request.webhook_url, self.settings.webhook_policy(), field="webhook_url"
            )
        await self.files.check_owned(principal, file_ids_in(request.input))
        self._ensure_room()
        validated, price = self.catalog.with_steps(spec, validated, principal)
        await self._check_voice(principal, spec, validated, request.field_prefix)
        if idempotency_key is not None:
            replay = await idempotency.claim(
                self.db, self.settings, principal, idempotency_key, fingerprint
            )
            if replay is not None:
                return Created(generation=None, replay=replay)
        try:
            async with self.db.write() as session:
                generation = await self._insert(session, principal, spec, validated, price, request)
                if idempotency_key is not None:
                    await idempotency.complete(
                        session,
                        principal,
                        idempotency_key,
                        202,
                        _stored_body(generation),
                    )
                after_commit(session, lambda: self.queue.enqueue(generation.id, spec.pool))
        except BaseException:
            if idempotency_key is not None:
                await idempotency.release(self.db, principal, idempotency_key)
            raise
        return Created(generation=generation)

    async def _check_voice(
        self, principal: Principal, spec: ModelSpec, validated: BaseModel, prefix: str
    ) -> None:
        """A cloned voice (``voice_…``) must be this account's, ready, of the provider of the
        model that speaks it (a composition's speech step's, see :func:`_speaking_model`); the
        runner hands the engine its provider id."""
        voice = getattr(validated, "voice", None)
        if isinstance(voice, str) and voice.startswith(CUSTOM_VOICE_PREFIX):
            model_id = _speaking_model(spec, validated)
            await usable_voice(self.db, principal, voice, model_id, field=f"{prefix}voice")

    def _ensure_room(self) -> None:
        """New work stops at the free-space floor, so that the jobs already accepted can still
        write their outputs and the database its commits (cancels, refunds, final statuses)."""
        if not self.disk.space().ok:
            raise StorageUnavailable()

    async def _insert(
        self,
        session: AsyncSession,
        principal: Principal,
        spec: ModelSpec,
        validated: BaseModel,
        price: int,
        request: NewGeneration,
    ) -> Generation:
        if not principal.sandbox:
            # Locking the account row first serialises this account's live creates (on
            # PostgreSQL; SQLite already serialises writers), so the quota count and the
            # reservation below cannot be raced. Sandbox creates have neither: no lock needed.
            account = await accounts.lock(session, principal.account_id)
            if account is None:
                raise NotFound("The account of this API key no longer exists.")
            await self._check_quota(session, account.id, account.plan, spec.type)
        generation = await repository.new(
            session,
            id=new_id("gen"),
            account_id=principal.account_id,
            api_key_id=principal.key_id,
            type=spec.type,
            model=spec.id,
            status=Status.QUEUED,
            input=validated.model_dump(mode="json", exclude_none=True),
            prompt=prompt_of(validated),
            progress=0,
            outputs=[],
            credits_reserved=price,
            sandbox=principal.sandbox,
            external_id=request.external_id,
            metadata_=request.metadata or {},
            webhook_url=request.webhook_url,
            pool=spec.pool,
            created_at=utcnow(),
        )
        await credits.reserve(session, principal.account_id, price, generation.id)
        return generation

    async def _check_quota(
        self, session: AsyncSession, account_id: str, plan_name: str, type_: str
    ) -> None:
        quota = self.settings.plan(plan_name).daily_quotas.get(type_)
        if quota is None:
            return
        since = start_of_utc_day(utcnow())
        used = await repository.count_of_type_since(session, account_id, type_, since)
        if used >= quota:
            raise QuotaExceeded(
                f"Your plan allows {quota} {type_} generations per day; the quota resets at "
                "00:00 UTC.",
                details={"type": type_, "quota": quota, "used": used},
            )

    async def get(self, principal: Principal, generation_id: str) -> Generation:
        # One statement (the row, its columns only): no transaction needed (kit/db.py).
        async with self.db.read_one() as session:
            generation = await repository.get_for_account(
                session, principal.account_id, generation_id, sandbox=principal.sandbox
            )
        if generation is None:
            raise NotFound(f"No generation {generation_id!r}.")
        return generation

    async def list(
        self,
        principal: Principal,
        filters: Filters,
        *,
        limit: int,
        offset: int,
        starting_after: str | None,
    ) -> Page:
        # One statement (a page, ``limit + 1`` rows, no count): no transaction needed.
        async with self.db.read_one() as session:
            rows = await repository.page(
                session,
                principal.account_id,
                filters,
                sandbox=principal.sandbox,
                limit=limit,
                offset=offset,
                starting_after=starting_after,
            )
        return Page(items=rows[:limit], has_more=len(rows) > limit)

    async def finished_since(
        self, principal: Principal, since: datetime, *, limit: int
    ) -> Sequence[Generation]:
        """The principal's generations (its account and mode) that ended after ``since``,
        oldest first; at most ``limit``."""
        async with self.db.read() as session:
            return await repository.finished_since(
                session, principal.account_id, since, sandbox=principal.sandbox, limit=limit
            )

    async def cancel(self, principal: Principal, generation_id: str) -> Generation:
        async with self.db.write() as session:
            generation = await self._owned(session, principal, generation_id, write=True)
            if not cancellable(generation):
                raise Conflict(
                    f"Generation {generation_id} is already {generation.status}; only queued "
                    "or processing generations can be cancelled."
                )
            if await lifecycle.cancel(
                session, generation, "Cancelled by the client.", notify=self.notify
            ):
                announce(session, self.bus, generation, Status.CANCELLED, generation.progress)
            after_commit(session, lambda: self.queue.cancel(generation_id))
        return await self.get(principal, generation_id)

    async def retry(self, principal: Principal, generation_id: str) -> Generation:
        async with self.db.write() as session:
            generation = await self._owned(session, principal, generation_id, write=True)
            if not retryable(generation):
                raise Conflict(
                    f"Generation {generation_id} is {generation.status}; only failed "
                    "generations can be retried."
                )
            spec = self.catalog.resolve(generation.model, generation.type, principal)
            validated = self.catalog.validate(spec, generation.input, field_prefix="input.")
            self._ensure_room()
            validated, price = self.catalog.with_steps(spec, validated, principal)
            if await lifecycle.retry(session, generation, price):
                announce(session, self.bus, generation, Status.QUEUED, 0)
            # Queued again: its earlier offer was used up by the run that failed.
            after_commit(session, lambda: self.queue.enqueue(generation_id, spec.pool, again=True))
        return await self.get(principal, generation_id)

    async def delete(self, principal: Principal, generation_id: str) -> None:
        async with self.db.write() as session:
            generation = await self._owned(session, principal, generation_id, write=True)
            if not Status(generation.status).is_terminal and await lifecycle.cancel(
                session, generation, "Deleted by the client.", notify=self.notify
            ):
                progress = generation.progress
                announce(session, self.bus, generation, Status.CANCELLED, progress, deleted=True)
            await repository.remove(session, generation_id)
            prefix = f"{generation.account_id}/{generation_id}"
            after_commit(session, lambda: self.queue.cancel(generation_id))
            after_commit(session, lambda: self.storage.delete_prefix(prefix))

    async def _owned(
        self, session: AsyncSession, principal: Principal, generation_id: str, *, write: bool
    ) -> Generation:
        # Another account's generation is indistinguishable from a missing one: 404, never 403.
        generation = await repository.get_for_account(
            session,
            principal.account_id,
            generation_id,
            sandbox=principal.sandbox,
            for_update=write,
        )
        if generation is None:
            raise NotFound(f"No generation {generation_id!r}.")
        if write:
            ensure_scope(principal, scope_for(self._kind(generation), generation.type))
        return generation

    def _kind(self, generation: Generation) -> str:
        registered = self.catalog.registry.get(generation.model, generation.type)
        return registered.spec.kind if registered else generation.type


def cancellable(generation: Generation) -> bool:
    """Whether :meth:`GenerationService.cancel` accepts this job (pages show the button only
    then)."""
    return not Status(generation.status).is_terminal


def retryable(generation: Generation) -> bool:
    """Whether :meth:`GenerationService.retry` accepts this job: only a failed one."""
    return generation.status == Status.FAILED


def _stored_body(generation: Generation) -> dict[str, Any]:
    return present(generation, _no_urls).model_dump(mode="json")


def _no_urls(key: str) -> str:  # a new generation has no outputs yet
    raise AssertionError(key)


def _speaking_model(spec: ModelSpec, validated: BaseModel) -> str:
    """The model that says a job's ``voice``: a composition's step that is handed the voice (a
    dub's speech step, named in its field by the catalog), else the job's own model."""
    for use in spec.uses(validated) if spec.uses is not None else ():
        named = getattr(validated, use.field, None)
        if "voice" in use.input and isinstance(named, str):
            return named
    return spec.id
