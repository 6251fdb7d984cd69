"""Sign-in rules over HTTP: the cookie's attributes, a new session at every sign-in (no
fixation), CSRF on every mutation, the lockout, the per-address rate limit, sign-out and the
password change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from mediastudio.kit.clock import utcnow
from mediastudio.users import service as users
from mediastudio.users.models import User, WebSession
from tests.conftest import Api
from tests.dashboard.helpers import PASSWORD, SESSION, csrf_of, make_user, sign_in, signed_in


@pytest.fixture
async def browser(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A second cookie jar on the same app: another browser."""
    transport = httpx.ASGITransport(app=api.client._transport.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def session_cookie(response: httpx.Response) -> str:
    (cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION)]
    return cookie


async def session_rows(api: Api) -> list[WebSession]:
    async with api.platform.db.read() as session:
        return list((await session.execute(select(WebSession))).scalars().all())


async def test_sign_in_sets_a_hardened_cookie_and_the_home_page_needs_it(api: Api) -> None:
    await make_user(api)
    assert (await api.client.get("/dashboard")).headers["location"] == "/dashboard/login"
    assert (await api.client.get("/")).headers["location"] == "/dashboard"
    response = await sign_in(api.client)
    assert response.status_code == 303
    cookie = session_cookie(response)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # plain http (tests below: https)
    token = api.client.cookies[SESSION]
    # Only the token's hash is stored.
    assert [row.token_hash for row in await session_rows(api)] == [users.hash_token(token)]
    home = await api.client.get("/dashboard")
    assert home.status_code == 200 and "a@example.com" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]


async def test_the_cookie_is_secure_over_https(api: Api) -> None:
    await make_user(api)
    transport = httpx.ASGITransport(app=api.client._transport.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await sign_in(client)
    assert response.status_code == 303
    assert "secure" in session_cookie(response).lower().split("; ")


async def test_each_sign_in_makes_a_new_session_and_ends_the_one_brought(
    api: Api, browser: httpx.AsyncClient
) -> None:
    await make_user(api)
    await signed_in(api.client)
    first = api.client.cookies[SESSION]
    await signed_in(api.client)
    second = api.client.cookies[SESSION]
    assert second != first
    stale = await browser.get("/api/v1/keys", headers={"Cookie": f"{SESSION}={first}"})
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "session_required"
    assert len(await session_rows(api)) == 1
    # A token planted before sign-in (fixation) never becomes the session.
    page = await browser.get("/dashboard/login")
    browser.cookies.set(SESSION, "planted-by-an-attacker")
    form = {"email": "a@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    response = await browser.post("/dashboard/login", data=form)
    assert response.status_code == 303
    assert not session_cookie(response).startswith(f"{SESSION}=planted-by-an-attacker")
    assert users.hash_token("planted-by-an-attacker") not in {
        row.token_hash for row in await session_rows(api)
    }


async def test_mutations_without_the_csrf_token_are_refused_and_change_nothing(api: Api) -> None:
    await make_user(api)
    csrf = await signed_in(api.client)
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        refused = await api.client.post("/api/v1/keys", json={"name": "x"}, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        form = await api.client.post("/dashboard/keys", data={"name": "x"}, headers=headers)
        assert form.status_code == 403
    assert (await api.client.get("/api/v1/keys")).json()["data"] == []
    out = await api.client.post("/dashboard/logout", data={})
    assert out.status_code == 403
    assert (await api.client.get("/dashboard")).status_code == 200  # still signed in
    created = await api.client.post(
        "/api/v1/keys", json={"name": "x"}, headers={"X-CSRF-Token": csrf}
    )
    assert created.status_code == 201, created.text


async def test_the_sign_in_form_needs_its_own_csrf_token(
    api: Api, browser: httpx.AsyncClient
) -> None:
    await make_user(api)
    page = await api.client.get("/dashboard/login")
    token = csrf_of(page.text)
    # Another browser (a cross-site form) posting a token it does not hold the cookie of.
    forged = await browser.post(
        "/dashboard/login",
        data={"email": "a@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert forged.status_code == 403 and SESSION not in browser.cookies
    assert await session_rows(api) == []


async def test_wrong_passwords_lock_the_user_out(api: Api) -> None:
    await make_user(api)
    for _ in range(users.MAX_FAILED_LOGINS - 1):
        wrong = await sign_in(api.client, password="not the password")
        assert wrong.status_code == 401 and users.WRONG_CREDENTIALS in wrong.text
    locked = await sign_in(api.client, password="not the password")
    assert locked.status_code == 423
    # Locked: even the right password is refused, and no session is made.
    assert (await sign_in(api.client)).status_code == 423
    assert await session_rows(api) == []
    async with api.platform.db.write() as session:  # the lockout has run out
        await session.execute(update(User).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert (await sign_in(api.client)).status_code == 303
    async with api.platform.db.read() as session:
        user = (await session.execute(select(User))).scalar_one()
    assert (user.failed_logins, user.locked_until) == (0, None)


async def test_an_unknown_email_reads_like_a_wrong_password(api: Api) -> None:
    await make_user(api)
    unknown = await sign_in(api.client, email="nobody@example.com")
    wrong = await sign_in(api.client, password="not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert users.WRONG_CREDENTIALS in unknown.text and users.WRONG_CREDENTIALS in wrong.text


async def test_sign_in_attempts_are_rate_limited_per_address(api: Api) -> None:
    await make_user(api)
    limit = int(users.LOGIN_RATE_LIMIT.split("/")[0])
    for _ in range(limit):
        assert (await sign_in(api.client, email="nobody@example.com")).status_code == 401
    refused = await sign_in(api.client)  # even the right password: the address is spent
    assert refused.status_code == 429 and "Too many sign-in attempts" in refused.text
    assert await session_rows(api) == []


async def test_sign_out_ends_the_session(api: Api, browser: httpx.AsyncClient) -> None:
    await make_user(api)
    csrf = await signed_in(api.client)
    token = api.client.cookies[SESSION]
    out = await api.client.post("/dashboard/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    assert await session_rows(api) == []
    replayed = await browser.get("/api/v1/keys", headers={"Cookie": f"{SESSION}={token}"})
    assert replayed.status_code == 401


async def test_a_password_change_ends_the_other_sessions(
    api: Api, browser: httpx.AsyncClient
) -> None:
    await make_user(api)
    csrf = await signed_in(api.client)
    await signed_in(browser)
    form = {"csrf_token": csrf, "current_password": "wrong password!", "new_password": "n" * 12}
    wrong = await api.client.post(
        "/dashboard/password", data={**form, "confirm_password": "n" * 12}
    )
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    short = {
        **form,
        "current_password": PASSWORD,
        "new_password": "short",
        "confirm_password": "short",
    }
    assert (await api.client.post("/dashboard/password", data=short)).status_code == 400
    new = "a new password 2026"
    changed = await api.client.post(
        "/dashboard/password",
        data={**form, "current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert changed.status_code == 200 and "Password changed" in changed.text
    assert (await api.client.get("/api/v1/keys")).status_code == 200  # this session stays
    assert (await browser.get("/api/v1/keys")).status_code == 401  # the other one ended
    assert (await sign_in(browser)).status_code == 401  # the old password no longer works
    assert (await sign_in(browser, password=new)).status_code == 303
