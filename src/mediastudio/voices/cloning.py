"""Custom voices: cloned at a provider from the account's samples, with the speaker's consent.

Cloning is synchronous (``POST /voices`` answers the voice ``ready``): ElevenLabs' instant
cloning answers in seconds, with nothing to poll. Money moves in two short transactions around
the provider call, none held open while it runs (as chat's):

1. **Accept**: reserve the price, store the voice ``training`` with the consent given.
2. **Gather** the samples (uploads copied from storage; URLs through the SSRF-safe fetcher,
   stored as the account's files) and **clone** (no transaction open).
3. **Settle**: the voice ``ready`` with its provider id and samples, the price captured; on any
   failure the row is forgotten, the price refunded and the files fetched for it deleted (the
   account's own uploads stay: it may try again with them).

Delete: the provider's voice first (a voice it no longer has counts as deleted), then the
samples (the account's files), then the row becomes a tombstone (consent and sample hashes are
kept, nothing else is reachable). A provider failure leaves the voice ``deleting`` (speech
refuses it) and the DELETE answers 502: the same DELETE again finishes the job.

Sandbox keys never reach a provider: a placeholder voice of the same shape, free, usable by
sandbox speech.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.credits import service as credits
from mediastudio.engines.contract import EngineError, InvalidInput, InvalidPrompt, ProviderError
from mediastudio.engines.providers.elevenlabs.client import API_KEY_SETTING, ElevenLabs
from mediastudio.files.models import StoredFile
from mediastudio.files.service import FileService
from mediastudio.keys.principal import Principal
from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Database
from mediastudio.kit.errors import (
    Conflict,
    InvalidRequest,
    MediaStudioError,
    ModelUnavailable,
    NotFound,
    PromptRefused,
    ProviderFailed,
)
from mediastudio.kit.fetch import FetchError, fetch_input
from mediastudio.kit.ids import new_id
from mediastudio.kit.storage import Storage
from mediastudio.settings import Settings
from mediastudio.voices import repository
from mediastudio.voices.models import CustomVoice, VoiceStatus

logger = logging.getLogger("mediastudio.voices")

ELEVENLABS = "elevenlabs"
MAX_SAMPLES = 10  # seed 003's 1-10 files (ElevenLabs' instant cloning takes up to 25)
# What a caller affirms with ``consent: true``; stored with the voice, word for word.
CONSENT_STATEMENT = (
    "I own this voice or have the explicit, informed consent of its speaker to clone it, and "
    "I will not use the cloned voice to deceive, impersonate or harm anyone."
)
# Stores the idempotent response inside the settling transaction.
OnReady = Callable[[AsyncSession, CustomVoice], Awaitable[None]]


@dataclass(frozen=True)
class NewVoice:
    name: str
    samples: Sequence[str]  # file_… ids or URLs
    consent: bool
    description: str | None = None
    language: str | None = None
    remove_background_noise: bool = False


@dataclass(frozen=True)
class Capability:
    """Whether this server can clone voices for a live key, and at what price."""

    provider: str
    available: bool
    unavailable_reason: str | None
    credits: int


@dataclass(frozen=True)
class _Sample:
    file: StoredFile
    path: Path
    source: str  # "upload" or "url"


class VoiceService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        files: FileService,
        storage: Storage,
        cloners: Mapping[str, ElevenLabs] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.files = files
        self.storage = storage
        self.cloners: dict[str, ElevenLabs] = (
            dict(cloners) if cloners is not None else _cloners(settings)
        )

    def capability(self, principal: Principal) -> Capability:
        """Cloning as this key sees it (a sandbox key can always make placeholders)."""
        configured = ELEVENLABS in self.cloners
        available = principal.sandbox or configured
        return Capability(
            provider=ELEVENLABS,
            available=available,
            unavailable_reason=None if available else f"set {API_KEY_SETTING}",
            credits=0 if principal.sandbox else self.settings.voice_clone_credits,
        )

    # Create -----------------------------------------------------------------------------------

    async def clone(
        self, principal: Principal, request: NewVoice, *, on_ready: OnReady | None = None
    ) -> CustomVoice:
        """Clone a voice (see the module); the voice ``ready``, or the request's error."""
        cloner = self._cloner(principal)
        await self._check(principal, request)
        price = 0 if principal.sandbox else self.settings.voice_clone_credits
        voice = await self._accept(principal, request, price)
        fetched: list[StoredFile] = []
        try:
            # Under the data directory: storing a fetched sample moves it into file storage.
            with tempfile.TemporaryDirectory(
                prefix="voice-", dir=self.settings.data_dir
            ) as workdir:
                samples = await self._gather(principal, request.samples, Path(workdir), fetched)
                provider_id, verify = await self._make(cloner, voice, request, samples)
        except BaseException as exc:
            await asyncio.shield(self._forget(voice, price, fetched, exc))
            mapped = _http_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        values = {
            "status": VoiceStatus.READY,
            "provider_voice_id": provider_id,
            "requires_verification": verify,
            "samples": [_sample_record(s) for s in samples],
        }
        async with self.db.write() as session:
            await repository.set_values(session, voice.id, values)
            await credits.capture(session, principal.account_id, price, voice.id)
            for name, value in values.items():
                setattr(voice, name, value)
            if on_ready is not None:
                await on_ready(session, voice)
        return voice

    async def _check(self, principal: Principal, request: NewVoice) -> None:
        """What can be refused before any money moves: consent, the count, the uploads."""
        if not request.consent:
            raise InvalidRequest(
                "Cloning a voice needs the speaker's consent: send consent: true to affirm "
                f"{CONSENT_STATEMENT!r}",
                details={"fields": [{"field": "consent", "message": "must be true"}]},
            )
        if not 1 <= len(request.samples) <= MAX_SAMPLES:
            raise InvalidRequest(
                f"Send 1 to {MAX_SAMPLES} audio samples.",
                details={"fields": [{"field": "samples", "message": "wrong count"}]},
            )
        await self.files.check_owned(principal, [s for s in request.samples if _is_file(s)])
        for index, reference in enumerate(request.samples):
            if _is_file(reference):
                _require_audio(await self.files.get(principal, reference), f"samples[{index}]")

    def _cloner(self, principal: Principal) -> ElevenLabs | None:
        if principal.sandbox:
            return None
        cloner = self.cloners.get(ELEVENLABS)
        if cloner is None:
            raise ModelUnavailable(
                f"Voice cloning needs ElevenLabs, which this server has no key for (the "
                f"operator sets {API_KEY_SETTING}).",
                details={"provider": ELEVENLABS, "reason": f"set {API_KEY_SETTING}"},
            )
        return cloner

    async def _accept(self, principal: Principal, request: NewVoice, price: int) -> CustomVoice:
        now = utcnow()
        async with self.db.write() as session:
            voice = await repository.add(
                session,
                CustomVoice(
                    id=new_id("voice"),
                    account_id=principal.account_id,
                    sandbox=principal.sandbox,
                    api_key_id=principal.key_id,
                    name=request.name,
                    description=request.description,
                    language=request.language,
                    provider=ELEVENLABS,
                    status=VoiceStatus.TRAINING,
                    requires_verification=False,
                    samples=[],
                    consent={
                        "statement": CONSENT_STATEMENT,
                        "api_key_id": principal.key_id,
                        "given_at": now.isoformat(),
                    },
                    credits=price,
                    created_at=now,
                ),
            )
            await credits.reserve(session, principal.account_id, price, voice.id)
        return voice

    async def _gather(
        self,
        principal: Principal,
        references: Sequence[str],
        workdir: Path,
        fetched: list[StoredFile],
    ) -> list[_Sample]:
        """Every sample as a local file and an account file; URLs fetched are added to
        ``fetched`` as they are stored (deleted again if the cloning fails)."""
        samples: list[_Sample] = []
        policy = self.settings.net_policy()
        for index, reference in enumerate(references):
            field = f"samples[{index}]"
            if _is_file(reference):
                stored = await self.files.get(principal, reference)
                _require_audio(stored, field)
                path = workdir / f"sample-{index}{Path(stored.key).suffix}"
                await self.storage.copy_to(stored.key, path)
                samples.append(_Sample(stored, path, "upload"))
                continue
            try:
                path = await asyncio.to_thread(fetch_input, reference, workdir, policy)
            except FetchError as exc:
                raise InvalidRequest(
                    f"Sample {index} could not be fetched: {exc}",
                    details={"fields": [{"field": field, "message": str(exc)}]},
                ) from exc
            # Storing takes the fetched file (a move): the sample is read back from storage.
            stored = await self.files.upload(principal, path, _url_filename(reference, index))
            fetched.append(stored)
            _require_audio(stored, field)
            path = workdir / f"sample-{index}{Path(stored.key).suffix}"
            await self.storage.copy_to(stored.key, path)
            samples.append(_Sample(stored, path, "url"))
        return samples

    async def _make(
        self,
        cloner: ElevenLabs | None,
        voice: CustomVoice,
        request: NewVoice,
        samples: list[_Sample],
    ) -> tuple[str, bool]:
        if cloner is None:  # sandbox: a placeholder, no provider call
            return f"sandbox{secrets.token_hex(10)}", False
        labels = {"language": request.language} if request.language else None
        cloned = await cloner.clone(
            request.name,
            [sample.path for sample in samples],
            tag=voice.id,
            description=request.description,
            labels=labels,
            remove_background_noise=request.remove_background_noise,
        )
        return cloned.voice_id, cloned.requires_verification

    async def _forget(
        self, voice: CustomVoice, price: int, fetched: list[StoredFile], exc: BaseException
    ) -> None:
        """A cloning that failed: no voice, the price back, the fetched samples deleted."""
        reason = str(exc) or type(exc).__name__
        async with self.db.write() as session:
            await repository.remove(session, voice.id)
            await credits.refund(session, voice.account_id, price, voice.id, reason[:500])
        await self._delete_files(voice.account_id, voice.sandbox, [f.id for f in fetched])

    # Read -------------------------------------------------------------------------------------

    async def get(self, principal: Principal, voice_id: str) -> CustomVoice:
        # Another account's (or mode's) voice is indistinguishable from a missing one.
        async with self.db.read() as session:
            voice = await repository.get(
                session, principal.account_id, voice_id, sandbox=principal.sandbox
            )
        if voice is None:
            raise NotFound(f"No voice {voice_id!r}.")
        return voice

    async def owned(self, principal: Principal) -> Sequence[CustomVoice]:
        async with self.db.read() as session:
            return await repository.list_all(
                session, principal.account_id, sandbox=principal.sandbox
            )

    # Delete -----------------------------------------------------------------------------------

    async def delete(self, principal: Principal, voice_id: str) -> None:
        voice = await self.get(principal, voice_id)
        if voice.status == VoiceStatus.TRAINING:
            raise Conflict(f"Voice {voice_id} is still being cloned; delete it once it is ready.")
        async with self.db.write() as session:
            await repository.set_values(session, voice.id, {"status": VoiceStatus.DELETING})
        if not voice.sandbox and voice.provider_voice_id:
            await self._delete_at_provider(voice)
        await self._delete_files(
            voice.account_id, voice.sandbox, [s["file_id"] for s in voice.samples]
        )
        async with self.db.write() as session:
            await repository.set_values(
                session, voice.id, {"status": VoiceStatus.DELETED, "deleted_at": utcnow()}
            )

    async def _delete_at_provider(self, voice: CustomVoice) -> None:
        assert voice.provider_voice_id is not None
        cloner = self.cloners.get(voice.provider)
        if cloner is None:
            raise ModelUnavailable(
                f"Voice {voice.id} lives at ElevenLabs, which this server has no key for any "
                f"more ({API_KEY_SETTING}); it is unusable now, and DELETE again deletes it "
                "once the key is back.",
                details={"provider": voice.provider, "reason": f"set {API_KEY_SETTING}"},
            )
        try:
            gone = not await cloner.delete_voice(voice.provider_voice_id)
        except EngineError as exc:
            raise ProviderFailed(
                f"ElevenLabs could not delete the voice ({exc.message}); it is unusable now, "
                "and the same DELETE again finishes deleting it."
            ) from exc
        if gone:
            logger.info("voice %s was already gone at %s", voice.id, voice.provider)

    async def _delete_files(self, account_id: str, sandbox: bool, file_ids: list[str]) -> None:
        await self.files.delete_owned(account_id, sandbox, file_ids)

    async def aclose(self) -> None:
        for cloner in self.cloners.values():
            await cloner.aclose()


