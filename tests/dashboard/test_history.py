"""The History pages: the account's generations through the API's list (filters, cursor
pages, outputs at their signed URLs), one generation's page, and cancel, retry and delete
through the API's GenerationService; CSRF on every form, another account's job 404, hostile
text escaped."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mediastudio.dashboard import service
from mediastudio.generations import lifecycle
from mediastudio.generations.models import Status
from mediastudio.kit.clock import utcnow
from tests.conftest import Api, auth, make_settings, open_api
from tests.dashboard.helpers import make_user, signed_in
from tests.fakes import IMAGE_CREDITS

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
HISTORY = "/dashboard/generations"


async def _create(api: Api, key: str, path: str, body: dict[str, Any]) -> str:
    response = await api.client.post(path, json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr id="row-(gen_[^"]+)"', html)


async def test_history_lists_filters_pages_and_shows_outputs(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await make_user(api)
    live, test = await api.key(account), await api.key(account, sandbox=True)
    image = await _create(
        api, live, "/api/v1/generate/image", {"prompt": "a", "model": "fake/image"}
    )
    speech = await _create(
        api, live, "/api/v1/generate/speech", {"text": "hi", "model": "fake/speech"}
    )
    failed = await _create(
        api,
        live,
        "/api/v1/generate/image",
        {"prompt": "[fail:provider_error]", "model": "fake/image"},
    )
    sandboxed = await _create(api, test, "/api/v1/generate/image", {"prompt": "s"})
    for key, job in ((live, image), (live, speech), (live, failed), (test, sandboxed)):
        await api.wait(key, job)
    await signed_in(api.client)

    page = await api.client.get(HISTORY)
    assert page.status_code == 200, page.text
    assert _ids(page.text) == [failed, speech, image]  # newest first, live only
    row = page.text.split(f'id="row-{image}"')[1].split("</tr>")[0]
    thumb = re.search(r'<img class="thumb" src="([^"]+)" loading="lazy"', row)
    assert thumb and f">{IMAGE_CREDITS}<" in row, row
    served = await api.client.get(thumb[1].replace("&amp;", "&"))
    assert served.status_code == 200 and served.headers["content-type"].startswith("image/")
    with Image.open(io.BytesIO(served.content)) as decoded:
        assert decoded.width > 0 and decoded.height > 0
    assert "<audio controls" in page.text.split(f'id="row-{speech}"')[1].split("</tr>")[0]
    assert "failed on purpose with provider_error" in page.text

    for query, expected in (
        ("mode=test", [sandboxed]),
        ("status=failed", [failed]),
        ("type=speech", [speech]),
        ("model=fake/image", [failed, image]),
        ("model=fake/image&status=completed", [image]),
        ("status=&type=&model=", [failed, speech, image]),  # the form's empty "any"
    ):
        filtered = await api.client.get(f"{HISTORY}?{query}")
        assert filtered.status_code == 200 and _ids(filtered.text) == expected, query
    for query in ("status=bogus", "type=bogus", "mode=staging"):
        refused = await api.client.get(f"{HISTORY}?{query}")
        assert refused.status_code == 400 and 'class="error"' in refused.text, query
        assert _ids(refused.text) == []

    monkeypatch.setattr(service, "HISTORY_PAGE", 2)
    first = await api.client.get(f"{HISTORY}?model=fake/image&status=")
    assert _ids(first.text) == [failed, image] and 'rel="next"' not in first.text
    first = await api.client.get(HISTORY)
    assert _ids(first.text) == [failed, speech]
    older = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert older, first.text
    second = await api.client.get(older[1].replace("&amp;", "&"))
    assert _ids(second.text) == [image] and 'rel="next"' not in second.text

    detail = await api.client.get(f"{HISTORY}/{image}")
    assert detail.status_code == 200 and 'loading="lazy"' in detail.text
    assert f"{HISTORY}/{image}/delete" in detail.text and "/cancel" not in detail.text
    assert f"{HISTORY}/{failed}/retry" in (await api.client.get(f"{HISTORY}/{failed}")).text
    other_mode = await api.client.get(f"{HISTORY}/{sandboxed}")  # either mode, one URL
    assert other_mode.status_code == 200 and "<dd>test</dd>" in other_mode.text


@pytest.fixture
async def idle_api(tmp_path: Path, database_url: str | None) -> Any:
    """No workers: a created job stays queued until a test moves it."""
    settings = make_settings(
        tmp_path / "data",
        database_url=database_url,
        workers_cpu=0,
        workers_gpu=0,
        workers_io=0,
        workers_remote=0,
    )
    async with open_api(settings) as opened:
        yield opened


async def _fail(api: Api, generation_id: str, message: str) -> None:
    """End a queued job as a failed run would: claimed, then finished through lifecycle."""
    async with api.platform.db.write() as session:
        claim = await lifecycle.claim(
            session, generation_id, "test-worker", utcnow() + timedelta(minutes=5)
        )
        assert claim is not None
        outcome = lifecycle.Outcome(
            status=Status.FAILED, error=lifecycle.error("provider_error", message)
        )
        notify = api.platform.generations.notify
        assert await lifecycle.finish(
            session, claim.generation, "test-worker", outcome, notify=notify
        )


async def test_cancel_retry_and_delete_through_the_pages(idle_api: Api) -> None:
    api = idle_api
    account = await make_user(api, credits=100)
    key = await api.key(account)
    queued = await _create(
        api, key, "/api/v1/generate/image", {"prompt": "q", "model": "fake/image"}
    )
    failing = await _create(
        api, key, "/api/v1/generate/image", {"prompt": "f", "model": "fake/image"}
    )
    await _fail(api, failing, "the provider fell over")
    csrf = await signed_in(api.client)
    page = (await api.client.get(HISTORY)).text
    assert f"{HISTORY}/{queued}/cancel" in page and f"{HISTORY}/{queued}/retry" not in page
    assert f"{HISTORY}/{failing}/retry" in page and f"{HISTORY}/{failing}/cancel" not in page

    # Without CSRF: refused, nothing changes.
    for action, job in (("cancel", queued), ("retry", failing), ("delete", queued)):
        refused = await api.client.post(f"{HISTORY}/{job}/{action}", data={"next": HISTORY})
        assert refused.status_code == 403, action
    assert (await api.wait(key, queued, until=lambda b: True))["status"] == "queued"
    assert (await api.wait(key, failing, until=lambda b: True))["status"] == "failed"

    # A plain form: redirects back to the page it came from (never elsewhere).
    cancelled = await api.client.post(
        f"{HISTORY}/{queued}/cancel", data={"csrf_token": csrf, "next": f"{HISTORY}?status="}
    )
    assert cancelled.status_code == 303 and cancelled.headers["location"] == f"{HISTORY}?status="
    body = await api.wait(key, queued, until=lambda b: True)
    assert body["status"] == "cancelled" and body["credits_refunded"] == IMAGE_CREDITS
    again = await api.client.post(f"{HISTORY}/{queued}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409  # the API's own refusal

    # htmx: the row comes back, to be swapped in place.
    retried = await api.client.post(
        f"{HISTORY}/{failing}/retry",
        data={"next": "https://evil.example/"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert retried.status_code == 200 and retried.text.lstrip().startswith("<tr")
    assert "status-queued" in retried.text
    assert (await api.wait(key, failing, until=lambda b: True))["status"] == "queued"
    plain = await api.client.post(
        f"{HISTORY}/{failing}/cancel", data={"csrf_token": csrf, "next": "//evil.example/"}
    )
    assert plain.headers["location"] == f"{HISTORY}/{failing}"

    deleted = await api.client.post(
        f"{HISTORY}/{queued}/delete", headers={"HX-Request": "true", "X-CSRF-Token": csrf}
    )
    assert deleted.status_code == 200 and deleted.text == ""
    gone = await api.client.get(f"/api/v1/generations/{queued}", headers=auth(key))
    assert gone.status_code == 404
    form = await api.client.post(f"{HISTORY}/{failing}/delete", data={"csrf_token": csrf})
    assert form.status_code == 303 and form.headers["location"] == HISTORY
    assert _ids((await api.client.get(HISTORY)).text) == []


async def test_another_accounts_job_is_not_found_and_hostile_text_is_escaped(
    idle_api: Api,
) -> None:
    api = idle_api
    other = await api.account("b@example.com")
    theirs_key = await api.key(other)
    theirs = await _create(
        api, theirs_key, "/api/v1/generate/image", {"prompt": "t", "model": "fake/image"}
    )
    account = await make_user(api)
    csrf = await signed_in(api.client)
    assert theirs not in (await api.client.get(HISTORY)).text
    assert (await api.client.get(f"{HISTORY}/{theirs}")).status_code == 404
    for action in ("cancel", "retry", "delete"):
        response = await api.client.post(f"{HISTORY}/{theirs}/{action}", data={"csrf_token": csrf})
        assert response.status_code == 404, action
    body = await api.wait(theirs_key, theirs, until=lambda b: True)
    assert body["status"] == "queued"

    # Hostile text in a prompt, an error message and the model filter's echo is escaped.
    key = await api.key(account)
    job = await _create(api, key, "/api/v1/generate/image", {"prompt": XSS, "model": "fake/image"})
    await _fail(api, job, XSS)
    pages = [
        await api.client.get(HISTORY),
        await api.client.get(f"{HISTORY}/{job}"),
        await api.client.get(HISTORY, params={"model": XSS}),
    ]
    for response in pages:
        assert "<script>alert" not in response.text and "<img src=x" not in response.text
        assert ESCAPED in response.text, response.url
    assert response.text.count(ESCAPED) == 1  # the model filter's echo, matching nothing
    assert pages[0].text.count(ESCAPED) == 2 and pages[1].text.count(ESCAPED) >= 2
    assert theirs not in pages[0].text

    api.client.cookies.clear()
    for path in (HISTORY, f"{HISTORY}/{job}", "/dashboard/settings"):
        response = await api.client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
