"""Keeping credentials that travel in query strings out of the access log.

A signed output URL (``/files/…?expires=…&signature=…``) works without an API key until it
expires, and an event-stream ``?token=`` stands in for a key: uvicorn's access log writes every
request line whole, so anyone who can read the log could replay them. :class:`RedactQuerySecrets`
rewrites those values to ``[redacted]`` before any handler formats the record.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "[redacted]"
SECRET_PARAMETERS = ("signature", "token")

_SECRET_VALUE = re.compile(
    r"(?P<name>(?:^|[?&;])(?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&;\s\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced."""
    return _SECRET_VALUE.sub(lambda match: match["name"] + REDACTED, text)


class RedactQuerySecrets(logging.Filter):
    """Redacts secret query parameters in a record's message and arguments (uvicorn passes the
    request path with its query string as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log(logger_name: str = ACCESS_LOGGER) -> None:
    """Install the filter on the access logger, once. A logger's filters survive uvicorn's own
    ``dictConfig`` (it replaces handlers, not filters), so this may run before ``uvicorn.run``."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactQuerySecrets) for existing in logger.filters):
        logger.addFilter(RedactQuerySecrets())
