"""One error base, the API's error codes, and the one place that renders them.

Every error the API returns is ``{"error": {"code", "message", "details"?, "request_id"}}``.
Domain code raises a subclass of :class:`MediaStudioError`; the handlers installed by
:func:`install_error_handlers` render it, and also render validation errors, unknown routes and
unexpected exceptions in the same envelope (the last without leaking internals). A surface
under a path prefix may render the same errors in its own shape: another JSON shape
(:class:`ErrorRenderer`: ``/v1/`` speaks OpenAI's), or pages for people
(:class:`PageErrorRenderer`: the dashboard's HTML).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from mediastudio.kit.disk import RETRY_AFTER_S, is_disk_full
from mediastudio.kit.exception_chain import any_in_chain
from mediastudio.kit.requestid import current_request_id

logger = logging.getLogger("mediastudio.errors")


class MediaStudioError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "An unexpected error occurred."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class MissingApiKey(MediaStudioError):
    code, status = "missing_api_key", 401
    default_message = "No API key provided. Send it as 'Authorization: Bearer <key>'."


class InvalidApiKey(MediaStudioError):
    code, status = "invalid_api_key", 401
    default_message = "The API key is invalid or has been revoked."


class ExpiredApiKey(MediaStudioError):
    code, status = "expired_api_key", 401
    default_message = "The API key has expired."


class InsufficientScope(MediaStudioError):
    code, status = "insufficient_scope", 403
    default_message = "The API key does not have the scope this request needs."


class IpNotAllowed(MediaStudioError):
    code, status = "ip_not_allowed", 403
    default_message = "Requests from this IP address are not allowed for this API key."


class ModelNotAllowed(MediaStudioError):
    code, status = "model_not_allowed", 403
    default_message = "This model is not available on your plan."


class InsufficientCredits(MediaStudioError):
    code, status = "insufficient_credits", 402
    default_message = "Not enough credits for this operation."


class InvalidRequest(MediaStudioError):
    code, status = "invalid_request", 400
    default_message = "The request is invalid."


class FileTooLarge(MediaStudioError):
    code, status = "file_too_large", 413
    default_message = "The file is larger than this server accepts."


class NotFound(MediaStudioError):
    code, status = "not_found", 404
    default_message = "The requested resource was not found."


class InvalidSignature(MediaStudioError):
    """A file URL whose signature is wrong or expired (file downloads only, not the JSON API)."""

    code, status = "invalid_signature", 403
    default_message = "The signature is invalid or has expired."


class IdempotencyKeyInUse(MediaStudioError):
    code, status = "idempotency_key_in_use", 409
    default_message = "A request with this Idempotency-Key is still being processed."


class IdempotencyKeyReused(MediaStudioError):
    code, status = "idempotency_key_reused", 422
    default_message = "This Idempotency-Key was already used with a different request body."


class Conflict(MediaStudioError):
    """The resource is not in a state that allows this action (e.g. retrying a completed job)."""

    code, status = "invalid_request", 409
    default_message = "The resource is not in a state that allows this action."


class RateLimited(MediaStudioError):
    code, status = "rate_limited", 429
    default_message = "Too many requests. Retry after the time in the Retry-After header."


class QuotaExceeded(MediaStudioError):
    code, status = "quota_exceeded", 429
    default_message = "The daily quota of your plan for this type is used up."


class ModelUnavailable(MediaStudioError):
    code, status = "model_unavailable", 503
    default_message = "This model cannot run on this server."


class PromptRefused(MediaStudioError):
    """A provider refused the request's content (seed 003's ERR_INVALID_PROMPT), in a synchronous
    answer such as chat's; a job's refusal is the job's ``invalid_prompt`` error instead."""

    code, status = "invalid_prompt", 400
    default_message = "The provider refused the request's content."


class NotSupported(MediaStudioError):
    """A route a compatible surface names but MediaStudio cannot serve truthfully (telephony)."""

    code, status = "not_supported", 501
    default_message = "This feature is not supported by this server."


class ProviderFailed(MediaStudioError):
    """A hosted provider failed to answer a synchronous request (chat): 5xx, timeout, its key."""

    code, status = "provider_error", 502
    default_message = "The provider failed to answer."


