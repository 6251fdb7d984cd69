"""Webhook receivers on loopback (real sockets, through ``tests.fetch_servers``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fetch_servers import Handler, send


@dataclass
class Script:
    """Answers in order (the last one repeats): a status code, or ``"stall"`` (no answer
    until released or the server stops)."""

    answers: list[int | str] = field(default_factory=lambda: [200])
    # Instead of ``answers``: 503 to the first N requests of each webhook-id, then 200.
    fail_each: int = 0
    calls: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    # (webhook-id, answer) of every request, in the order they were answered.
    log: list[tuple[str, int | str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self) -> Callable[[Handler], None]:
        def handle(h: Handler) -> None:
            with self.lock:
                event_id = h.headers.get("webhook-id", "")
                if self.fail_each:
                    tries = sum(1 for i, _ in self.log if i == event_id)
                    answer: int | str = 503 if tries < self.fail_each else 200
                else:
                    answer = self.answers[min(self.calls, len(self.answers) - 1)]
                self.calls += 1
                self.log.append((event_id, answer))
            if answer == "stall":
                while not (self.release.is_set() or h.server.stopping.is_set()):
                    self.release.wait(0.05)
                return
            assert isinstance(answer, int)
            send(h, b'{"received": true}', status=answer, headers={"Content-Type": "text/plain"})

        return handle

    def ok_ids(self) -> list[str]:
        """The webhook-ids this receiver answered with a 2xx."""
        return [i for i, a in self.log if isinstance(a, int) and 200 <= a < 300]
