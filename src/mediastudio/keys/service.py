"""API key rules: minting, authenticating, revoking.

A key is ``ms_live_`` or ``ms_test_`` followed by 40 random base62 characters (about 238 bits).
Only its SHA-256 is stored: a database leak exposes no usable key, and lookup stays one indexed
equality query (a slow password hash is unnecessary for secrets of this entropy).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts.models import Account
from mediastudio.keys import repository
from mediastudio.keys.models import ApiKey
from mediastudio.keys.principal import Principal
from mediastudio.keys.repository import Credentials
from mediastudio.kit.clock import utcnow
from mediastudio.kit.errors import (
    ExpiredApiKey,
    InsufficientScope,
    InvalidApiKey,
    InvalidRequest,
    IpNotAllowed,
    NotFound,
)
from mediastudio.kit.ids import new_id

LIVE_PREFIX = "ms_live_"
TEST_PREFIX = "ms_test_"
SECRET_LENGTH = 40
ALL_SCOPES = (
    "read",
    "generate:image",
    "generate:video",
    "generate:audio",
    "chat",
    "webhooks",
    "keys",
)
# ``keys`` lets a key list the account's keys and mint keys (seed 001's /api/keys): only ever
# granted by name, so a key made with the defaults cannot outlive its own revocation by
# minting copies of itself.
KEYS_SCOPE = "keys"
DEFAULT_SCOPES = tuple(scope for scope in ALL_SCOPES if scope != KEYS_SCOPE)
# Any one of these lets a key upload inputs and control (cancel, retry, delete) its jobs; which
# jobs exactly is checked against the job's own kind.
GENERATE_SCOPES = frozenset({"generate:image", "generate:video", "generate:audio"})
_BASE62 = string.ascii_letters + string.digits
# last_used_at is a hint for people, not an audit log: write it at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(secret: str) -> bool:
    return secret.startswith((LIVE_PREFIX, TEST_PREFIX)) and len(secret) == 8 + SECRET_LENGTH


def parse_networks(entries: Sequence[str]) -> list[str]:
    """Normalise an IP allowlist (addresses or CIDR ranges); raise InvalidRequest on a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError as exc:
            raise InvalidRequest(f"Invalid IP address or CIDR range: {entry!r}") from exc
    return networks


def parse_scopes(scopes: Sequence[str] | None) -> list[str]:
    if scopes is None:
        return list(DEFAULT_SCOPES)
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise InvalidRequest(f"Unknown scopes {unknown}; valid scopes: {list(ALL_SCOPES)}")
    return [scope for scope in ALL_SCOPES if scope in scopes]


async def create(
    session: AsyncSession,
    account: Account,
    *,
    name: str,
    sandbox: bool = False,
    scopes: Sequence[str] | None = None,
    ip_allowlist: Sequence[str] = (),
    expires_at: datetime | None = None,
) -> NewKey:
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidRequest("expires_at must be in the future.")
    prefix = TEST_PREFIX if sandbox else LIVE_PREFIX
    secret = prefix + "".join(secrets.choice(_BASE62) for _ in range(SECRET_LENGTH))
    key = await repository.add(
        session,
        ApiKey(
            id=new_id("key"),
            account_id=account.id,
            name=name,
            key_hash=hash_secret(secret),
            prefix=secret[: len(prefix) + 4],
            last_four=secret[-4:],
            sandbox=sandbox,
            scopes=parse_scopes(scopes),
            ip_allowlist=parse_networks(ip_allowlist),
            expires_at=expires_at,
        ),
    )
    return NewKey(key=key, secret=secret)