class InsufficientStorage(MediaStudioError):
    """An upload that this server has no room to keep (WebDAV's 507, which says exactly that)."""

    code, status = "insufficient_storage", 507
    default_message = (
        "The server does not have enough free disk space to store this file. Try again later."
    )

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("Retry-After", str(RETRY_AFTER_S))


class StorageUnavailable(InsufficientStorage):
    """New work refused while the server is low on disk space: temporary, so 503."""

    status = 503
    default_message = (
        "The server is low on disk space and accepts no new work for now. Retry after the time "
        "in the Retry-After header."
    )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | None = None
    request_id: str


class ErrorEnvelope(BaseModel):
    """The shape of every error response (documented in OpenAPI for every route)."""

    error: ErrorBody


class ErrorRenderer(Protocol):
    """Renders one error for an API surface that speaks another error shape (``/v1/``: OpenAI's)."""

    def __call__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> JSONResponse: ...


class PageErrorRenderer(Protocol):
    """Renders one error as a page for a person (the dashboard's HTML). Unlike an API's shape,
    a page depends on the request: its headers (an htmx request wants a fragment) and what its
    route learnt before failing (the signed-in user, for the navigation)."""

    def __call__(
        self,
        request: Request,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> Response: ...


RENDERERS_STATE = "error_renderers"
PAGE_RENDERERS_STATE = "error_page_renderers"


def _renderer_for(app: Any, path: str) -> ErrorRenderer | None:
    """The renderer of the surface ``path`` belongs to, or None for the native envelope."""
    renderers: Mapping[str, ErrorRenderer] = getattr(app.state, RENDERERS_STATE, {})
    for prefix, renderer in renderers.items():
        if path.startswith(prefix):
            return renderer
    return None


def _page_renderer_for(app: Any, path: str) -> PageErrorRenderer | None:
    """The page renderer of the pages ``path`` belongs to: a root is itself and the paths below
    it (``/dashboard`` is ``/dashboard`` and ``/dashboard/…``, not ``/dashboards``); the root
    ``/`` is only itself, not every path."""
    pages: Mapping[str, PageErrorRenderer] = getattr(app.state, PAGE_RENDERERS_STATE, {})
    for root, renderer in pages.items():
        if path == root or (root != "/" and path.startswith(root + "/")):
            return renderer
    return None


def render_error(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error in the shape of the surface the request reached (the native envelope unless a
    surface installed its own renderer for its path prefix)."""
    page = _page_renderer_for(request.app, request.url.path)
    if page is not None:
        return page(request, status, code, message, details, headers)
    renderer = _renderer_for(request.app, request.url.path)
    if renderer is not None:
        return renderer(status, code, message, details, headers)
    return error_response(status, code, message, details=details, headers=headers)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    body["request_id"] = current_request_id()
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _handle_domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MediaStudioError)
    return render_error(
        request, exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers
    )


async def _handle_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = [validation_field(error) for error in exc.errors()]
    unparsable = [f["message"] for f in fields if f["message"].startswith(_NOT_JSON)]
    return render_error(
        request,
        400,
        "invalid_request",
        # A body that does not parse has no fields to name: say where the JSON broke instead.
        unparsable[0]
        if unparsable
        else "The request has invalid fields: " + ", ".join(f["field"] for f in fields),
        details={"fields": fields},
    )


_NOT_JSON = "Request body is not valid JSON"


def validation_field(error: Any) -> dict[str, str]:
    """One pydantic error as ``{field, message}``, the field a dotted path inside the body."""
    if error.get("type") == "json_invalid":
        # FastAPI puts the decoder's character offset where a field name would be.
        location = error.get("loc", ())
        position = location[1] if len(location) > 1 else 0
        reason = (error.get("ctx") or {}).get("error")
        detail = f" ({reason})" if reason else ""
        return {"field": "body", "message": f"{_NOT_JSON} at position {position}{detail}."}
    location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
    return {"field": ".".join(location) or "body", "message": str(error.get("msg", "invalid"))}


async def _handle_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return render_error(request, 404, "not_found", "No such route or resource.")
    if exc.status_code == 405:
        return render_error(
            request,
            405,
            "invalid_request",
            f"Method {request.method} is not allowed on this route.",
        )
    code = "internal_error" if exc.status_code >= 500 else "invalid_request"
    headers = dict(exc.headers) if exc.headers else None
    return render_error(request, exc.status_code, code, str(exc.detail), headers=headers)


def unexpected_error_response(scope: Scope, exc: Exception) -> Response:
    """The answer to an exception no handler took (the edge middleware's error boundary,
    kit/edge.py), logged here: a 500 envelope without internals, except a full disk (whatever
    write hit it), which answers 503 ``insufficient_storage`` with ``Retry-After`` and is logged
    as a warning. In the error shape of the surface the request reached (a page for the
    dashboard's)."""
    where = f"{scope.get('method')} {scope.get('path')}"
    if is_nul_refused(exc):
        # Text with NUL that reached PostgreSQL from somewhere the edge does not scan (a form
        # field, a query parameter): the client's mistake, not ours.
        logger.info("NUL character refused by the database during %s", where)
        return boundary_response(scope, 400, "invalid_request", NUL_MESSAGE, None)
    if is_disk_full(exc):
        logger.warning("disk full during %s: %s", where, exc)
        full = StorageUnavailable()
        return boundary_response(scope, full.status, full.code, full.message, full.headers)
    logger.exception("unhandled error on %s", where, exc_info=exc)
    message = MediaStudioError.default_message
    return boundary_response(scope, 500, "internal_error", message, None)


NUL_MESSAGE = (
    "The request contains the NUL character (\\u0000), which no text field can hold; "
    "remove it (or send binary data as a file upload)."
)
# PostgreSQL's SQLSTATEs for a NUL in text (22021, "invalid byte sequence for encoding UTF8:
# 0x00") and in jsonb (22P05, "unsupported Unicode escape sequence"). SQLite stores NUL.
_NUL_SQLSTATES = frozenset({"22021", "22P05"})


def is_nul_refused(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps: SQLAlchemy keeps the driver's error in ``orig``,
    asyncpg's adapter chains it) is PostgreSQL refusing a NUL character."""
    return any_in_chain(exc, _is_nul_refusal)


def _is_nul_refusal(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return sqlstate in _NUL_SQLSTATES


def boundary_response(
    scope: Scope,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None,
) -> Response:
    """The boundary's answer in the shape of the surface the request reached, as
    :func:`render_error` would give it."""
    app = scope.get("app")
    path = scope.get("path", "")
    page = _page_renderer_for(app, path) if app is not None else None
    if page is not None:
        try:
            return page(Request(scope), status, code, message, None, headers)
        except Exception:  # a page that cannot render itself now: the envelope still answers
            logger.exception("error page failed to render on %s", path)
    renderer = _renderer_for(app, path) if app is not None else None
    if renderer is not None:
        return renderer(status, code, message, None, headers)
    return error_response(status, code, message, headers=headers)


def install_error_handlers(
    app: FastAPI,
    renderers: Mapping[str, ErrorRenderer] | None = None,
    pages: Mapping[str, PageErrorRenderer] | None = None,
) -> None:
    """The handlers for every error; ``renderers`` give a surface under a path prefix its own
    error shape (the OpenAI-compatible ``/v1/``), ``pages`` give pages for people under a root
    theirs (the dashboard; they go first), the native envelope everywhere else."""
    setattr(app.state, RENDERERS_STATE, dict(renderers or {}))
    setattr(app.state, PAGE_RENDERERS_STATE, dict(pages or {}))
    app.add_exception_handler(MediaStudioError, _handle_domain)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in {
        400: "invalid_request",
        401: "missing_api_key, invalid_api_key, expired_api_key",
        403: "insufficient_scope, ip_not_allowed, model_not_allowed",
        404: "not_found",
        429: "rate_limited, quota_exceeded",
        500: "internal_error",
    }.items()
}

STATE_CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorEnvelope,
        "description": "invalid_request: the job's status forbids this action (e.g. it finished)",
    }
}

CREATE_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    402: {"model": ErrorEnvelope, "description": "insufficient_credits"},
    409: {"model": ErrorEnvelope, "description": "idempotency_key_in_use"},
    422: {"model": ErrorEnvelope, "description": "idempotency_key_reused"},
    503: {
        "model": ErrorEnvelope,
        "description": "model_unavailable; insufficient_storage (low on disk, with Retry-After)",
    },
}