async def release_abandoned(session: AsyncSession, before: datetime) -> int:
    """Refund the clonings still ``training`` since before ``before``: the process that was
    awaiting the provider died (a live request settles or refunds its own, even when its client
    hangs up). Run by the sweeper; the voice is forgotten, as a failed cloning is."""
    abandoned = await repository.training_before(session, before)
    for voice in abandoned:
        await repository.remove(session, voice.id)
        await credits.refund(
            session,
            voice.account_id,
            voice.credits,
            voice.id,
            "voice cloning abandoned: the server stopped before the provider answered",
        )
    return len(abandoned)


async def usable_voice(
    db: Database, principal: Principal, voice_id: str, model_id: str, field: str = "voice"
) -> None:
    """Refuse, before any credit moves, a ``voice_…`` that this key's account has not cloned
    (or that is not ready, or not its model's provider's); another account's reads as missing."""
    async with db.read() as session:
        voice = await repository.get(
            session, principal.account_id, voice_id, sandbox=principal.sandbox
        )
    if voice is None:
        raise InvalidRequest(
            f"Unknown voice {voice_id}: clone one with POST /api/v1/voices.",
            details={"fields": [{"field": field, "message": "unknown voice"}]},
        )
    if voice.status != VoiceStatus.READY:
        raise InvalidRequest(
            f"Voice {voice_id} is {voice.status}, not ready.",
            details={"fields": [{"field": field, "message": f"voice is {voice.status}"}]},
        )
    if not model_id.startswith(f"{voice.provider}/"):
        raise InvalidRequest(
            f"Voice {voice_id} was cloned at {voice.provider}: use it with a {voice.provider}/… "
            "speech model.",
            details={"fields": [{"field": field, "message": "voice of another provider"}]},
        )


