"""What a generation tells live listeners: one event per status change, and progress.

Every status change is announced through :func:`announce` inside the transaction that makes it;
the event is published only once that transaction has committed (``after_commit``), so a listener
never hears of a change that was rolled back, and reading the database after an event always
shows at least that change. The event carries only the status and progress: a listener that
sends a terminal event reads the whole generation from the database then (with URLs signed for
its own client).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.generations.models import Generation, Status
from mediastudio.kit.db import after_commit
from mediastudio.kit.events import Event, EventBus

STATUS = "status"
PROGRESS = "progress"
TERMINAL_KINDS = frozenset(s.value for s in Status if s.is_terminal)
KINDS = (STATUS, PROGRESS, *sorted(TERMINAL_KINDS))


def kind_of(status: Status | str) -> str:
    """``status`` for queued/processing; the status itself for a terminal one."""
    value = Status(status).value
    return value if value in TERMINAL_KINDS else STATUS


def status_event(generation: Generation, status: Status | str, progress: int) -> Event:
    data: dict[str, Any] = {"status": Status(status).value, "progress": progress}
    return Event(
        generation.account_id, generation.id, kind_of(status), data, sandbox=generation.sandbox
    )


def progress_event(generation: Generation, progress: int) -> Event:
    data = {"status": Status.PROCESSING.value, "progress": progress}
    return Event(generation.account_id, generation.id, PROGRESS, data, sandbox=generation.sandbox)


def announce(
    session: AsyncSession,
    bus: EventBus,
    generation: Generation,
    status: Status | str,
    progress: int,
    **extra: Any,
) -> None:
    """Publish the move of ``generation`` to ``status`` once the current transaction commits."""
    event = status_event(generation, status, progress)
    event.data.update(extra)

    async def publish() -> None:
        await bus.publish(event)

    after_commit(session, publish)
