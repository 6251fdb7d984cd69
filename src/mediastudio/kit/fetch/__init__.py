"""SSRF-safe HTTP: the one place that decides which URLs the server may fetch or post to.

Engines fetch user-supplied ``*_url`` inputs and webhooks post to user-registered endpoints, so
both are requests an outsider aims at our network. Every request here goes through the same
steps, for the first URL and again for every redirect hop:

1. :func:`check_url`: ``https`` only (``http`` only for hosts the operator allowlists), no
   ``user:pass@``, a well-formed host (IDNA-normalised; numeric tricks such as ``2130706433`` or
   ``127.1`` refused), a sane port.
2. :func:`resolve`: one DNS lookup; *every* address it returns must be public (see
   :func:`blocked_reason`) unless the operator allowlisted the host or the address.
3. The connection is pinned to the checked addresses. httpcore's connection pool takes a
   *network backend*; ours ignores the host name httpcore asks for and connects to the addresses
   step 2 checked, so no second lookup can be rebound to an internal address. Everything above
   the socket still uses the URL's host name: httpcore sends it as TLS SNI, the certificate is
   verified against it (``server_hostname``), and it is the ``Host`` header. A fresh pool per hop
   means a connection is never reused for another host.
4. Caps: ``Content-Length`` checked first and bytes counted while streaming, a connect timeout,
   and one deadline over the whole request (every hop, connect, TLS, every read and write;
   a blocking DNS lookup cannot be interrupted, so it is checked against the deadline after).

Errors are :class:`FetchError` (a ``ValueError``) subclasses whose messages are safe to show the
user who supplied the URL; callers map them to their own errors (``invalid_input`` for engines,
a failed delivery for webhooks). Engines reach it through ``runtime/inputs.SafeFetcher``.
"""

from __future__ import annotations

from mediastudio.kit.fetch.addresses import METADATA, IPAddress, IPNetwork, blocked_reason
from mediastudio.kit.fetch.client import (
    REDIRECT_STATUSES,
    PostResult,
    decode_data_uri,
    fetch_input,
    fetch_to_file,
    post_json,
)
from mediastudio.kit.fetch.errors import (
    BadStatus,
    BlockedAddress,
    BlockedUrl,
    FetchError,
    FetchFailed,
    FetchTimeout,
    ResolveFailed,
    ResponseTooLarge,
    TooManyRedirects,
)
from mediastudio.kit.fetch.policy import AllowRule, NetPolicy, parse_allow_hosts
from mediastudio.kit.fetch.targets import (
    DEFAULT_PORTS,
    MAX_URL_LENGTH,
    ParsedTarget,
    check_url,
    resolve,
    resolve_async,
)

__all__ = [
    "DEFAULT_PORTS",
    "MAX_URL_LENGTH",
    "METADATA",
    "REDIRECT_STATUSES",
    "AllowRule",
    "BadStatus",
    "BlockedAddress",
    "BlockedUrl",
    "FetchError",
    "FetchFailed",
    "FetchTimeout",
    "IPAddress",
    "IPNetwork",
    "NetPolicy",
    "ParsedTarget",
    "PostResult",
    "ResolveFailed",
    "ResponseTooLarge",
    "TooManyRedirects",
    "blocked_reason",
    "check_url",
    "decode_data_uri",
    "fetch_input",
    "fetch_to_file",
    "parse_allow_hosts",
    "post_json",
    "resolve",
    "resolve_async",
]