async def create_from_key(
    session: AsyncSession, account: Account, creator_id: str, *, name: str
) -> NewKey:
    """A key minted by another key (seed 001's ``POST /api/keys``), never worth more than its
    creator: the creator's scopes less ``keys`` (a minted key mints nothing), its mode (a
    sandbox key mints sandbox keys), its IP allowlist and its expiry."""
    creator = await repository.get_credentials(session, creator_id)
    if creator is None or creator.account_id != account.id:
        raise InvalidApiKey()
    return await create(
        session,
        account,
        name=name,
        sandbox=creator.sandbox,
        scopes=[scope for scope in creator.scopes if scope != KEYS_SCOPE],
        ip_allowlist=creator.ip_allowlist,
        expires_at=creator.expires_at,
    )


async def authenticate(
    session: AsyncSession, secret: str, client_ip: str | None, now: datetime
) -> Credentials:
    """The key with its account's plan, read from the database, or the precise reason it is
    refused. Requests reach it through the key cache (keys/auth.py, keys/cache.py)."""
    if not looks_like_key(secret):
        raise InvalidApiKey()
    key = await repository.find_credentials(session, hash_secret(secret))
    if key is None:
        raise InvalidApiKey()
    check_usable(key, client_ip, now)
    return key


async def authenticate_id(
    session: AsyncSession, key_id: str, client_ip: str | None, now: datetime
) -> Credentials:
    """Like :func:`authenticate`, for a key named by id (by a signed short-lived token)."""
    key = await repository.get_credentials(session, key_id)
    if key is None:
        raise InvalidApiKey("The API key behind this token no longer exists.")
    check_usable(key, client_ip, now)
    return key


def check_usable(key: Credentials, client_ip: str | None, now: datetime) -> None:
    if key.revoked_at is not None:
        raise InvalidApiKey("The API key has been revoked.")
    if key.expires_at is not None and key.expires_at <= now:
        raise ExpiredApiKey()
    if key.ip_allowlist and not ip_allowed(client_ip, key.ip_allowlist):
        raise IpNotAllowed(f"Requests from {client_ip} are not allowed for this API key.")


def ip_allowed(client_ip: str | None, allowlist: Sequence[str]) -> bool:
    if client_ip is None:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(entry) for entry in allowlist)


def needs_touch(key: Credentials, now: datetime) -> bool:
    return key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION


async def touch(session: AsyncSession, key_id: str, now: datetime) -> None:
    await repository.touch(session, key_id, now)


async def revoke(session: AsyncSession, key_id: str, account_id: str | None = None) -> ApiKey:
    """Revoke a key; with ``account_id``, only that account's (another's is not found)."""
    key = await repository.get(session, key_id)
    if key is None or (account_id is not None and key.account_id != account_id):
        raise NotFound(f"No API key {key_id!r}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key


async def list_keys(session: AsyncSession, account_id: str | None = None) -> Sequence[ApiKey]:
    return await repository.list_for(session, account_id)


def status_of(key: ApiKey, now: datetime) -> str:
    """``active``, ``revoked`` or ``expired``, as people are shown it."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


_SCOPE_BY_KIND = {
    "image": "generate:image",
    "video": "generate:video",
    "audio": "generate:audio",
    "speech": "generate:audio",
    "music": "generate:audio",
}


# Job types whose outputs are files (no media kind) but whose work is on a kind of media.
_SCOPE_BY_TYPE = {"transcription": "generate:audio"}


def scope_for(output_kind: str, type_: str | None = None) -> str:
    """The scope that creating a job with this kind of output needs (seed 000's scopes, with
    ``generate:audio`` covering speech, music and transcription)."""
    by_type = _SCOPE_BY_TYPE.get(type_ or "")
    return by_type or _SCOPE_BY_KIND.get(output_kind, "generate:image")


def ensure_any_scope(principal: Principal, scopes: frozenset[str]) -> None:
    if not principal.scopes & scopes:
        wanted = " or ".join(f"'{scope}'" for scope in sorted(scopes))
        raise InsufficientScope(
            f"This request needs one of the scopes {wanted}.",
            details={"required": sorted(scopes), "granted": sorted(principal.scopes)},
        )


def ensure_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise InsufficientScope(
            f"This request needs the '{scope}' scope.",
            details={"required": scope, "granted": sorted(principal.scopes)},
        )
