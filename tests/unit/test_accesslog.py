"""Signed-URL signatures and stream tokens never reach the access log."""

from __future__ import annotations

import io
import logging

from mediastudio.kit.accesslog import (
    ACCESS_LOGGER,
    RedactQuerySecrets,
    redact,
    redact_access_log,
)


def test_the_access_logger_writes_request_lines_without_secrets() -> None:
    redact_access_log()
    redact_access_log()  # once is enough; twice changes nothing
    logger = logging.getLogger(ACCESS_LOGGER)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        # The call uvicorn's HTTP protocols make for every response.
        logger.warning(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/files/acc/gen/0.png?expires=1790000000&signature=9f86d081884c7d65",
            "1.1",
            200,
        )
        logger.warning(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5001",
            "GET",
            "/api/v1/ws?token=abc.def",
            "1.1",
            101,
        )
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines == [
        '127.0.0.1:5000 - "GET /files/acc/gen/0.png?expires=1790000000&signature=[redacted]'
        ' HTTP/1.1" 200',
        '127.0.0.1:5001 - "GET /api/v1/ws?token=[redacted] HTTP/1.1" 101',
    ]
    assert sum(isinstance(f, RedactQuerySecrets) for f in logger.filters) == 1


def test_only_secret_parameters_are_redacted() -> None:
    assert redact("/x?signature=a&expires=2&Token=b") == (
        "/x?signature=[redacted]&expires=2&Token=[redacted]"
    )
    assert redact("/files/signature=a/x?my_token=b") == "/files/signature=a/x?my_token=b"
    assert redact("/x") == "/x"
