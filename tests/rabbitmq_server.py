"""The development RabbitMQ for tests, and a queue prefix per test whose queues are deleted when
it ends.

The server is ``MEDIASTUDIO_TEST_RABBITMQ`` (default ``amqp://guest:guest@127.0.0.1:5672//``, the
broker of the development machine and of CI). When it cannot be reached the tests that need it
skip with the reason, except under ``CI=true``, where they fail: CI has the server, so its
absence is a broken CI, not a reason to test less (the same rule as tests/postgres.py).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

RABBITMQ_URL = os.environ.get("MEDIASTUDIO_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
POOLS = ("cpu", "gpu", "io", "remote")


def _where(url: str) -> str:
    return url.partition("://")[2].rpartition("@")[2].partition("/")[0] or url


def require_rabbitmq(url: str = RABBITMQ_URL) -> None:
    """Skip (or, under CI, fail) unless the broker accepts a connection."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu's and amqp's errors, OSError, a timeout
        reason = f"RabbitMQ is not reachable at {_where(url)}: {type(exc).__name__}: {exc}"
        _fail_or_skip(reason)


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def delete_queues(prefix: str, url: str = RABBITMQ_URL) -> None:
    """Delete the pools' queues under ``prefix`` (and the exchanges Celery made for them)."""
    from kombu import Connection

    with Connection(url, connect_timeout=2) as connection:
        channel = connection.default_channel
        for pool in POOLS:
            channel.queue_delete(f"{prefix}{pool}")
            channel.exchange_delete(f"{prefix}{pool}")


def unique_prefix() -> Iterator[str]:
    """For a fixture: a queue prefix no other test (or deployment) uses; its queues are deleted
    afterwards."""
    require_rabbitmq()
    prefix = f"mstest.{os.getpid()}.{uuid.uuid4().hex[:12]}."
    try:
        yield prefix
    finally:
        delete_queues(prefix)


# Where Debian's rabbitmq-server package keeps the script that starts a node as the calling
# user (/usr/sbin/rabbitmq-server switches to the rabbitmq user and the system node's settings).
RABBITMQ_SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
# A node boots in 3-15 s on a busy machine.
START_TIMEOUT_S = 90.0
PR_SET_PDEATHSIG = 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it (SIGKILL) when the test process dies, so
    a test killed or crashed leaves no node behind. The node's script execs the VM (below), so
    the VM itself carries this."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class PrivateRabbitMQ:
    """A RabbitMQ node of one test's own that the test may kill, stop and start again (the
    development broker on 5672 is shared, so restarting it would break other tests).

    Its own node name, AMQP port, distribution port, data folder, configuration and cookie; it
    shares only the machine's epmd. Its data folder survives a restart, as a real node's does:
    durable queues and the persistent messages it had written to disk come back. Without
    Debian's rabbitmq-server package the test skips, except under ``CI=true``."""

    def __init__(self, folder: Path) -> None:
        if not Path(RABBITMQ_SCRIPT).exists() or shutil.which("erl") is None:
            _fail_or_skip(
                f"RabbitMQ is not installed ({RABBITMQ_SCRIPT}, Debian's rabbitmq-server)"
            )
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.dist_port = _free_port()
        self.node = f"mstest{os.getpid()}x{uuid.uuid4().hex[:8]}@localhost"
        (folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (folder / "enabled_plugins").write_text("[].\n")
        (folder / "rabbitmq-env.conf").write_text("")  # not the system node's
        cookie = folder / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex)
        cookie.chmod(0o400)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        folder = str(self.folder)
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": folder,  # its cookie
            "RABBITMQ_CONF_ENV_FILE": f"{folder}/rabbitmq-env.conf",
            "RABBITMQ_CONFIG_FILE": f"{folder}/rabbitmq.conf",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{folder}/enabled_plugins",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": f"{folder}/mnesia",
            "RABBITMQ_LOG_BASE": f"{folder}/log",
            "RABBITMQ_LOGS": "-",  # to its stdout, the log file of this start
            "RABBITMQ_PID_FILE": f"{folder}/node.pid",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # Makes the script exec the VM instead of running it as a child of a shell that
            # turns signals into a stop: SIGKILL and the parent-death signal reach the node.
            "RUNNING_UNDER_SYSTEMD": "true",
        }

    def start(self) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        from kombu import Connection

        assert self.process is None, "stop it first"
        self.starts += 1
        log = (self.folder / f"rabbitmq-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [RABBITMQ_SCRIPT],
            env=self._env(),
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with Connection(self.url, connect_timeout=1) as connection:
                    connection.ensure_connection(max_retries=1, timeout=1)
                return
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError(f"RabbitMQ did not start:\n{self.log()}") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no goodbye to its clients, nothing flushed that was not on disk yet."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(30)
            self.process = None

    def stop(self) -> None:
        """A clean stop (SIGTERM): the node closes its connections and writes its queues."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
            self.process = None

    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.folder.glob("rabbitmq-*.log"))
        )
