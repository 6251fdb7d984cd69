"""Looking through an exception at what it was raised from or during.

A database error reaches the code that answers it wrapped: SQLAlchemy keeps the driver's
exception in ``orig``, and others chain with ``raise … from`` or raise while handling one.
"""

from __future__ import annotations

from collections.abc import Callable


def any_in_chain(exc: BaseException, test: Callable[[BaseException], bool]) -> bool:
    """True when ``test`` holds for ``exc`` or for anything it wraps (``orig``, ``__cause__``,
    ``__context__``), each exception looked at once even where the chain loops."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if test(current):
            return True
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False
