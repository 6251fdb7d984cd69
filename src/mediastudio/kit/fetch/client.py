"""The requests themselves: :func:`fetch_to_file` (blocking GET, for engines),
:func:`post_json` (async POST, for webhooks), :func:`fetch_input` and :func:`decode_data_uri`
(the engines' inputs)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import mimetypes
import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast
from urllib.parse import unquote_to_bytes

import httpcore
import httpx

from mediastudio.kit.fetch.errors import (
    BadStatus,
    BlockedUrl,
    FetchFailed,
    FetchTimeout,
    ResponseTooLarge,
    TooManyRedirects,
)
from mediastudio.kit.fetch.policy import NetPolicy
from mediastudio.kit.fetch.targets import ParsedTarget, check_url, resolve, resolve_async
from mediastudio.kit.fetch.transport import (
    _AsyncPinnedBackend,
    _core_url,
    _Deadline,
    _extensions,
    _pin,
    _PinnedBackend,
    _ssl_context,
    _transport_errors,
)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


# Fetching a file (blocking, for engines) ------------------------------------------------------


def fetch_to_file(url: str, dest_dir: Path, policy: NetPolicy) -> Path:
    """GET ``url`` into a new file in ``dest_dir``, following up to ``policy.max_redirects``
    redirects, each checked like the first URL. Blocking: engines call it from worker threads.
    No partial file is left behind on failure."""
    deadline = _Deadline(policy.total_timeout_s)
    target = check_url(url, policy)
    for _ in range(policy.max_redirects + 1):
        addresses = resolve(target.host, target.port, policy)
        deadline.left(None, FetchTimeout)  # the system resolver has its own timeouts
        pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(policy.ca_file),
            max_connections=1,
            retries=0,
            network_backend=_PinnedBackend(_pin(target, addresses), deadline),
        )
        with (
            _transport_errors(target),
            pool,
            pool.stream(
                "GET",
                _core_url(target),
                headers=_get_headers(target, policy),
                extensions=_extensions(policy),
            ) as response,
        ):
            location = _redirect_location(response)
            if location is None:
                return _save(response, target, dest_dir, policy)
        target = _next_hop(target, location, policy)
    if policy.max_redirects == 0:
        raise TooManyRedirects("The URL redirects, and redirects are not followed here.")
    raise TooManyRedirects(f"The URL redirects more than {policy.max_redirects} times.")


def _get_headers(target: ParsedTarget, policy: NetPolicy) -> list[tuple[bytes, bytes]]:
    return [
        (b"Host", target.url.netloc),
        (b"User-Agent", policy.user_agent.encode()),
        (b"Accept", b"*/*"),
        # Bytes on the wire are bytes on disk: no decompression bomb behind the size cap.
        (b"Accept-Encoding", b"identity"),
    ]


def _redirect_location(response: httpcore.Response) -> str | None:
    if response.status not in REDIRECT_STATUSES:
        return None
    location: str | None = httpx.Headers(response.headers).get("location")
    return location


def _next_hop(previous: ParsedTarget, location: str, policy: NetPolicy) -> ParsedTarget:
    try:
        joined = previous.url.join(location)
    except httpx.InvalidURL as exc:
        raise BlockedUrl("The URL redirects to a malformed URL.") from exc
    target = check_url(joined, policy)
    if previous.scheme == "https" and target.scheme == "http":
        raise BlockedUrl("The URL redirects from https:// to http://, which is refused.")
    return target


def _save(
    response: httpcore.Response, target: ParsedTarget, dest_dir: Path, policy: NetPolicy
) -> Path:
    if not 200 <= response.status < 300:
        raise BadStatus(response.status)
    headers = httpx.Headers(response.headers)
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        raise FetchFailed("The server sent a compressed (Content-Encoding) response.")
    declared = _content_length(headers)
    if declared is not None and declared > policy.max_bytes:
        raise ResponseTooLarge(f"The file is larger than {policy.max_bytes} bytes.")
    final = dest_dir / f"input-{uuid.uuid4().hex}{_suffix(headers, target)}"
    partial = final.with_name(final.name + ".part")
    try:
        with partial.open("xb") as out:
            _copy_capped(response.iter_stream(), out, policy.max_bytes)
        partial.replace(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _content_length(headers: httpx.Headers) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


def _copy_capped(chunks: Iterable[bytes], out: BinaryIO, limit: int) -> None:
    # Counted as it arrives: Content-Length may be absent (close-delimited or chunked).
    written = 0
    for chunk in chunks:
        written += len(chunk)
        if written > limit:
            raise ResponseTooLarge(f"The file is larger than {limit} bytes.")
        out.write(chunk)


def _suffix(headers: httpx.Headers, target: ParsedTarget) -> str:
    """A file suffix from the Content-Type, else from the URL's path (canonical, never the
    user's own characters), else ``.bin``. Engines probe content; the suffix is a hint."""
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type != "application/octet-stream":
        suffix = mimetypes.guess_extension(media_type)
        if suffix:
            return suffix
    guessed, _ = mimetypes.guess_type(target.url.path)
    return (mimetypes.guess_extension(guessed) if guessed else None) or ".bin"


