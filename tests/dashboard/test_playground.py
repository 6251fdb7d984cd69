"""The Playground: the model picker, the form made from a model's input schema, a run in test
and live mode through the API's GenerationService (credits, validation, idempotency), its
progress fragment and result, uploads through the files service, and the curl and Python
snippets of the submitted input; CSRF on the run form, another account's job 404, hostile text
escaped."""

from __future__ import annotations

import ast
import asyncio
import html
import io
import json
import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from PIL import Image
from pydantic import BaseModel, Field

from mediastudio.dashboard import forms
from mediastudio.dashboard.snippets import snippets
from tests.conftest import Api, auth, make_settings, open_api
from tests.dashboard.helpers import make_user, signed_in
from tests.dashboard.test_history import ESCAPED, XSS
from tests.fakes import IMAGE_CREDITS
from tests.live_server import collect, read_sse, serve_live

PLAYGROUND = "/dashboard/playground"
RUN_ID = re.compile(r'id="run" hx-get="/dashboard/playground/runs/(gen_[0-9a-z]+)"')


def _token(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found, page
    return found[1]


def _form(page: str, **fields: str) -> dict[str, str]:
    """What the browser sends: the page's hidden fields and ``fields`` (``input.`` names)."""
    sent = {"csrf_token": _token(page, "csrf_token"), "run_token": _token(page, "run_token")}
    sent.update({key.replace("__", "."): value for key, value in fields.items()})
    return sent


async def _finished(client: httpx.AsyncClient, generation_id: str) -> str:
    """Poll the run's fragment as the page's htmx does, until it stops asking (the job is
    final); the last fragment."""
    for _ in range(600):
        fragment = await client.get(f"{PLAYGROUND}/runs/{generation_id}")
        assert fragment.status_code == 200, fragment.text
        if "hx-trigger" not in fragment.text:
            return fragment.text
    raise AssertionError(f"{generation_id} did not finish")


def _snippet(page: str, name: str) -> str:
    found = re.search(rf'<code id="code-{name}">(.*?)</code>', page, re.S)
    assert found, page
    return html.unescape(found[1])


async def test_picker_lists_the_catalog_by_type_and_the_form_follows_the_schema(
    api: Api,
) -> None:
    await make_user(api)
    await signed_in(api.client)
    picker = await api.client.get(PLAYGROUND)
    assert picker.status_code == 200
    assert '<h2 id="type-image">image</h2>' in picker.text
    assert f'href="{PLAYGROUND}/fake/image"' in picker.text
    assert 'href="/dashboard/playground" aria-current="page"' in picker.text
    # Prices in the catalog's unit: a by-the-second model says what a job reserves.
    assert "87 credits a second of output, 2610 reserved live" in picker.text
    lipsync = await api.client.get(f"{PLAYGROUND}/sync-lipsync")
    assert "Live (87 credits a second of output, 2610 reserved" in lipsync.text

    page = await api.client.get(f"{PLAYGROUND}/fake/image")
    assert page.status_code == 200
    text = page.text
    assert re.search(r'<textarea id="f-prompt" name="input.prompt"[^>]* required', text)
    assert '<select id="f-output_format" name="input.output_format"' in text
    assert '<option value="webp" selected>webp (default)</option>' in text
    assert '<option value="">(not set)</option>' in text  # aspect_ratio: optional, no default
    slider = '<input type="range" id="f-num_outputs-range" min="1" max="4" step="1" value="1"'
    assert slider in text
    assert '<input type="number" id="f-num_outputs" name="input.num_outputs"' in text
    assert 'id="f-seed-range"' not in text and 'id="f-seed" name="input.seed"' in text  # no slider

    for missing in ("nope/model", "fake/image/extra"):
        assert (await api.client.get(f"{PLAYGROUND}/{missing}")).status_code == 404
    api.client.cookies.clear()
    assert (await api.client.get(PLAYGROUND)).headers["location"] == "/dashboard/login"


class Everything(BaseModel):
    """One field of each widget the form makes."""

    prompt: str = Field(min_length=1, max_length=2000)
    voice: str | None = Field(None, max_length=100)
    style: Literal["a", "b"] = "a"
    resolution: Literal[720, 1080] | None = None
    strength: float = Field(0.5, ge=0, le=1)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    loud: bool = False
    captions: bool = True
    formats: list[Literal["srt", "vtt"]] = ["srt", "vtt"]
    image_url: str | None = Field(None, max_length=8_000_000)
    options: dict[str, Any] | None = None
    kind: Literal["fixed"] = "fixed"


def test_the_form_is_made_from_the_schema_and_read_back_into_the_input() -> None:
    form = forms.fields(Everything.model_json_schema())
    assert {item.name: item.widget for item in form} == {
        "prompt": "textarea",
        "voice": "text",
        "style": "select",
        "resolution": "select",
        "strength": "range",
        "seed": "number",
        "loud": "checkbox",
        "captions": "checkbox",
        "formats": "multi",
        "image_url": "file",
        "options": "json",
    }  # a const field offers no choice
    untouched = {
        "input.prompt": "a fox",
        "input.style": "a",
        "input.strength": "0.5",
        "input.captions": "true",
        "input.formats": ["srt", "vtt"],
    }
    data, _ = forms.read(form, untouched)
    assert data == {"prompt": "a fox"}  # defaults are not sent
    changed = {
        "input.prompt": "a fox",
        "input.voice": "  ",
        "input.style": "b",
        "input.resolution": "1080",
        "input.strength": "0.25",
        "input.seed": "7",
        "input.loud": "true",
        "input.formats": "vtt",
        "input.image_url": "file_abc",
        "input.options": '{"x": [1, 2]}',
    }
    data, shown = forms.read(form, changed)
    assert data == {
        "prompt": "a fox",
        "style": "b",
        "resolution": 1080,
        "strength": 0.25,
        "seed": 7,
        "loud": True,
        "captions": False,
        "formats": ["vtt"],
        "image_url": "file_abc",
        "options": {"x": [1, 2]},
    }
    assert Everything.model_validate(data).resolution == 1080
    data, shown = forms.read(form, {"input.seed": "seven", "input.options": "{nope"})
    assert data["seed"] == "seven"  # the API's validation says what is wrong with it
    assert [item.name for item in shown if item.error] == ["options"]
    marked, general = forms.with_errors(
        shown,
        [
            {"field": "input.seed", "message": "not a number"},
            {"field": "input.body", "message": "either or"},
        ],
    )
    assert [(item.name, item.error) for item in marked if item.name == "seed"] == [
        ("seed", "not a number")
    ]
    assert general == ["either or"]


async def test_a_test_run_shows_progress_the_image_and_the_same_request_as_code(
    api: Api,
) -> None:
    account = await make_user(api, credits=100)
    test_key = await api.key(account, sandbox=True)
    await signed_in(api.client)
    page = (await api.client.get(f"{PLAYGROUND}/fake/image")).text
    sent = _form(page, mode="test", input__prompt="a lighthouse", input__num_outputs="2")
    sent |= {"input.output_format": "webp", "input.aspect_ratio": "", "input.seed": ""}
    answer = await api.client.post(f"{PLAYGROUND}/fake/image", data=sent)
    assert answer.status_code == 200, answer.text
    found = RUN_ID.search(answer.text)
    assert found, answer.text
    job_id = found[1]

    done = await _finished(api.client, job_id)
    assert "status-completed" in done
    images = re.findall(r'<img class="preview" src="([^"]+)" alt="Result \d of ', done)
    downloads = re.findall(r'<a href="([^"]+)" download>Download result \d</a>', done)
    assert len(images) == 2 and downloads == images
    for url in images:
        served = await api.client.get(html.unescape(url))
        assert served.status_code == 200
        with Image.open(io.BytesIO(served.content)) as decoded:
            assert decoded.width > 0 and decoded.height > 0

    # Made for the account, in test mode, through the API's path: the test key sees it, free.
    job = await api.wait(test_key, job_id)
    assert job["sandbox"] is True and job["credits_charged"] == 0
    assert job["input"]["prompt"] == "a lighthouse" and job["input"]["num_outputs"] == 2
    submitted = {"prompt": "a lighthouse", "num_outputs": 2}
    curl = _snippet(answer.text, "curl")
    assert "http://testserver/api/v1/generations" in curl and "ms_test_" in curl
    body = json.loads(curl.split("-d '", 1)[1].rsplit("'", 1)[0])
    assert body == {"model": "fake/image", "input": submitted}
    python = _snippet(answer.text, "python")
    assert python.startswith("from mediastudio import Client")
    call = ast.parse(python).body[2]
    assert isinstance(call, ast.Assign) and isinstance(call.value, ast.Call)
    assert ast.literal_eval(call.value.args[0]) == "fake/image"
    assert ast.literal_eval(call.value.keywords[0].value) == submitted
    # The form keeps what was sent, with a new run token for the next run.
    assert ">a lighthouse</textarea>" in answer.text
    assert _token(answer.text, "run_token") != sent["run_token"]


async def test_a_live_run_is_charged_once_even_when_the_form_is_sent_twice(api: Api) -> None:
    account = await make_user(api, credits=100)
    live_key = await api.key(account)
    await signed_in(api.client)
    page = (await api.client.get(f"{PLAYGROUND}/fake/image")).text
    sent = _form(page, mode="live", input__prompt="a red kite")
    first = await api.client.post(f"{PLAYGROUND}/fake/image", data=sent)
    again = await api.client.post(f"{PLAYGROUND}/fake/image", data=sent)  # a double click
    assert first.status_code == again.status_code == 200, first.text
    first_id, again_id = RUN_ID.search(first.text), RUN_ID.search(again.text)
    assert first_id and again_id and first_id[1] == again_id[1]
    job = await api.wait(live_key, first_id[1])
    assert job["status"] == "completed" and job["credits_charged"] == IMAGE_CREDITS
    listed = await api.client.get("/api/v1/generations", headers=auth(live_key))
    assert [item["id"] for item in listed.json()["data"]] == [first_id[1]]
    balance = (await api.client.get("/api/v1/account", headers=auth(live_key))).json()
    assert balance["credit_balance"] == 100 - IMAGE_CREDITS


async def test_refused_runs_show_why_and_change_nothing(api: Api) -> None:
    account = await make_user(api, credits=1)
    live_key = await api.key(account)
    test_key = await api.key(account, sandbox=True)
    await signed_in(api.client)
    page = (await api.client.get(f"{PLAYGROUND}/fake/image")).text

    empty = await api.client.post(
        f"{PLAYGROUND}/fake/image", data=_form(page, mode="test", input__num_outputs="9")
    )
    assert empty.status_code == 400
    assert re.search(r'<p class="error" id="e-prompt">[^<]*required', empty.text, re.I)
    assert re.search(r'<p class="error" id="e-num_outputs">[^<]*4', empty.text)
    both = await api.client.post(
        f"{PLAYGROUND}/fake/image",
        data=_form(page, mode="test", input__prompt="x", input__aspect_ratio="16:9")
        | {"input.width": "512"},
    )
    assert both.status_code == 400 and "not both" in both.text.split('id="form-errors"')[1]
    poor = await api.client.post(  # 1 credit, an image costs more: the API's 402, on top
        f"{PLAYGROUND}/fake/image", data=_form(page, mode="live", input__prompt="x")
    )
    assert poor.status_code == 402 and 'id="form-errors"' in poor.text
    no_csrf = _form(page, mode="test", input__prompt="x")
    del no_csrf["csrf_token"]
    assert (await api.client.post(f"{PLAYGROUND}/fake/image", data=no_csrf)).status_code == 403
    for key in (live_key, test_key):
        listed = await api.client.get("/api/v1/generations", headers=auth(key))
        assert listed.json()["data"] == []


@pytest.fixture
async def builtin_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The builtin engines too: their image tools take an upload (``image_url``)."""
    async with open_api(make_settings(tmp_path / "data", disabled_engines=[])) as opened:
        yield opened


async def test_an_upload_becomes_the_file_input_of_the_run(builtin_api: Api) -> None:
    api = builtin_api
    account = await make_user(api)
    test_key = await api.key(account, sandbox=True)
    await signed_in(api.client)
    page = (await api.client.get(f"{PLAYGROUND}/builtin/upscale")).text
    assert 'enctype="multipart/form-data"' in page
    assert '<input type="file" id="f-image_url-file" name="input.image_url.file">' in page
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    answer = await api.client.post(
        f"{PLAYGROUND}/builtin/upscale",
        data=_form(page, mode="test"),
        files={"input.image_url.file": ("red.png", png.getvalue(), "image/png")},
    )
    assert answer.status_code == 200, answer.text
    found = RUN_ID.search(answer.text)
    assert found
    job = await api.wait(test_key, found[1], until=lambda body: True)
    file_id = job["input"]["image_url"]
    uploaded = await api.client.get(f"/api/v1/files/{file_id}", headers=auth(test_key))
    assert uploaded.status_code == 200 and uploaded.json()["content_type"] == "image/png"
    not_an_image = await api.client.post(
        f"{PLAYGROUND}/builtin/upscale",
        data=_form(page, mode="test"),
        files={"input.image_url.file": ("x.png", b"just text", "image/png")},
    )
    assert not_an_image.status_code == 400
    assert 'id="e-image_url"' in not_an_image.text


async def test_another_accounts_run_is_not_found_and_a_hostile_prompt_is_escaped(
    api: Api,
) -> None:
    other = await make_user(api, "b@example.com")
    other_key = await api.key(other, sandbox=True)
    theirs = await api.client.post(
        "/api/v1/generate/image", json={"prompt": "theirs"}, headers=auth(other_key)
    )
    assert theirs.status_code == 202
    await make_user(api)
    await signed_in(api.client)
    hidden = await api.client.get(f"{PLAYGROUND}/runs/{theirs.json()['id']}")
    assert hidden.status_code == 404

    page = (await api.client.get(f"{PLAYGROUND}/fake/image")).text
    answer = await api.client.post(
        f"{PLAYGROUND}/fake/image", data=_form(page, mode="test", input__prompt=XSS)
    )
    assert answer.status_code == 200
    assert XSS not in answer.text and "<script>alert" not in answer.text
    assert ESCAPED in answer.text  # in the form, and in both snippets
    assert answer.text.count("&lt;script&gt;") >= 3


async def test_the_run_card_streams_its_events_to_its_owner_only(api: Api) -> None:
    """``/runs/{id}/events``: the API's one-generation stream, for the session, in the run's
    mode (a Playground test run and a live job both); another account's job is 404 before any
    stream, and without a session the answer is the sign-in page."""
    account = await make_user(api, credits=100)
    live_key = await api.key(account)
    await signed_in(api.client)
    page = (await api.client.get(f"{PLAYGROUND}/fake/image")).text
    sent = _form(page, mode="test", input__prompt="a lighthouse [slow:0.6]")
    answer = await api.client.post(f"{PLAYGROUND}/fake/image", data=sent)
    found = RUN_ID.search(answer.text)
    assert found, answer.text
    test_job = found[1]
    assert f'data-events="{PLAYGROUND}/runs/{test_job}/events"' in answer.text
    live_job = await api.client.post(
        "/api/v1/generate/image", json={"prompt": "a live one"}, headers=auth(live_key)
    )
    assert live_job.status_code == 202, live_job.text

    for job_id, sandbox in ((test_job, True), (live_job.json()["id"], False)):
        async with api.client.stream("GET", f"{PLAYGROUND}/runs/{job_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = await collect(response)  # returns only because the stream ends
        assert events and {e.data["generation_id"] for e in events} == {job_id}
        assert events[0].data["data"]["snapshot"] is True
        last = events[-1]
        assert last.event == "completed" and [e.event for e in events].count("completed") == 1
        final = last.data["data"]["generation"]
        assert final["status"] == "completed" and final["sandbox"] is sandbox
        image = await api.client.get(final["output_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
    # The final card the script then fetches once: no stream, no polling.
    done = await api.client.get(f"{PLAYGROUND}/runs/{test_job}")
    assert "data-events" not in done.text and "hx-trigger" not in done.text

    other = await make_user(api, "b@example.com")
    theirs = await api.client.post(
        "/api/v1/generate/image", json={"prompt": "theirs"}, headers=auth(await api.key(other))
    )
    hidden = await api.client.get(f"{PLAYGROUND}/runs/{theirs.json()['id']}/events")
    assert hidden.status_code == 404
    api.client.cookies.clear()
    signed_out = await api.client.get(f"{PLAYGROUND}/runs/{test_job}/events")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/dashboard/login")


async def test_signing_out_ends_the_run_cards_stream_with_the_error(tmp_path: Path) -> None:
    """The session is checked again as a key is (``events_access_recheck_s``): a stream opened
    by a session that then signs out ends with the ``session_required`` error event."""
    settings = make_settings(tmp_path / "data", events_access_recheck_s=0.2)
    async with serve_live(settings) as live:
        account = await make_user(live)
        key = await live.key(account, sandbox=True)
        slow = {"prompt": "a lighthouse [slow:30]", "model": "fake/image"}
        created = await live.client.post("/api/v1/generate/image", json=slow, headers=auth(key))
        assert created.status_code == 202, created.text
        csrf = await signed_in(live.client)
        url = f"{PLAYGROUND}/runs/{created.json()['id']}/events"
        async with live.client.stream("GET", url) as response:
            assert response.status_code == 200
            reader = read_sse(response)
            first = await anext(reader)
            assert first.event == "status" and first.data["data"]["snapshot"] is True
            signed_out = await live.client.post("/dashboard/logout", data={"csrf_token": csrf})
            assert signed_out.status_code == 303
            async with asyncio.timeout(15):
                rest = [item async for item in reader if item.event != ":"]
        assert rest[-1].event == "error"
        assert rest[-1].data["error"]["code"] == "session_required"


async def test_every_catalog_models_form_renders(builtin_api: Api) -> None:
    """Whatever a model's schema holds (nested objects, arrays, refs), its page renders."""
    await make_user(builtin_api)
    await signed_in(builtin_api.client)
    picker = (await builtin_api.client.get(PLAYGROUND)).text
    models = re.findall(r'<a href="/dashboard/playground/([^"]+)">', picker)
    assert "builtin/upscale" in models and "fake/image" in models
    for model in models:
        page = await builtin_api.client.get(f"{PLAYGROUND}/{model}")
        assert page.status_code == 200, model
        assert f'action="/dashboard/playground/{model}"' in page.text


def test_the_curl_snippet_survives_quotes_in_the_input() -> None:
    sent = {"prompt": 'it\'s a "test" $HOME `x`', "seed": 3}
    code = snippets("http://host:8000/", "fake/image", sent, sandbox=False)
    words = shlex.split(code.curl.split("\n", 1)[1].replace("\\\n", " "))
    assert words[:4] == ["curl", "-X", "POST", "http://host:8000/api/v1/generations"]
    assert json.loads(words[words.index("-d") + 1]) == {"model": "fake/image", "input": sent}
    assert "ms_live_" in code.curl
    call = ast.parse(code.python).body[2]
    assert isinstance(call, ast.Assign) and isinstance(call.value, ast.Call)
    assert ast.literal_eval(call.value.keywords[0].value) == sent
