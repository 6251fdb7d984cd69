"""The Webhooks pages: endpoints added (through the API's URL checks), listed, their events
edited, secret rotated, disabled, enabled and deleted through the API's WebhookService, read
back through the API; test events delivered to a real receiver on loopback, the delivery log of
each mode and Redeliver; CSRF on every form, another account's endpoint and delivery 404, a
hostile URL and description escaped, the page in every page's navigation."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediastudio.webhooks.models import WebhookEndpoint
from tests.conftest import Api, auth, make_settings, open_api
from tests.dashboard.helpers import make_user, signed_in
from tests.fetch_servers import LoopbackServer
from tests.webhooks.receivers import Script

WEBHOOKS = "/dashboard/webhooks"
XSS = '<script>alert("w")</script>'
FAST = {
    "net_allow_hosts": "127.0.0.1",
    "webhook_retry_schedule": "0.2,0.2,0.2",
    "webhook_poll_interval_s": 0.1,
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(make_settings(tmp_path / "data", **FAST)) as opened:
        yield opened


async def _hooks(api: Api, key: str) -> list[dict[str, Any]]:
    response = await api.client.get("/api/v1/webhooks", headers=auth(key))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def _settled(api: Api, key: str, hook_id: str, count: int) -> list[dict[str, Any]]:
    """The endpoint's deliveries (of the key's mode), once ``count`` exist and none is pending."""
    deadline = time.monotonic() + 60
    while True:
        response = await api.client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=auth(key))
        rows: list[dict[str, Any]] = response.json()["data"]
        if len(rows) >= count and all(row["status"] != "pending" for row in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


def _row(html: str, delivery_id: str) -> str:
    return html.split(f'<tr id="delivery-{delivery_id}"')[1].split("</tr>")[0]


async def test_add_edit_test_redeliver_rotate_disable_and_delete(api: Api) -> None:
    account = await make_user(api)
    live, test = await api.key(account), await api.key(account, sandbox=True)
    csrf = await signed_in(api.client)
    script = Script(answers=[200])
    with LoopbackServer({"/hook": script.route()}) as receiver:
        url = receiver.url("/hook")
        form = {"csrf_token": csrf, "url": url, "description": "orders"}
        added = await api.client.post(
            WEBHOOKS, data={**form, "events": ["generation.completed", "generation.failed"]}
        )
        assert added.status_code == 201, added.text
        secret = re.search(r'id="new-secret">(whsec_[^<]+)<', added.text)
        assert secret, added.text
        (hook,) = await _hooks(api, live)
        assert hook["url"] == url
        assert hook["events"] == ["generation.completed", "generation.failed"]
        assert hook["description"] == "orders" and hook["enabled"] is True
        assert await _hooks(api, test) == [hook]  # endpoints have no mode
        listed = await api.client.get(WEBHOOKS)
        assert f'href="{WEBHOOKS}/{hook["id"]}">{url}</a>' in listed.text
        assert "generation.completed, generation.failed" in listed.text
        assert "<td>mediastudio</td>" in listed.text  # the payload format
        assert "whsec_" not in listed.text  # once only

        page = f"{WEBHOOKS}/{hook['id']}"
        edited = await api.client.post(
            f"{page}/events", data={"csrf_token": csrf, "events": ["generation.cancelled"]}
        )
        assert edited.status_code == 303 and edited.headers["location"] == page
        assert (await _hooks(api, live))[0]["events"] == ["generation.cancelled"]
        everything = await api.client.post(f"{page}/events", data={"csrf_token": csrf})
        assert everything.status_code == 303 and (await _hooks(api, live))[0]["events"] == []
        unknown = await api.client.post(
            f"{page}/events", data={"csrf_token": csrf, "events": ["nope"]}
        )
        assert unknown.status_code == 400 and "Unknown events" in unknown.text
        assert (await _hooks(api, live))[0]["events"] == []

        sent = await api.client.post(f"{page}/test", data={"csrf_token": csrf, "mode": "live"})
        assert sent.status_code == 303 and sent.headers["location"] == page
        (delivery,) = await _settled(api, live, hook["id"], 1)
        assert delivery["status"] == "succeeded" and delivery["event"] == "webhook.test"
        shown = await api.client.get(page)
        row = _row(shown.text, delivery["id"])
        assert "succeeded" in row and ">200<" in row and "webhook.test" in row
        assert "&#34;received&#34;: true" in row  # the response excerpt
        assert "A test event from MediaStudio" in row  # the request excerpt
        assert "No test deliveries yet." in (await api.client.get(f"{page}?mode=test")).text

        again = await api.client.post(
            f"/dashboard/webhook-deliveries/{delivery['id']}/redeliver",
            data={"csrf_token": csrf},
            headers={"HX-Request": "true"},
        )
        assert again.status_code == 200 and again.text.lstrip().startswith(
            f'<tr id="delivery-{delivery["id"]}"'
        )
        (redelivered,) = await _settled(api, live, hook["id"], 1)
        assert redelivered["status"] == "succeeded" and len(redelivered["attempt_log"]) == 2
        first, second = receiver.seen
        assert dict(first.headers)["webhook-id"] == dict(second.headers)["webhook-id"]
        assert first.body == second.body  # the same event, the same bytes
        polled = await api.client.get(
            f"/dashboard/webhook-deliveries/{delivery['id']}", headers={"HX-Request": "true"}
        )
        assert "succeeded" in polled.text and "hx-get" not in polled.text  # settled: no poll
        plain = await api.client.get(f"/dashboard/webhook-deliveries/{delivery['id']}")
        assert plain.status_code == 303 and plain.headers["location"] == page

        sandboxed = await api.client.post(f"{page}/test", data={"csrf_token": csrf, "mode": "test"})
        assert sandboxed.headers["location"] == f"{page}?mode=test"
        (sandbox_row,) = await _settled(api, test, hook["id"], 1)
        assert sandbox_row["sandbox"] is True
        assert sandbox_row["id"] in (await api.client.get(f"{page}?mode=test")).text
        assert sandbox_row["id"] not in (await api.client.get(page)).text
        assert len(await _settled(api, live, hook["id"], 1)) == 1
        bad_mode = await api.client.post(f"{page}/test", data={"csrf_token": csrf, "mode": "x"})
        assert bad_mode.status_code == 400

    rotated = await api.client.post(f"{page}/rotate", data={"csrf_token": csrf})
    new_secret = re.search(r'id="new-secret">(whsec_[^<]+)<', rotated.text)
    assert rotated.status_code == 200 and new_secret and new_secret[1] != secret[1]
    assert (await _hooks(api, live))[0]["previous_secret_expires_at"] is not None
    assert "whsec_" not in (await api.client.get(page)).text

    disabled = await api.client.post(f"{page}/disable", data={"csrf_token": csrf})
    assert disabled.status_code == 303 and (await _hooks(api, live))[0]["enabled"] is False
    assert "Disabled by the account." in (await api.client.get(WEBHOOKS)).text
    enabled = await api.client.post(f"{page}/enable", data={"csrf_token": csrf})
    assert enabled.status_code == 303 and (await _hooks(api, live))[0]["enabled"] is True

    deleted = await api.client.post(f"{page}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and deleted.headers["location"] == WEBHOOKS
    assert await _hooks(api, live) == []
    assert (await api.client.get(page)).status_code == 404


async def test_refused_urls_csrf_another_account_and_escaping(api: Api) -> None:
    account = await make_user(api)
    key = await api.key(account)
    other = await api.account("b@example.com")
    theirs_key = await api.key(other)
    created = await api.client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/theirs"}, headers=auth(theirs_key)
    )
    theirs = created.json()["id"]
    tested = await api.client.post(f"/api/v1/webhooks/{theirs}/test", headers=auth(theirs_key))
    their_delivery = tested.json()["id"]
    csrf = await signed_in(api.client)

    for url in ("https://169.254.169.254/latest/", "ftp://127.0.0.1/x", "https://10.0.0.1/x"):
        refused = await api.client.post(
            WEBHOOKS, data={"csrf_token": csrf, "url": url, "description": XSS}
        )
        assert refused.status_code == 400 and 'class="error"' in refused.text, url
        assert "<script>alert" not in refused.text and "&lt;script&gt;" in refused.text
    no_csrf = await api.client.post(WEBHOOKS, data={"url": "http://127.0.0.1:9/hook"})
    assert no_csrf.status_code == 403 and await _hooks(api, key) == []

    typed = f"https://10.0.0.1/{XSS}"  # refused, and shown back in the form as typed
    echoed = await api.client.post(WEBHOOKS, data={"csrf_token": csrf, "url": typed})
    assert echoed.status_code == 400
    assert (
        "<script>alert" not in echoed.text
        and 'value="https://10.0.0.1/&lt;script&gt;' in echoed.text
    )

    added = await api.client.post(
        WEBHOOKS, data={"csrf_token": csrf, "url": "http://127.0.0.1:9/hook", "description": XSS}
    )
    assert added.status_code == 201, added.text
    (mine,) = await _hooks(api, key)
    # The URL check percent-encodes what it accepts; a stored URL that is raw (one written
    # before that, or by hand) must still be escaped by the pages themselves.
    async with api.platform.db.write() as session:
        row = await session.get(WebhookEndpoint, mine["id"])
        assert row is not None
        row.url = f"http://127.0.0.1:9/hook?q={XSS}"
    mine = (await _hooks(api, key))[0]
    page = f"{WEBHOOKS}/{mine['id']}"
    for response in (added, await api.client.get(WEBHOOKS), await api.client.get(page)):
        assert "<script>alert" not in response.text, response.text
        assert "&lt;script&gt;alert(&#34;w&#34;)&lt;/script&gt;" in response.text

    forms = ("events", "rotate", "test", "disable", "enable", "delete")
    for action in forms:
        missing = await api.client.post(f"{page}/{action}", data={"mode": "live"})
        assert missing.status_code == 403, action
    assert (await _hooks(api, key)) == [mine]  # nothing changed
    redeliver = f"/dashboard/webhook-deliveries/{their_delivery}/redeliver"
    assert (await api.client.post(redeliver)).status_code == 403

    assert (await api.client.get(f"{WEBHOOKS}/{theirs}")).status_code == 404
    for action in forms:
        response = await api.client.post(
            f"{WEBHOOKS}/{theirs}/{action}", data={"csrf_token": csrf, "mode": "live"}
        )
        assert response.status_code == 404, action
    assert (await api.client.post(redeliver, data={"csrf_token": csrf})).status_code == 404
    row = f"/dashboard/webhook-deliveries/{their_delivery}"
    assert (await api.client.get(row, headers={"HX-Request": "true"})).status_code == 404
    still = (await api.client.get(f"/api/v1/webhooks/{theirs}", headers=auth(theirs_key))).json()
    assert still["enabled"] is True and still["previous_secret_expires_at"] is None
    assert "theirs" not in (await api.client.get(WEBHOOKS)).text


async def test_every_page_links_to_webhooks(api: Api) -> None:
    await make_user(api)
    await signed_in(api.client)
    for path in (
        "/dashboard",
        "/dashboard/keys",
        "/dashboard/generations",
        "/dashboard/usage",
        "/dashboard/settings",
        "/dashboard/password",
        WEBHOOKS,
    ):
        page = await api.client.get(path)
        assert page.status_code == 200, path
        assert '<a href="/dashboard/webhooks"' in page.text, path
    current = (await api.client.get(WEBHOOKS)).text
    assert '<a href="/dashboard/webhooks" aria-current="page">Webhooks</a>' in current
