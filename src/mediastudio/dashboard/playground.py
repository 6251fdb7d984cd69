"""HTTP for the Playground: pick a catalog model, fill the form made from its input schema, run
it in test or live mode, watch it finish, see the result and the same request as curl and
Python. Like the other pages they parse, call the services the API calls (the catalog for the
models, ``GenerationService.create`` through dashboard/service.py, the files service for
uploads) and render; the run form needs the CSRF token, and another account's generation is 404.

Progress comes over Server-Sent Events (docs/dashboard.md says why): ``/runs/{id}/events`` is
the API's one-generation stream (``events.endpoints.generation_stream``) for the signed-in user's
principal in the run's mode, ended when the session is; dashboard.js moves the progress bar from
it and fetches the run's fragment once at the end. Where EventSource fails, the fragment's htmx
polling (every second until the job is final) takes over.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import HTMLResponse, Response, StreamingResponse

from mediastudio.dashboard import forms, service
from mediastudio.dashboard.endpoints import OptionalField, PlatformDep, _check_csrf, _page, to_login
from mediastudio.dashboard.pages import redirect, render
from mediastudio.dashboard.snippets import Snippets, snippets
from mediastudio.events.endpoints import generation_stream
from mediastudio.events.service import AccessCheck
from mediastudio.files.endpoints import store_upload
from mediastudio.generations.models import Generation, Status
from mediastudio.kit.clock import utcnow
from mediastudio.kit.errors import InvalidRequest, MediaStudioError
from mediastudio.platform import Platform
from mediastudio.users import service as users
from mediastudio.users.auth import COOKIE, MaybeSessionUser
from mediastudio.users.service import Current, SessionRequired

router = APIRouter(include_in_schema=False)
PLAYGROUND = "/dashboard/playground"
MODES = ("test", "live")
MAX_FORM_FIELDS = 200  # a model's input has a few dozen fields at most
MAX_FORM_FILES = 8


@router.get(PLAYGROUND, response_class=HTMLResponse)
async def playground_page(
    request: Request, platform: PlatformDep, user: MaybeSessionUser
) -> Response:
    if user is None:
        return to_login(request)
    groups = await service.playground_models(platform, user)
    return render(request, "playground.html", _page(request, user, "playground", groups=groups))


def _run_context(request: Request, platform: Platform, generation: Generation) -> dict[str, Any]:
    urls = platform.signed_urls(str(request.base_url))
    return {
        "run": service.row(urls, generation),
        "finished": Status(generation.status).is_terminal,
    }


@router.get(PLAYGROUND + "/runs/{generation_id}", response_class=HTMLResponse)
async def run_fragment(
    request: Request, generation_id: str, platform: PlatformDep, user: MaybeSessionUser
) -> Response:
    """The run's status, progress and, once done, its result: what the page's htmx polls.
    Another account's generation is 404, as everywhere."""
    if user is None:
        return to_login(request)
    generation, _ = await service.find(platform, user, generation_id)
    context = _page(request, user, "playground", **_run_context(request, platform, generation))
    return render(request, "playground_run.html", context)


def _session_check(request: Request, platform: Platform, user: Current) -> AccessCheck:
    """What a key's stream does with its key, done with the session: checked again on the
    same schedule, so a stream outlives neither a sign-out nor an expired session."""
    token = request.cookies.get(COOKIE, "")

    async def check() -> None:
        async with platform.db.read() as session:
            current = await users.resolve(session, token, utcnow())
        if current is None or current.user_id != user.user_id:
            raise SessionRequired("The dashboard session ended: sign in again.")

    return AccessCheck(check=check, every_s=platform.settings.events_access_recheck_s)


