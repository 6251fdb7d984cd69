"""Sign-in rules: users and their passwords, web sessions, CSRF tokens, the lockout.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile) in a
thread, so a sign-in never blocks the event loop. A web session is a random 256-bit token in an
HttpOnly cookie; the database keeps only its SHA-256 (as for API keys: a fast hash suffices for
a secret of this entropy). Every sign-in makes a new token and drops the one the browser came
with (no session fixation); a password change ends every other session of the user.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts import service as accounts
from mediastudio.kit.errors import InvalidRequest, MediaStudioError
from mediastudio.kit.ids import new_id
from mediastudio.users import repository
from mediastudio.users.models import User, WebSession

if TYPE_CHECKING:
    from mediastudio.settings import Settings

SESSION_TTL = timedelta(hours=12)
# Wrong passwords in a row before the user is locked out, and for how long.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 accepts more; a bound keeps one request's work bounded
# Sign-in attempts per client address (kit/ratelimit.py's syntax), before any password check.
LOGIN_RATE_LIMIT = "10/minute"


class SessionRequired(MediaStudioError):
    code, status = "session_required", 401
    default_message = "Sign in to the dashboard: this route takes a web session, not an API key."


class CsrfFailed(MediaStudioError):
    code, status = "csrf_failed", 403
    default_message = "The CSRF token is missing or wrong; reload the page and try again."


@dataclass(frozen=True, slots=True)
class Current:
    """Who a web session belongs to, as plain values (no ORM object outlives its session)."""

    user_id: str
    account_id: str
    email: str
    is_operator: bool
    token_hash: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    current: Current
    token: str  # the cookie's value: shown to the browser once, stored nowhere


@dataclass(frozen=True, slots=True)
class Refused:
    """A sign-in refused. The counter it moved must be committed, so it is returned, not
    raised (raising would roll the write back)."""

    message: str
    locked: bool = False


WRONG_CREDENTIALS = "Wrong email or password."
# A sign-up whose email is taken, by a user or an account: it says no more than that (not
# whose, not which of the two), and the form costs the same argon2 time either way.
SIGN_UP_REFUSED = (
    "An account cannot be created with this email. If it is yours, sign in, or use another."
)
LOCKED = "Too many wrong passwords: this user is locked out for a while. Try again later."


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the email is unknown, so an unknown email costs as much
    time as a wrong password and does not tell itself apart."""
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def hash_password(password: str) -> str:
    check_password_rules(password)
    return await asyncio.to_thread(_hasher().hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher().verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"A password has at most {MAX_PASSWORD_LENGTH} characters.")


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise InvalidRequest("A user needs an email address.")
    return email


async def create_user(
    session: AsyncSession,
    *,
    account_id: str,
    email: str,
    password: str,
    is_operator: bool = False,
) -> User:
    email = normalise_email(email)
    if await repository.user_by_email(session, email) is not None:
        raise InvalidRequest(f"A user with email {email} already exists.")
    return await repository.add_user(
        session,
        User(
            id=new_id("usr"),
            account_id=account_id,
            email=email,
            password_hash=await hash_password(password),
            is_operator=is_operator,
        ),
    )


async def sign_up(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    account_name: str,
    now: datetime,
    replacing: str | None = None,
) -> SignedIn:
    """Self-service sign-up (the dashboard's, when ``dashboard_signup`` is on): a new account
    on the default plan, with no credits, and its first user, signed in at once. The rules are
    ``users create``'s and ``accounts create``'s; ``replacing`` ends the browser's old session
    as sign-in does, so no session chosen before survives."""
    if replacing:
        await repository.delete_session(session, hash_token(replacing))
    email = normalise_email(email)
    name = accounts.check_name(account_name)
    # Hashed before the lookup, so a taken email answers after the same argon2 time.
    password_hash = await hash_password(password)
    taken = await repository.user_by_email(session, email) is not None
    if taken or await accounts.find_by_email(session, email) is not None:
        raise InvalidRequest(SIGN_UP_REFUSED)
    try:
        account = await accounts.create(session, settings, email=email, name=name)
    except accounts.EmailTaken:
        # Another sign-up of this email committed since the lookup above: the same answer,
        # not the operator CLI's wording.
        raise InvalidRequest(SIGN_UP_REFUSED) from None
    user = await repository.add_user(
        session,
        User(id=new_id("usr"), account_id=account.id, email=email, password_hash=password_hash),
    )
    return await _open(session, user, now)


async def users_of(session: AsyncSession, account_id: str) -> Sequence[User]:
    return await repository.users_of(session, account_id)


async def sign_in(
    session: AsyncSession,
    email: str,
    password: str,
    now: datetime,
    *,
    replacing: str | None = None,
) -> SignedIn | Refused:
    """Check the password and open a new session; ``replacing`` (the token the browser came
    with, if any) is ended whatever the outcome, so no session chosen before sign-in survives
    it."""
    if replacing:
        await repository.delete_session(session, hash_token(replacing))
    user = await repository.user_by_email(session, email.strip().lower())
    if user is None or user.password_hash is None:
        await _verify(_dummy_hash(), password)
        return Refused(WRONG_CREDENTIALS)
    if user.locked_until is not None and user.locked_until > now:
        return Refused(LOCKED, locked=True)
    if not await _verify(user.password_hash, password[:MAX_PASSWORD_LENGTH]):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.failed_logins, user.locked_until = 0, now + LOCKOUT
            await session.flush()
            return Refused(LOCKED, locked=True)
        await session.flush()
        return Refused(WRONG_CREDENTIALS)
    user.failed_logins, user.locked_until = 0, None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(_hasher().hash, password)
    await repository.delete_expired(session, now)
    return await _open(session, user, now)


async def _open(session: AsyncSession, user: User, now: datetime) -> SignedIn:
    token = secrets.token_urlsafe(32)
    row = await repository.add_session(
        session,
        WebSession(
            token_hash=hash_token(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_TTL,
        ),
    )
    return SignedIn(current=_current(row, user), token=token)


def _current(row: WebSession, user: User) -> Current:
    return Current(
        user_id=user.id,
        account_id=user.account_id,
        email=user.email,
        is_operator=user.is_operator,
        token_hash=row.token_hash,
        csrf_token=row.csrf_token,
    )


async def resolve(session: AsyncSession, token: str, now: datetime) -> Current | None:
    """The user a session cookie belongs to; None when unknown or expired."""
    found = await repository.session_with_user(session, hash_token(token), now)
    return _current(*found) if found else None


async def sign_out(session: AsyncSession, current: Current) -> None:
    await repository.delete_session(session, current.token_hash)


def check_csrf(current: Current, supplied: str | None) -> None:
    if not supplied or not hmac.compare_digest(supplied.encode(), current.csrf_token.encode()):
        raise CsrfFailed()


async def change_password(
    session: AsyncSession, current: Current, old_password: str, new_password: str
) -> None:
    """Set a new password; every other session of the user ends (this one stays)."""
    user = await repository.get_user(session, current.user_id)
    if user is None or user.password_hash is None:
        raise SessionRequired()
    if not await _verify(user.password_hash, old_password[:MAX_PASSWORD_LENGTH]):
        raise InvalidRequest("The current password is wrong.")
    user.password_hash = await hash_password(new_password)
    await repository.delete_sessions_of(session, user.id, keep=current.token_hash)
    await session.flush()
