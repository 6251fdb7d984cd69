"""The fetcher's errors: :class:`FetchError` (a ``ValueError``) and its subclasses, whose
messages are safe to show whoever supplied the URL."""

from __future__ import annotations


class FetchError(ValueError):
    """The URL could not be fetched; the message is safe to show whoever supplied the URL."""


class BlockedUrl(FetchError):
    """The URL is refused by policy (scheme, credentials, host syntax, port, redirect)."""


class BlockedAddress(BlockedUrl):
    """The host is, or resolves to, an address that may not be contacted."""


class ResolveFailed(FetchError):
    """DNS did not resolve the host."""


class TooManyRedirects(FetchError):
    pass


class ResponseTooLarge(FetchError):
    pass


class FetchTimeout(FetchError):
    pass


class FetchFailed(FetchError):
    """Connecting, TLS or HTTP failed, or the response cannot be used."""


class BadStatus(FetchFailed):
    def __init__(self, status: int) -> None:
        super().__init__(f"The server answered HTTP {status}.")
        self.status = status