def _cloners(settings: Settings) -> dict[str, ElevenLabs]:
    elevenlabs = settings.providers.elevenlabs
    return {ELEVENLABS: ElevenLabs(elevenlabs)} if elevenlabs.api_key is not None else {}


def _is_file(reference: str) -> bool:
    return reference.startswith("file_")


def _require_audio(stored: StoredFile, field: str) -> None:
    if not stored.content_type.startswith("audio/"):
        raise InvalidRequest(
            f"Sample {stored.id} is {stored.content_type}; a voice is cloned from audio (WAV, "
            "MP3, Ogg, FLAC, M4A).",
            details={"fields": [{"field": field, "message": "not audio"}]},
        )


def _url_filename(url: str, index: int) -> str:
    if url[:5].lower() == "data:":
        return f"sample-{index}"
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name or f"sample-{index}"


def _sample_record(sample: _Sample) -> dict[str, Any]:
    return {
        "file_id": sample.file.id,
        "sha256": sample.file.sha256,
        "bytes": sample.file.bytes,
        "content_type": sample.file.content_type,
        "source": sample.source,
    }


def _http_error(exc: BaseException) -> BaseException:
    """An engine error as the request's error; anything else as it is."""
    if isinstance(exc, MediaStudioError):
        return exc
    if isinstance(exc, InvalidPrompt):
        return PromptRefused(exc.message)
    if isinstance(exc, InvalidInput):
        return InvalidRequest(exc.message)
    if isinstance(exc, ProviderError):
        return ProviderFailed(exc.message)
    return exc
