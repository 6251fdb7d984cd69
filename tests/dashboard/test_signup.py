"""Self-service sign-up: off by default (the routes are a 404 and the sign-in page has no
link), on with ``dashboard_signup``: a new account on the default plan and its first user,
signed in with a new session; the password rules, CSRF, the sign-in rate limit; a taken email
refused without saying more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from unittest.mock import AsyncMock

import httpx
import pytest
from sqlalchemy import func, select

from mediastudio.accounts import service as accounts
from mediastudio.accounts.models import Account
from mediastudio.users import service as users
from mediastudio.users.models import User, WebSession
from tests.conftest import Api, make_settings, open_api
from tests.dashboard.helpers import (
    PASSWORD,
    SESSION,
    csrf_of,
    make_user,
    sign_in,
    without_request_id,
)

SIGNUP = "/dashboard/signup"
XSS = '<script>alert("n")</script>'


@pytest.fixture
async def open_signup(tmp_path: Path, database_url: str | None) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path / "data", database_url=database_url, dashboard_signup=True)
    async with open_api(settings) as api:
        yield api


async def form(api: Api, **fields: str) -> dict[str, str]:
    page = await api.client.get(SIGNUP)
    assert page.status_code == 200, page.text
    return {
        "email": "new@example.com",
        "password": PASSWORD,
        "confirm_password": PASSWORD,
        "account_name": "New team",
        "csrf_token": csrf_of(page.text),
        **fields,
    }


async def counts(api: Api) -> tuple[int, int]:
    async with api.platform.db.read() as session:
        accounts_ = (await session.execute(select(func.count()).select_from(Account))).scalar()
        users_ = (await session.execute(select(func.count()).select_from(User))).scalar()
    return int(accounts_ or 0), int(users_ or 0)


async def test_sign_up_is_off_by_default_and_its_routes_are_a_404(api: Api) -> None:
    assert api.platform.settings.dashboard_signup is False
    login = await api.client.get("/dashboard/login")
    assert SIGNUP not in login.text and "Create an account" not in login.text
    unknown = without_request_id(await api.client.get("/dashboard/no-such-page"))
    unknown_post = without_request_id(await api.client.post("/dashboard/no-such-page"))
    assert without_request_id(await api.client.get(SIGNUP)) == unknown
    for data in ({}, {"email": "x@example.com", "password": PASSWORD, "csrf_token": "t"}):
        posted = await api.client.post(SIGNUP, data=data)
        assert without_request_id(posted) == unknown_post
    for method in ("HEAD", "PUT", "DELETE", "OPTIONS"):
        missing = await api.client.request(method, "/dashboard/no-such-page")
        got = await api.client.request(method, SIGNUP)
        assert without_request_id(got) == without_request_id(missing), method
    assert await counts(api) == (0, 0)


@pytest.mark.databases
async def test_sign_up_creates_the_account_and_its_user_and_signs_in(open_signup: Api) -> None:
    api = open_signup
    login = await api.client.get("/dashboard/login")
    assert f'href="{SIGNUP}"' in login.text and "Create an account" in login.text
    # The browser comes with a live session (someone else's, say): sign-up replaces it.
    await make_user(api, "old@example.com")
    assert (await sign_in(api.client, "old@example.com")).status_code == 303
    before = api.client.cookies[SESSION]
    fields = await form(api, email=" New@Example.com ", account_name=f"Team {XSS}")
    created = await api.client.post(SIGNUP, data=fields)
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/dashboard"
    token = api.client.cookies[SESSION]
    assert token != before
    async with api.platform.db.read() as session:
        account = await accounts.require(session, "new@example.com")
        (user,) = await users.users_of(session, account.id)
        hashes = set((await session.execute(select(WebSession.token_hash))).scalars())
    assert account.plan == api.platform.settings.default_plan
    assert account.credit_balance == 0 and account.name == f"Team {XSS}"
    assert user.email == "new@example.com" and not user.is_operator
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert hashes == {users.hash_token(token)}  # the session the browser came with is gone
    home = await api.client.get("/dashboard")
    assert home.status_code == 200 and "new@example.com" in home.text
    assert "<script>alert" not in home.text and "&lt;script&gt;" in home.text
    assert "/dashboard/operator" not in home.text  # a signed-up user is no operator

    # The same password signs in again (argon2, as users create stores it).
    await api.client.post("/dashboard/logout", data={"csrf_token": csrf_of(home.text)})
    page = await api.client.get("/dashboard/login")
    again = await api.client.post(
        "/dashboard/login",
        data={"email": "new@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert again.status_code == 303


async def test_bad_sign_ups_create_nothing(open_signup: Api) -> None:
    api = open_signup
    for fields, status in (
        ({"confirm_password": PASSWORD + "!"}, 400),
        ({"password": "short", "confirm_password": "short"}, 400),
        ({"email": "not-an-email"}, 400),
        ({"account_name": "x" * 201}, 400),
        ({"account_name": "tab\there"}, 400),
        ({"csrf_token": "forged"}, 403),
    ):
        refused = await api.client.post(SIGNUP, data=await form(api, **fields))
        assert refused.status_code == status and 'class="error"' in refused.text, fields
        assert SESSION not in api.client.cookies
    fields = await form(api)
    api.client.cookies.clear()  # the field without its cookie: not a double submit
    without_cookie = await api.client.post(SIGNUP, data=fields)
    assert without_cookie.status_code == 403
    assert await counts(api) == (0, 0)


@pytest.mark.databases
async def test_a_taken_email_is_refused_without_saying_more(open_signup: Api) -> None:
    api = open_signup
    owner = await make_user(api, "taken@example.com")  # an account and its user
    bare = await api.account("keys-only@example.com")  # an account with no user
    before = await counts(api)
    answers = []
    for email in ("taken@example.com", "TAKEN@example.com", "keys-only@example.com"):
        refused = await api.client.post(SIGNUP, data=await form(api, email=email))
        assert refused.status_code == 400
        assert users.SIGN_UP_REFUSED in refused.text
        assert owner not in refused.text and bare not in refused.text
        answers.append(refused.text.split('class="error"')[1].split("</p>")[0])
    assert len(set(answers)) == 1  # a user's email and an account's read the same
    assert await counts(api) == before


async def test_sign_up_shares_the_sign_in_rate_limit(open_signup: Api) -> None:
    api = open_signup
    limit = int(users.LOGIN_RATE_LIMIT.split("/")[0])
    for _ in range(limit):
        refused = await api.client.post(
            SIGNUP, data=await form(api, confirm_password="different-password")
        )
        assert refused.status_code == 400
    limited = await api.client.post(SIGNUP, data=await form(api))
    assert limited.status_code == 429
    page = await api.client.get("/dashboard/login")
    login = await api.client.post(
        "/dashboard/login",
        data={"email": "x@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert login.status_code == 429  # one counter per address for both forms
    assert await counts(api) == (0, 0)


@pytest.mark.databases
async def test_two_sign_ups_of_one_email_at_once_make_one_account(open_signup: Api) -> None:
    """Whichever loses the race (the lookup, or the database's unique index under it) gets the
    taken-email answer, never a 500."""
    api = open_signup
    transport = httpx.ASGITransport(app=api.client._transport.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        first = await form(api, email="race@example.com")
        page = await other.get(SIGNUP)
        second = {**first, "csrf_token": csrf_of(page.text)}
        answers = await asyncio.gather(
            api.client.post(SIGNUP, data=first), other.post(SIGNUP, data=second)
        )
    assert sorted(answer.status_code for answer in answers) == [303, 400]
    (refused,) = [answer for answer in answers if answer.status_code == 400]
    assert users.SIGN_UP_REFUSED in refused.text
    assert await counts(api) == (1, 1)


async def test_an_email_taken_between_the_lookup_and_the_insert_gets_the_same_refusal(
    open_signup: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race's other window: the other sign-up commits after this one's lookups found
    nothing, before its account insert checks again; the answer is still the sign-up's own
    words, not the operator CLI's ("An account with email … already exists")."""
    api = open_signup
    assert (await api.client.post(SIGNUP, data=await form(api))).status_code == 303
    missing = AsyncMock(return_value=None)
    monkeypatch.setattr(users.repository, "user_by_email", missing)
    monkeypatch.setattr(accounts, "find_by_email", missing)
    refused = await api.client.post(SIGNUP, data=await form(api))
    assert refused.status_code == 400
    assert users.SIGN_UP_REFUSED in refused.text and "already exists" not in refused.text
    assert missing.await_count == 2
    assert await counts(api) == (1, 1)
