"""Prefixed, time-sortable identifiers (``gen_01j9z…``).

26 characters of Crockford base32 after the prefix, ULID-style: 48 bits of milliseconds then 80
random bits. Sorting ids sorts by creation time, which is what cursor pagination relies on.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    milliseconds = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return f"{prefix}_{_encode(milliseconds, 10)}{_encode(secrets.randbits(80), 16)}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27


def first_id_at(prefix: str, moment_ms: int) -> str:
    """The smallest id ``new_id`` can make at ``moment_ms`` or later: ``id >= first_id_at(…)``
    selects rows created since then through an index on ids (time-sortable, see above)."""
    return f"{prefix}_{_encode(moment_ms, 10)}{'0' * 16}"
