"""The distributed dispatcher: Celery messages from the API to ``mediastudio worker`` processes.

Chosen by ``MEDIASTUDIO_BROKER_URL`` (RabbitMQ ``amqp://…`` or Redis ``redis://…``). A message
says only "job X of pool P is ready"; the database stays the truth. A worker that receives one
claims the job in the database under a lease exactly as the in-process workers do
(``JobRunner.run``), so a duplicate or stale message costs one failed conditional UPDATE, and a
lost one costs a delay: the sweeper re-offers every queued job.

One queue per pool (``mediastudio.cpu``, ``mediastudio.gpu``…): a worker started with
``--pools gpu`` consumes only ``mediastudio.gpu``. Messages are acknowledged after the run
(``acks_late``) and given back when the worker process dies (``reject_on_worker_lost``); each
worker thread takes one message at a time (prefetch 1). A message redelivered while its job is
still leased to a dead worker is skipped; the sweeper re-offers the job once the lease expires.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from mediastudio.engines.contract import POOLS

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger("mediastudio.broker")

TASK = "mediastudio.run_job"
# Beyond this many remembered offers, those older than the resend window are forgotten.
PRUNE_AT = 10_000
# After a publish failed (the broker is away), offers are not sent for this long: each would
# only fail too, one connection attempt after another. They are forgotten instead, so the
# sweeper's next offer sends them once the broker is back.
PAUSE_AFTER_FAILURE_S = 5.0


def queue_name(prefix: str, pool: str) -> str:
    """The broker queue of a pool; a pool no worker knows goes to cpu, as in-process."""
    return prefix + (pool if pool in POOLS else "cpu")


def celery_app(broker_url: str, *, queue_prefix: str, visibility_timeout_s: float) -> Celery:
    """The Celery application both sides use: the API only sends, workers consume."""
    try:
        from celery import Celery
    except ImportError as exc:
        raise RuntimeError(
            "MEDIASTUDIO_BROKER_URL needs Celery: pip install 'mediastudio[distributed]'"
        ) from exc

    app = Celery("mediastudio", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Redis only: an unacknowledged message is handed out again after this long, so it
        # must outlast the longest job (RabbitMQ redelivers when the consumer's connection
        # drops instead; its consumer_timeout must outlast the longest job, see deployment.md).
        broker_transport_options={"visibility_timeout": visibility_timeout_s},
        task_ignore_result=True,
        task_create_missing_queues=True,
        task_default_queue=queue_name(queue_prefix, "cpu"),
        broker_connection_retry_on_startup=True,
        # A worker whose broker is away (restarted, failed over) keeps trying to reconnect,
        # however long it takes, instead of exiting after Celery's default of 100 tries.
        broker_connection_max_retries=None,
        # A lost broker connection must not stop jobs that hold their database lease: the
        # runner keeps them, and their redelivered messages are skipped by the claim.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Cancels reach workers through the database, so no remote-control queues are needed.
        worker_enable_remote_control=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app


class CeleryQueue:
    """:class:`JobQueue` over a broker. Publishing happens on one background thread, so a slow
    or absent broker never blocks the event loop; a failed publish is logged and the job stays
    queued in the database for the sweeper to offer again.

    The sweeper offers every queued job on each pass; an id already sent within
    ``resend_after_s`` is not sent again (unless offered ``again``), so a backlog does not
    multiply its messages, while one whose message was lost is sent again soon.

    While the broker is away, an id waiting to be sent is not queued twice (even when offered
    ``again``), and after a failed publish those waiting are dropped for
    ``pause_after_failure_s`` instead of each trying to connect in turn: the sweeper offers
    them again, so each is sent once the broker is back."""

    def __init__(
        self,
        app: Celery,
        *,
        queue_prefix: str,
        resend_after_s: float,
        pause_after_failure_s: float = PAUSE_AFTER_FAILURE_S,
    ) -> None:
        self.app = app
        self.queue_prefix = queue_prefix
        self.resend_after_s = resend_after_s
        self.pause_after_failure_s = pause_after_failure_s
        self._sent: dict[str, float] = {}
        self._waiting: set[str] = set()
        self._paused_until = 0.0
        # enqueue runs on the event loop (and on Celery's task threads), _publish on the
        # publisher thread.
        self._lock = threading.Lock()
        self._publisher = ThreadPoolExecutor(1, thread_name_prefix="broker-publish")

    def enqueue(self, generation_id: str, pool: str, *, again: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if generation_id in self._waiting:
                return  # its message is about to be sent: one is enough
            last = self._sent.get(generation_id)
            if not again and last is not None and now - last < self.resend_after_s:
                return
            self._sent[generation_id] = now
            if len(self._sent) > PRUNE_AT:
                self._sent = {
                    key: sent
                    for key, sent in self._sent.items()
                    if now - sent < self.resend_after_s
                }
            self._waiting.add(generation_id)
        self._publisher.submit(self._publish, generation_id, pool)

    def cancel(self, generation_id: str) -> None:
        """Nothing to send: the database already says cancelled, and the worker running the job
        checks the status of the jobs it holds every second (``JobRunner.stop_unheld``)."""

    def _publish(self, generation_id: str, pool: str) -> None:
        with self._lock:
            self._waiting.discard(generation_id)
            paused = time.monotonic() < self._paused_until
            if paused:
                self._sent.pop(generation_id, None)  # the sweeper's next offer sends it
        if paused:
            logger.debug("not offering %s: the broker failed moments ago", generation_id)
            return
        try:
            self.app.send_task(
                TASK, args=[generation_id, pool], queue=queue_name(self.queue_prefix, pool)
            )
        except Exception as exc:
            with self._lock:
                self._sent.pop(generation_id, None)
                self._paused_until = time.monotonic() + self.pause_after_failure_s
            logger.warning(
                "could not offer %s to the broker (the sweeper will; no offers for %g s): %s",
                generation_id,
                self.pause_after_failure_s,
                exc,
            )

    def close(self) -> None:
        """Send what is waiting to be sent, then stop."""
        self._publisher.shutdown(wait=True)
