"""Errors on the OpenAI-compatible surface: OpenAI's shape, MediaStudio's statuses and codes.

OpenAI answers ``{"error": {"message", "type", "param", "code"}}``; its clients read the status
(``AuthenticationError`` for 401, ``BadRequestError`` for 400…) and show the message. The status
and ``code`` stay MediaStudio's (``invalid_api_key``, ``insufficient_credits``…), so a client
can tell the same refusals apart on both surfaces; ``type`` is OpenAI's family for the status
and ``param`` the first field the refusal names.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from mediastudio.kit.errors import MediaStudioError

PREFIX = "/v1/"

_TYPES: dict[int, str] = {
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPES.get(status, "invalid_request_error")


def _param(details: dict[str, Any] | None) -> str | None:
    fields = (details or {}).get("fields")
    if isinstance(fields, list) and fields and isinstance(fields[0], dict):
        field = fields[0].get("field")
        return str(field) if field is not None else None
    return None


def render_openai_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> JSONResponse:
    """The :class:`~mediastudio.kit.errors.ErrorRenderer` of everything under ``/v1/``."""
    body = {
        "error": {
            "message": message,
            "type": error_type(status),
            "param": _param(details),
            "code": code,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


class JobNotFinished(MediaStudioError):
    """The job outlived the wait bound: it was cancelled and refunded. 504, which OpenAI's
    clients retry: a retry is a new job, and this one cost nothing."""

    code, status = "job_timeout", 504
    default_message = "The job did not finish in time; it was cancelled and refunded."


class JobFailed(MediaStudioError):
    """A job that failed for the provider's or the engine's reasons (refunded): 502, retried by
    OpenAI's clients as a new job."""

    code, status = "provider_error", 502


class JobRefused(MediaStudioError):
    """A job whose input or prompt the model refused (refunded): 400, not worth a retry."""

    code, status = "invalid_input", 400


class JobEngineError(MediaStudioError):
    code, status = "engine_error", 500


class JobTimedOut(MediaStudioError):
    code, status = "job_timeout", 504


class JobCancelled(MediaStudioError):
    """Cancelled through the native API while this request waited (refunded)."""

    code, status = "cancelled", 409


class _PromptRefused(JobRefused):
    code = "invalid_prompt"


JOB_ERRORS: dict[str, type[MediaStudioError]] = {
    "provider_error": JobFailed,
    "invalid_input": JobRefused,
    "invalid_prompt": _PromptRefused,
    "engine_error": JobEngineError,
    "job_timeout": JobTimedOut,
    "cancelled": JobCancelled,
}
DEFAULT_JOB_ERROR: type[MediaStudioError] = JobEngineError
