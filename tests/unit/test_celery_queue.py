"""The broker publisher (runtime/celery_queue.py) while the broker is away and after it is back:
no message is queued twice, a failed publish pauses the others instead of each trying in turn,
and the sweeper's offers after the outage send each job once."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from celery import Celery

from mediastudio.runtime.celery_queue import TASK, CeleryQueue, celery_app

PAUSE_S = 0.3


class Gate:
    """Stands in for the Celery app: ``send_task`` fails while the broker is "down", and may be
    held (``hold``) to see what piles up behind a publish in progress."""

    def __init__(self) -> None:
        self.down = False
        self.sent: list[str] = []
        self.tried: list[str] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def send_task(self, name: str, *, args: list[Any], queue: str) -> None:
        assert name == TASK
        assert queue == f"q.{args[1]}"
        self.entered.set()
        self.hold.wait(10)
        self.tried.append(args[0])
        if self.down:
            raise ConnectionRefusedError(111, "Connection refused")
        self.sent.append(args[0])


def publisher(gate: Gate) -> CeleryQueue:
    return CeleryQueue(
        cast(Celery, gate), queue_prefix="q.", resend_after_s=60, pause_after_failure_s=PAUSE_S
    )


def drain(queue: CeleryQueue) -> None:
    """Until what was submitted has been published (or dropped): one more item behind it."""
    done = threading.Event()
    queue._publisher.submit(done.set).result(10)


def test_an_outage_costs_one_attempt_and_each_job_is_sent_once_after_it() -> None:
    gate = Gate()
    queue = publisher(gate)
    jobs = [f"gen_{n}" for n in range(5)]
    try:
        gate.down = True
        for job in jobs:
            queue.enqueue(job, "cpu")
        drain(queue)
        # The first failed; the others, behind it, were dropped without a connection attempt.
        assert gate.tried == ["gen_0"]
        assert gate.sent == []

        # The sweeper offers them again during the pause: still not tried.
        for job in jobs:
            queue.enqueue(job, "cpu")
        drain(queue)
        assert gate.tried == ["gen_0"]

        gate.down = False  # back
        time.sleep(PAUSE_S + 0.05)
        for _ in range(3):  # several sweeps (and a few offers "again") after the outage
            for job in jobs:
                queue.enqueue(job, "cpu")
            queue.enqueue(jobs[0], "cpu", again=False)
            drain(queue)
        assert sorted(gate.sent) == jobs  # each once
    finally:
        queue.close()


def test_an_id_waiting_to_be_sent_is_not_queued_again() -> None:
    gate = Gate()
    queue = publisher(gate)
    try:
        gate.hold.clear()  # the publisher is stuck sending the first (a slow broker)
        queue.enqueue("gen_slow", "cpu")
        assert gate.entered.wait(10)
        for _ in range(10):
            queue.enqueue("gen_waiting", "gpu", again=True)
        gate.hold.set()
        drain(queue)
        assert gate.sent == ["gen_slow", "gen_waiting"]
        queue.enqueue("gen_waiting", "gpu", again=True)  # sent, so offered again on purpose
        drain(queue)
        assert gate.sent == ["gen_slow", "gen_waiting", "gen_waiting"]
    finally:
        queue.close()


def test_workers_keep_reconnecting_to_a_broker_that_stays_away() -> None:
    app = celery_app("amqp://127.0.0.1:1//", queue_prefix="q.", visibility_timeout_s=60)
    assert app.conf.broker_connection_max_retries is None
