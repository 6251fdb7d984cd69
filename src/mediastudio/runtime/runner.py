"""The job runner: one generation's run, from claim to settled credits.

claim (conditional queued → processing, under the account's concurrency cap) → run the engine off
the event loop (a thread for plain engines) with a timeout → store its outputs → finish
(completed / partially_completed / failed, capture or refund) in one transaction. While the
engine runs, a heartbeat renews the job's lease and saves progress; if the job was cancelled or
taken away meanwhile, the heartbeat notices and stops the engine. A crash of engine code fails
the job, never the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import os
import secrets
import shutil
import socket
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mediastudio.accounts import repository as accounts
from mediastudio.engines.contract import (
    STOP_CANCELLED,
    STOP_LOST,
    STOP_SHUTDOWN,
    STOP_TIMEOUT,
    Engine,
    EngineError,
    InvalidInput,
    JobCancelled,
    ModelSpec,
)
from mediastudio.engines.registry import EngineRegistry
from mediastudio.files import repository as files_repository
from mediastudio.files.references import file_ids_in
from mediastudio.generations import lifecycle, repository
from mediastudio.generations.events import announce, progress_event
from mediastudio.generations.lifecycle import Outcome
from mediastudio.generations.models import Generation, Status
from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Database
from mediastudio.kit.disk import is_disk_full
from mediastudio.kit.events import EventBus
from mediastudio.kit.mediatypes import OCTET_STREAM, media_type
from mediastudio.kit.storage import Storage, UrlSigner
from mediastudio.runtime.context import JobContext, Persist
from mediastudio.runtime.inputs import SafeFetcher, StoredInputs
from mediastudio.runtime.settlement import quoted_steps, unmade_step_credits
from mediastudio.settings import Settings
from mediastudio.voices import repository as voices_repository
from mediastudio.voices.models import CUSTOM_VOICE_PREFIX, VoiceStatus

logger = logging.getLogger("mediastudio.runner")

HEARTBEAT_S = 0.5
# After a timeout, how long a coroutine engine may take to clean up once told why it stops
# (cancelling its provider's job) before the runner stops waiting for it.
STOP_GRACE_S = 10.0
STORAGE_FULL = "storage_full"  # the job's error code when the disk filled while it ran


class RunResult(enum.Enum):
    DONE = "done"
    SKIPPED = "skipped"  # not queued any more (cancelled, deleted, taken by another worker)
    DEFERRED = "deferred"  # the account is at its concurrency cap: offer it again later


@dataclass
class Claimed:
    generation: Generation
    spec: ModelSpec | None
    engine: Engine | None


class _Undo(Exception):
    """Rolls back a claim made in the same transaction; the run ends with ``result``."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(result.name)
        self.result = result


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True as soon as ``event`` is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class HeldWrites:
    """Group commit of the writes a worker makes on jobs it holds (heartbeats, checkpoints):
    every write waiting when the writer comes free goes in one transaction, each still
    conditional on the job being held. With hundreds of provider jobs in flight, SQLite's one
    writer would otherwise spend a transaction, several turns of a busy event loop, on each;
    claims and finishes of every pool queue behind those.

    The transaction runs in a task of its own, never cancelled by a caller that stops waiting
    (cancelling a task inside a database call can orphan the connection)."""

    def __init__(self, db: Database, worker_id: str) -> None:
        self.db = db
        self.worker_id = worker_id
        self._pending: list[tuple[str, dict[str, Any], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def update(self, generation_id: str, values: dict[str, Any]) -> bool:
        """Write ``values`` on the job while this worker holds it (False when it does not)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((generation_id, values, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="held-writes")
        return await future

    async def drain(self) -> None:
        """Wait for the writes already asked for (on shutdown, before requeueing)."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self.db.write() as session:
                    held = [
                        await repository.transition(
                            session,
                            generation_id,
                            from_statuses=[Status.PROCESSING],
                            worker_id=self.worker_id,
                            values=values,
                        )
                        for generation_id, values, _ in batch
                    ]
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), result in zip(batch, held, strict=True):
                if not future.done():  # its caller may have stopped waiting
                    future.set_result(result)


def _voice_named_as_asked(outcome: Outcome, sent: BaseModel, asked: BaseModel) -> Outcome:
    """An error that names the provider's id of a cloned voice (ElevenLabs' 404 for a voice
    deleted there meanwhile) names the account's ``voice_…`` instead: the provider's id is
    never shown."""
    sent_voice, asked_voice = getattr(sent, "voice", None), getattr(asked, "voice", None)
    message = outcome.error.get("message") if outcome.error else None
    if (
        outcome.error is None
        or not isinstance(message, str)
        or not isinstance(sent_voice, str)
        or not isinstance(asked_voice, str)
        or sent_voice == asked_voice
    ):
        return outcome
    outcome.error = {**outcome.error, "message": message.replace(sent_voice, asked_voice)}
    return outcome


class JobRunner:
    def __init__(
        self,
        db: Database,
        registry: EngineRegistry,
        storage: Storage,
        settings: Settings,
        bus: EventBus,
        worker_id: str | None = None,
        signer: UrlSigner | None = None,
        *,
        notify: lifecycle.Notifier,
    ) -> None:
        self.db = db
        self.registry = registry
        self.storage = storage
        self.settings = settings
        self.bus = bus
        self.worker_id = worker_id or make_worker_id()
        self.workroot = settings.data_dir / "work"
        self.net_policy = settings.net_policy()
        self.signer = signer or UrlSigner(settings.signing_key())
        self.notify = notify
        self._running: dict[str, JobContext] = {}
        self._held = HeldWrites(db, self.worker_id)

    def cancel(self, generation_id: str, reason: str) -> None:
        context = self._running.get(generation_id)
        if context is not None:
            context.cancel(reason)

    async def run(self, generation_id: str, executor: Executor | None = None) -> RunResult:
        claimed = await self._claim(generation_id)
        if not isinstance(claimed, Claimed):
            return claimed
        generation = claimed.generation
        if claimed.spec is None or claimed.engine is None:
            outcome = Outcome(
                Status.FAILED,
                error=lifecycle.error(
                    "engine_error", f"No engine serves model {generation.model!r} any more."
                ),
            )
            await self._finish(generation, outcome, [])
            return RunResult.DONE
        workdir = self.workroot / generation.id
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            await self._finish(generation, _storage_full(), [])
            return RunResult.DONE
        try:
            await self._run_claimed(generation, claimed.spec, claimed.engine, workdir, executor)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        return RunResult.DONE

    async def _claim(self, generation_id: str) -> Claimed | RunResult:
        lease_until = utcnow() + timedelta(seconds=self.settings.job_lease_s)
        try:
            async with self.db.write() as session:
                claim = await lifecycle.claim(session, generation_id, self.worker_id, lease_until)
                if claim is None:
                    return RunResult.SKIPPED
                generation = claim.generation
                if claim.plan is None:
                    raise _Undo(RunResult.SKIPPED)  # its account is being deleted
                cap = self.settings.plan(claim.plan).max_concurrent_jobs
                if cap is not None:
                    # Counted after the claim, so this job is among those processing. The lock
                    # makes this account's claims take turns (on PostgreSQL; SQLite already
                    # serialises writers), so two cannot both count before either commits.
                    await accounts.lock(session, generation.account_id)
                    if await repository.count_processing(session, generation.account_id) > cap:
                        raise _Undo(RunResult.DEFERRED)
                announce(session, self.bus, generation, Status.PROCESSING, generation.progress)
        except _Undo as undo:
            return undo.result  # the claim is rolled back: the job is queued as it was
        registered = self.registry.get(generation.model, generation.type)
        engine = self.registry.sandbox if generation.sandbox else None
        if registered is not None and engine is None:
            engine = registered.engine
        return Claimed(generation, registered.spec if registered else None, engine)

    async def _run_claimed(
        self,
        generation: Generation,
        spec: ModelSpec,
        engine: Engine,
        workdir: Path,
        executor: Executor | None,
    ) -> None:
        try:
            validated = spec.input_model.model_validate(generation.input)
        except ValidationError as exc:
            outcome = Outcome(
                Status.FAILED, error=lifecycle.error("invalid_input", _first_error(exc))
            )
            await self._finish(generation, outcome, [])
            return
        asked = validated
        try:
            validated = await self._with_voice(generation, validated)
        except InvalidInput as exc:
            outcome = Outcome(Status.FAILED, error=lifecycle.error(exc.code, exc.message))
            await self._finish(generation, outcome, [])
            return
        context = JobContext(
            generation_id=generation.id,
            model=spec,
            input=validated,
            sandbox=generation.sandbox,
            workdir=workdir,
            fetcher=SafeFetcher(workdir, self.net_policy, await self._stored_inputs(generation)),
            checkpoint=generation.checkpoint,
            loop=asyncio.get_running_loop(),
        )
        context.persist = self._checkpointer(generation, context)
        self._running[generation.id] = context
        # Stopped by an event, never cancelled: cancelling a task inside a database call can
        # orphan the connection while SQLite's write lock is still held.
        stop_heartbeat = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(generation, context, stop_heartbeat))
        try:
            outcome = _voice_named_as_asked(
                await self._execute(engine, context, spec.timeout_s, executor), validated, asked
            )
        finally:
            stop_heartbeat.set()
            await heartbeat
            self._running.pop(generation.id, None)
        if context.cancel_reason == STOP_SHUTDOWN:
            return  # requeue_held() puts the job back in the queue for the next start
        stored: list[dict[str, Any]] = []
        if outcome.status == Status.COMPLETED:
            stored, outcome = await self._store_or_fail(generation, context, outcome)
        price = self.settings.price_of(spec.id, spec.credits)
        steps_unmade = self._steps_unmade(spec, asked, context) if stored else 0
        outcome = _settle(
            outcome, stored, context, lifecycle.outstanding(generation), price, steps_unmade
        )
        outcome.provider = context.provider
        outcome.checkpoint = context.unsaved_checkpoint()
        if outcome.error and outcome.error.get("code") == STORAGE_FULL:
            # Free what the job wrote before the database commits its end: on a full volume
            # that commit needs the room more than the files do.
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        await self._finish(generation, outcome, stored)

    def _steps_unmade(self, spec: ModelSpec, asked: BaseModel, context: JobContext) -> int:
        """Credits the job's steps priced by the second reserved and did not make (see
        runtime/settlement.py), at the models' prices now."""

        def step_spec(model_id: str) -> ModelSpec | None:
            registered = self.registry.get(model_id)
            return registered.spec if registered is not None else None

        try:
            quoted = quoted_steps(spec, asked, step_spec)
        except Exception:  # engine code: the job keeps its outputs, its steps charged as quoted
            logger.exception("the steps of %s could not be listed to settle", context.generation_id)
            return 0
        return unmade_step_credits(quoted, context.steps_made, self.settings.price_of)

    async def _with_voice(self, generation: Generation, validated: BaseModel) -> BaseModel:
        """The input with a cloned voice (``voice_…``) replaced by its provider's voice id,
        read now: a voice deleted since the job was accepted fails it."""
        voice = getattr(validated, "voice", None)
        if not isinstance(voice, str) or not voice.startswith(CUSTOM_VOICE_PREFIX):
            return validated
        async with self.db.read() as session:
            row = await voices_repository.get(
                session, generation.account_id, voice, sandbox=generation.sandbox
            )
        if row is None or row.status != VoiceStatus.READY or not row.provider_voice_id:
            raise InvalidInput(f"The voice {voice} no longer exists or is being deleted.")
        return validated.model_copy(update={"voice": row.provider_voice_id})

    async def _update_held(self, generation_id: str, values: dict[str, Any]) -> bool:
        """Write ``values`` on the job while this worker still holds it (False when not),
        grouped with other jobs' writes (:class:`HeldWrites`)."""
        return await self._held.update(generation_id, values)

    def _checkpointer(self, generation: Generation, context: JobContext) -> Persist:
        """How the context stores what its engine remembers: on the row, only while this
        worker still holds the job (else the engine is told to stop, and why)."""

        async def persist(state: dict[str, Any], provider: str | None) -> bool:
            values: dict[str, Any] = {"checkpoint": state}
            if provider is not None:
                values["provider"] = provider
            held = await self._update_held(generation.id, values)
            if not held:
                context.cancel(await self._stop_reason(generation.id))
            return held

        return persist

    async def _stop_reason(self, generation_id: str) -> str:
        """Why a job this worker held is not its own any more: still active means another
        worker took it over (its remote work must go on), anything else that nobody will
        run it again."""
        async with self.db.read() as session:
            row = await repository.get(session, generation_id)
        if row is not None and row.status in lifecycle.ACTIVE:
            return STOP_LOST
        return STOP_CANCELLED

    async def _stored_inputs(self, generation: Generation) -> StoredInputs:
        ids = file_ids_in(generation.input)
        uploads: dict[str, str] = {}
        if ids:
            async with self.db.read() as session:
                uploads = await files_repository.keys_for(
                    session, generation.account_id, ids, sandbox=generation.sandbox
                )
        return StoredInputs(
            account_id=generation.account_id,
            storage=self.storage,
            signer=self.signer,
            loop=asyncio.get_running_loop(),
            uploads=uploads,
        )

    async def _execute(
        self, engine: Engine, context: JobContext, timeout_s: float, executor: Executor | None
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        try:
            work: asyncio.Future[Any]
            if inspect.iscoroutinefunction(engine.run):
                work = asyncio.ensure_future(engine.run(context))
            else:
                work = loop.run_in_executor(executor, engine.run, context)
            await _within(work, timeout_s, context)
        except TimeoutError:
            message = f"The job did not finish within {timeout_s:g} seconds."
            return Outcome(Status.FAILED, error=lifecycle.error("job_timeout", message))
        except JobCancelled:
            return Outcome(Status.CANCELLED, error=lifecycle.error("cancelled", "Cancelled."))
        except Exception as exc:
            # Before EngineError: an engine may wrap the OSError in its own error, and a full
            # disk is the server's condition whatever the engine called it.
            if is_disk_full(exc):
                logger.warning("disk full while %s ran: %s", context.generation_id, exc)
                return _storage_full()
            if isinstance(exc, EngineError):
                return Outcome(Status.FAILED, error=lifecycle.error(exc.code, exc.message))
            logger.exception("engine %s crashed on %s", engine.name, context.generation_id)
            message = "The engine failed unexpectedly."
            return Outcome(Status.FAILED, error=lifecycle.error("engine_error", message))
        return Outcome(Status.COMPLETED)

    async def _store(self, generation: Generation, context: JobContext) -> list[dict[str, Any]]:
        stored = []
        for index, output in enumerate(context.outputs):
            key = f"{generation.account_id}/{generation.id}/{index}{output.path.suffix}"
            size = await self.storage.put_file(key, output.path)
            item: dict[str, Any] = {
                "key": key,
                "content_type": _served_type(key, output.content_type),
                "bytes": size,
            }
            for name in ("width", "height", "duration_s"):
                value = getattr(output, name)
                if value is not None:
                    item[name] = value
            stored.append({**output.extra, **item})  # an extra never hides the key or size
        return stored

    async def _store_or_fail(
        self, generation: Generation, context: JobContext, outcome: Outcome
    ) -> tuple[list[dict[str, Any]], Outcome]:
        """Storage that fills up part way fails the job with ``storage_full`` and removes what
        was already stored: no half-stored result."""
        try:
            return await self._store(generation, context), outcome
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            logger.warning("storage full while storing %s: %s", generation.id, exc)
            await self.storage.delete_prefix(f"{generation.account_id}/{generation.id}")
            return [], _storage_full()

    async def _finish(
        self, generation: Generation, outcome: Outcome, stored: list[dict[str, Any]]
    ) -> None:
        async with self.db.write() as session:
            moved = await lifecycle.finish(
                session, generation, self.worker_id, outcome, notify=self.notify
            )
            if moved:
                progress = 100 if outcome.status != Status.FAILED else generation.progress
                announce(session, self.bus, generation, outcome.status, progress)
        if not moved and stored:
            # Cancelled, deleted or reclaimed while running: its files belong to nobody.
            await self.storage.delete_prefix(f"{generation.account_id}/{generation.id}")

    async def _heartbeat(
        self, generation: Generation, context: JobContext, stop: asyncio.Event
    ) -> None:
        lease = timedelta(seconds=self.settings.job_lease_s)
        renew_every = self.settings.job_lease_s / 3
        last_renewal = asyncio.get_running_loop().time()
        saved_progress = 0
        while not await wait_for_event(stop, HEARTBEAT_S):
            now = asyncio.get_running_loop().time()
            percent = min(context.percent, 99)
            if percent == saved_progress and now - last_renewal < renew_every:
                continue
            values: dict[str, Any] = {"progress": percent}
            if now - last_renewal >= renew_every:
                values["lease_expires_at"] = utcnow() + lease
                last_renewal = now
            try:
                held = await self._update_held(generation.id, values)
            except Exception as exc:
                if not is_disk_full(exc):
                    raise
                # A missed beat costs nothing while the lease lasts; the engine keeps running
                # and the next beat tries again (its own writes will say if space stays gone).
                logger.warning("heartbeat of %s not saved: %s", generation.id, exc)
                continue
            if not held:  # cancelled, deleted or reclaimed by another process
                context.cancel(await self._stop_reason(generation.id))
                return
            if percent != saved_progress:
                saved_progress = percent
                await self.bus.publish(progress_event(generation, percent))

    async def stop_unheld(self) -> None:
        """Stop the engines of the jobs this worker runs but no longer holds in the database:
        cancelled (or taken over) through another process, which cannot reach this one's
        engines. One query, whatever the number of running jobs; the heartbeat would notice
        too, but only at its next lease renewal."""
        running = set(self._running)
        if not running:
            return
        async with self.db.read() as session:
            held = {g.id for g in await repository.processing_held_by(session, self.worker_id)}
        for generation_id in running - held:
            context = self._running.get(generation_id)
            if context is not None and context.cancel_reason is None:
                context.cancel(await self._stop_reason(generation_id))

    def stop_all(self) -> None:
        """On shutdown: tell every running engine to stop."""
        for context in list(self._running.values()):
            context.cancel(STOP_SHUTDOWN)

    async def requeue_held(self) -> None:
        """On shutdown: put this worker's jobs back in the queue at once, rather than leaving
        them for the sweeper when their leases expire."""
        await self._held.drain()
        async with self.db.write() as session:
            for generation in await repository.processing_held_by(session, self.worker_id):
                requeued = await repository.transition(
                    session,
                    generation.id,
                    from_statuses=[Status.PROCESSING],
                    worker_id=self.worker_id,
                    values={
                        "status": Status.QUEUED,
                        "worker_id": None,
                        "lease_expires_at": None,
                        # Stopped on purpose, not lost: this run does not count as an attempt.
                        "attempts": max(0, generation.attempts - 1),
                    },
                )
                if requeued:
                    announce(session, self.bus, generation, Status.QUEUED, generation.progress)


async def _within(work: asyncio.Future[Any], timeout_s: float, context: JobContext) -> None:
    """Wait for the engine at most ``timeout_s`` (raising TimeoutError after). The context
    learns that the job timed out *before* a coroutine engine is cancelled, so the engine can
    tell a timeout (stop its provider's job) from a shutdown (leave it to be resumed), and it
    gets a short grace to do so. A thread cannot be cancelled: it sees the flag and stops."""
    try:
        await asyncio.wait_for(asyncio.shield(work), timeout_s)
    except TimeoutError:
        context.cancel(STOP_TIMEOUT)
        work.cancel()  # a thread's future: its late result is dropped, as before
        if isinstance(work, asyncio.Task):
            await asyncio.wait({work}, timeout=STOP_GRACE_S)
            if work.done() and not work.cancelled():
                work.exception()  # retrieved: it ended the way the timeout says
        raise
    except asyncio.CancelledError:
        work.cancel()  # this runner is being stopped: the engine stops with it
        raise


def _storage_full() -> Outcome:
    message = (
        "The server ran out of disk space while running this job; it was not charged. "
        "Retry it later."
    )
    return Outcome(Status.FAILED, error=lifecycle.error(STORAGE_FULL, message))


def _settle(
    outcome: Outcome,
    stored: list[dict[str, Any]],
    context: JobContext,
    reserved: int,
    price: int,
    steps_unmade: int = 0,
) -> Outcome:
    """Turn what the engine produced into a final status and the credits to capture: all that
    was reserved, less what failed units and seconds not made (``output_second``, the job's own
    and its steps', ``steps_unmade``: runtime/settlement.py) gave back. A failed job refunds
    everything, so its steps need no settling."""
    if outcome.status != Status.COMPLETED:
        return outcome
    if not stored:
        if not context.failures:
            reason = lifecycle.error("engine_error", "The engine produced no output.")
            return Outcome(Status.FAILED, error=reason)
        return Outcome(Status.FAILED, error=_failures_error(context.failures))
    # What the steps did not make is never charged; a sandbox job reserved none.
    reserved = max(0, reserved - steps_unmade)
    if context.failures:
        done = len(stored)
        charge = reserved * done // (done + len(context.failures))
        error = _failures_error(context.failures)
        return Outcome(Status.PARTIALLY_COMPLETED, outputs=stored, error=error, charge=charge)
    charge = max(0, reserved - _unmade(stored, context, price))
    return Outcome(Status.COMPLETED, outputs=stored, charge=charge, refund_reason=UNUSED_SECONDS)


# The ledger's reason for the seconds an ``output_second`` job reserved and did not make.
UNUSED_SECONDS = "unused_seconds"


def _unmade(stored: list[dict[str, Any]], context: JobContext, price: int) -> int:
    """Credits reserved for seconds of output the job did not make (a 4 s talking head
    reserved as 30 s): returned when it ends. Zero for models priced otherwise."""
    spec = context.model
    reserved_units = spec.units(context.input)
    made = spec.units_made([output.get("duration_s") for output in stored], reserved_units)
    return (reserved_units - made) * price


def _failures_error(failures: list[dict[str, Any]]) -> dict[str, Any]:
    """The job's error when units failed alone: the first failure's code and message, how many
    failed, and every failure with the extra fields its engine gave (e.g. a batch item's index)."""
    first = failures[0]
    return {
        **lifecycle.error(first["code"], first["message"]),
        "failed_outputs": len(failures),
        "failures": failures,
    }


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _served_type(key: str, declared: str) -> str:
    """The type the file's URL will be served with, which is what the client is told: an
    engine that declares another one for this extension is corrected (and logged)."""
    served = media_type(key)
    if declared != served and declared != OCTET_STREAM:
        logger.warning("output %s declared as %s is served as %s", key, declared, served)
    return served