# Posting JSON (async, for webhooks) -----------------------------------------------------------


class PostResult(NamedTuple):
    status: int
    headers: httpx.Headers
    body_excerpt: bytes


_CALLER_MAY_NOT_SET = frozenset({"host", "content-length", "transfer-encoding", "connection"})


async def post_json(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    policy: NetPolicy,
    *,
    excerpt_bytes: int = 4096,
) -> PostResult:
    """POST ``body`` (already-serialised JSON, sent byte for byte) to ``url``.

    Redirects are never followed: a 3xx is returned like any other status, for the caller to
    count as a failed delivery. At most ``excerpt_bytes`` of the response are read, then the
    connection is closed. ``policy.total_timeout_s`` bounds everything, DNS included.
    """
    target = check_url(url, policy)
    try:
        async with asyncio.timeout(policy.total_timeout_s):
            # getaddrinfo blocks; in a thread it cannot stall the event loop, and the timeout
            # above abandons it if the resolver hangs.
            addresses = await resolve_async(target.host, target.port, policy)
            pool = httpcore.AsyncConnectionPool(
                ssl_context=_ssl_context(policy.ca_file),
                max_connections=1,
                retries=0,
                network_backend=_AsyncPinnedBackend(_pin(target, addresses)),
            )
            with _transport_errors(target):
                async with (
                    pool,
                    pool.stream(
                        "POST",
                        _core_url(target),
                        headers=_post_headers(target, body, headers, policy),
                        content=body,
                        extensions=_extensions(policy),
                    ) as response,
                ):
                    excerpt = await _read_excerpt(response, excerpt_bytes)
                    return PostResult(response.status, httpx.Headers(response.headers), excerpt)
    except TimeoutError as exc:
        raise FetchTimeout(f"{target.host}:{target.port} did not answer in time.") from exc


def _post_headers(
    target: ParsedTarget, body: bytes, headers: Mapping[str, str], policy: NetPolicy
) -> list[tuple[bytes, bytes]]:
    merged = {"user-agent": policy.user_agent, "content-type": "application/json"}
    merged |= {k.lower(): v for k, v in headers.items() if k.lower() not in _CALLER_MAY_NOT_SET}
    return [
        (b"Host", target.url.netloc),
        (b"Content-Length", str(len(body)).encode()),
        (b"Accept-Encoding", b"identity"),
        *((name.encode("ascii"), value.encode("ascii")) for name, value in merged.items()),
    ]


async def _read_excerpt(response: httpcore.Response, limit: int) -> bytes:
    excerpt = bytearray()
    # An async generator is not closed by leaving the loop early; close it here rather than
    # leave it to the garbage collector.
    chunks = cast(AsyncGenerator[bytes, None], response.aiter_stream())
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            excerpt += chunk[: limit - len(excerpt)]
            if len(excerpt) >= limit:
                break  # leaving the pool closes the connection: the rest is never read
    return bytes(excerpt)


# The engines' InputFetcher --------------------------------------------------------------------


def fetch_input(url: str, dest_dir: Path, policy: NetPolicy) -> Path:
    """A user-supplied input into ``dest_dir``: a ``data:`` URI decoded locally (size-capped),
    anything else through :func:`fetch_to_file` and every check above."""
    if url[:5].lower() == "data:":
        data, suffix = decode_data_uri(url, policy.max_bytes)
        path = dest_dir / f"input-{uuid.uuid4().hex}{suffix}"
        path.write_bytes(data)
        return path
    return fetch_to_file(url, dest_dir, policy)


def decode_data_uri(url: str, max_bytes: int) -> tuple[bytes, str]:
    """``data:[<type>][;base64],<data>`` → (bytes, file suffix)."""
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise BlockedUrl("Malformed data: URI (no comma).")
    media_type, *params = header.split(";")
    # base64 inflates by 4/3: refuse before decoding anything too large.
    if len(data) * 3 // 4 > max_bytes:
        raise ResponseTooLarge(f"The input is larger than {max_bytes} bytes.")
    try:
        raw = (
            base64.b64decode(data, validate=True) if "base64" in params else unquote_to_bytes(data)
        )
    except (binascii.Error, ValueError) as exc:
        raise BlockedUrl("Malformed base64 in data: URI.") from exc
    if len(raw) > max_bytes:
        raise ResponseTooLarge(f"The input is larger than {max_bytes} bytes.")
    return raw, mimetypes.guess_extension(media_type or "") or ".bin"
