"""HTTP for key management (seed 000): a web session's routes, never an API key's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from mediastudio.accounts import service as accounts
from mediastudio.keys import service
from mediastudio.keys.schemas import KeyCreate, KeyList, KeyRead, KeyWithSecret
from mediastudio.kit.errors import ERROR_RESPONSES, ErrorEnvelope
from mediastudio.platform import Platform, get_platform
from mediastudio.users.auth import SessionUser

_SESSION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorEnvelope, "description": "session_required (no session, or an API key)"},
    403: {"model": ErrorEnvelope, "description": "csrf_failed (no or a wrong X-CSRF-Token)"},
}
router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=_SESSION_RESPONSES)
PlatformDep = Annotated[Platform, Depends(get_platform)]
KeyId = Annotated[str, Path(max_length=40)]


@router.post("", status_code=201, response_model=KeyWithSecret, summary="Create an API key")
async def create_key(body: KeyCreate, platform: PlatformDep, user: SessionUser) -> KeyWithSecret:
    """Signed-in dashboard session and its ``X-CSRF-Token`` header only. The key is returned
    once."""
    async with platform.db.write() as session:
        account = await accounts.require(session, user.account_id)
        new = await service.create(
            session,
            account,
            name=body.name,
            sandbox=body.sandbox,
            scopes=body.scopes,
            ip_allowlist=body.ip_allowlist,
            expires_at=body.expires_at,
        )
    return KeyWithSecret(**KeyRead.of(new.key).model_dump(), key=new.secret)


@router.get("", response_model=KeyList, summary="List the account's API keys")
async def list_keys(platform: PlatformDep, user: SessionUser) -> KeyList:
    async with platform.db.read() as session:
        keys = await service.list_keys(session, user.account_id)
    return KeyList(data=[KeyRead.of(key) for key in keys])


@router.delete("/{key_id}", response_model=KeyRead, summary="Revoke an API key")
async def revoke_key(key_id: KeyId, platform: PlatformDep, user: SessionUser) -> KeyRead:
    """Requests with the key fail with ``invalid_api_key`` from the next one on, in every
    process (the key cache sees the change at once)."""
    async with platform.db.write() as session:
        key = await service.revoke(session, key_id, user.account_id)
    return KeyRead.of(key)
