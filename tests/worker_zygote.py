"""A process that has imported MediaStudio and Celery once, and forks ``mediastudio worker``
processes from that state on request (tests/deployment.py).

A worker started afresh spent most of its start-up (about 9 s on the loaded 2-core development
machine) importing; the distributed suites start one per test. Forked from here it only builds
its platform and connects. The zygote starts no threads (fork would copy them half-done) and
lets the kernel reap its children (``SIGCHLD`` ignored); the test process watches a child
through a pidfd.

Protocol: one JSON line on stdin per child (``{"args", "env", "cwd", "log"}``), answered by
one line on stdout with its pid.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _child(request: dict[str, object]) -> None:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    sys.stdout.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    sys.argv = ["mediastudio", *request["args"]]  # type: ignore[misc]
    code = 0
    try:
        from mediastudio.cli.main import app

        app(prog_name="mediastudio")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main() -> None:
    # What a worker imports on its way to consuming, imported once here.
    import celery  # noqa: F401
    import kombu  # noqa: F401

    import mediastudio.cli.main
    import mediastudio.platform
    import mediastudio.runtime.worker  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print("zygote ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