@router.get(PLAYGROUND + "/runs/{generation_id}/events", response_model=None)
async def run_events(
    request: Request,
    generation_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> Response | StreamingResponse:
    """The run's live events for the run card (dashboard.js): the API's
    ``GET /api/v1/generations/{id}/events`` stream, as the signed-in user in the run's mode
    (the principal the other pages act as). Another account's generation is 404 before the
    stream starts; EventSource resumes with ``Last-Event-ID`` like any client."""
    if user is None:
        return to_login(request)
    generation, principal = await service.find(platform, user, generation_id)
    access = _session_check(request, platform, user)
    return generation_stream(request, platform, principal, generation.id, last_event_id, access)


@router.post(PLAYGROUND + "/runs/{generation_id}/cancel", response_class=HTMLResponse)
async def cancel_run(
    request: Request,
    generation_id: str,
    platform: PlatformDep,
    user: MaybeSessionUser,
    csrf_token: OptionalField = None,
) -> Response:
    """The run card's Cancel: ``GenerationService.cancel``, the API's, so the reservation is
    refunded at once and a job that finished meanwhile is the API's 409. With htmx the answer
    is the card, now final; without, the job's History page. (Declared before the model routes,
    whose ``{model_id:path}`` would take this path too.)"""
    if user is None:
        return to_login(request)
    _check_csrf(request, user, csrf_token)
    generation, principal = await service.find(platform, user, generation_id)
    cancelled = await platform.generations.cancel(principal, generation.id)
    if request.headers.get("HX-Request") != "true":
        return redirect(f"/dashboard/generations/{cancelled.id}")
    context = _page(request, user, "playground", **_run_context(request, platform, cancelled))
    return render(request, "playground_run.html", context)


async def _model_page(
    request: Request,
    platform: Platform,
    user: Current,
    model: service.PlaygroundModel,
    *,
    fields: Sequence[forms.FormField],
    mode: str = "test",
    errors: Sequence[str] = (),
    generation: Generation | None = None,
    code: Snippets | None = None,
    status_code: int = 200,
) -> Response:
    context = _page(
        request,
        user,
        "playground",
        model=model.choice,
        fields=fields,
        mode=mode,
        errors=errors,
        code=code,
        # A new Idempotency-Key for each form shown: sending this form twice makes one job.
        run_token=secrets.token_urlsafe(24),
        multipart=any(item.widget == "file" for item in fields),
        **(_run_context(request, platform, generation) if generation else {"run": None}),
    )
    return render(request, "playground_model.html", context, status_code=status_code)


@router.get(PLAYGROUND + "/{model_id:path}", response_class=HTMLResponse)
async def model_page(
    request: Request, model_id: str, platform: PlatformDep, user: MaybeSessionUser
) -> Response:
    if user is None:
        return to_login(request)
    model = await service.playground_model(platform, user, model_id)
    return await _model_page(request, platform, user, model, fields=forms.fields(model.schema))


def _values(form: FormData) -> dict[str, str | list[str]]:
    """The form's input fields (``input.<name>``), text only: a list where a name repeats."""
    values: dict[str, str | list[str]] = {}
    for key in form:
        if key.startswith(forms.PREFIX) and not key.endswith(forms.FILE_SUFFIX):
            texts = [item for item in form.getlist(key) if isinstance(item, str)]
            values[key] = texts if len(texts) > 1 else (texts[0] if texts else "")
    return values


async def _uploads(
    platform: Platform,
    user: Current,
    form: FormData,
    fields: Sequence[forms.FormField],
    values: dict[str, str | list[str]],
    *,
    sandbox: bool,
) -> dict[str, str]:
    """Each file chosen in an upload box stored through the files service (as
    ``POST /api/v1/files`` does, in the run's mode), its ``file_…`` id put in the field's text
    box; the errors, by field."""
    errors: dict[str, str] = {}
    principal = None
    for item in fields:
        part = form.get(item.form_name + forms.FILE_SUFFIX) if item.widget == "file" else None
        if not isinstance(part, UploadFile) or not part.filename:
            continue
        principal = principal or await service.acting_as(platform, user, sandbox=sandbox)
        try:
            stored = await store_upload(platform, principal, part)
        except MediaStudioError as exc:
            errors[item.name] = exc.message
            continue
        values[item.form_name] = stored.id
    return errors


@router.post(PLAYGROUND + "/{model_id:path}", response_class=HTMLResponse)
async def run_model(
    request: Request, model_id: str, platform: PlatformDep, user: MaybeSessionUser
) -> Response:
    if user is None:
        return to_login(request)
    model = await service.playground_model(platform, user, model_id)
    blank = forms.fields(model.schema)
    async with request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS) as form:
        token = form.get("csrf_token")
        _check_csrf(request, user, token if isinstance(token, str) else None)
        mode = form.get("mode")
        mode = mode if isinstance(mode, str) and mode in MODES else "test"
        run_token = form.get("run_token")
        values = _values(form)
        upload_errors = await _uploads(platform, user, form, blank, values, sandbox=mode == "test")
    data, shown = forms.read(blank, values)
    shown, _ = forms.with_errors(
        shown, [{"field": forms.PREFIX + name, "message": m} for name, m in upload_errors.items()]
    )
    page = partial(_model_page, request, platform, user, model, mode=mode)
    if any(item.error for item in shown):
        return await page(fields=shown, status_code=400)
    try:
        generation = await service.run(
            platform,
            user,
            model.choice.id,
            data,
            sandbox=mode == "test",
            run_token=run_token if isinstance(run_token, str) else None,
        )
    except InvalidRequest as exc:
        listed = exc.details.get("fields") if isinstance(exc.details, dict) else None
        marked, general = forms.with_errors(shown, listed or [])
        return await page(fields=marked, errors=general or [exc.message], status_code=exc.status)
    except MediaStudioError as exc:  # no credits, quota, model unavailable here: said on top
        return await page(fields=shown, errors=[exc.message], status_code=exc.status)
    code = snippets(str(request.base_url), model.choice.id, data, sandbox=mode == "test")
    return await page(fields=shown, generation=generation, code=code)
