"""How long a created job waits before a worker starts it: embedded versus distributed.

The figure is ``started_at - created_at`` of sandbox image jobs (both stamped by the server: the
create's insert, the worker's claim), one job at a time so that queueing behind other jobs does
not count: the dispatch path alone. Three set-ups on one database:

- ``embedded``: ``mediastudio serve``, the in-process dispatcher;
- ``broker``: ``serve --no-workers`` + ``mediastudio worker --pools cpu`` over the broker
  (``--broker-url``, default the development RabbitMQ);
- ``polling``: ``serve --no-workers`` + a worker without a broker (it polls the database every
  ``sweep_interval_s``, 5 s by default).

    python benchmarks/dispatch_latency.py [--jobs 30] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from common import CREATE_BODY, ROOT, clean_environment, free_port, mediastudio_cli

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
READY_TIMEOUT_S = 120.0
# The sandbox model by name: the default image model may be a hosted one, of the remote pool.
BODY = {**CREATE_BODY, "model": "sandbox/image"}


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "mediastudio", *command],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_line(log: Path, marker: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while marker not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{log.name}: no {marker!r} within {READY_TIMEOUT_S:g} s")
        time.sleep(0.2)


def measure(mode: str, jobs: int, database_url: str | None, broker_url: str) -> list[float]:
    with tempfile.TemporaryDirectory(prefix=f"dispatch-{mode}-") as folder:
        root = Path(folder)
        extra = {"MEDIASTUDIO_DATA_DIR": str(root / "data"), "MEDIASTUDIO_BOOTSTRAP": "false"}
        extra["MEDIASTUDIO_DISABLED_ENGINES"] = '["builtin"]'
        extra["MEDIASTUDIO_LOG_LEVEL"] = "info"  # the readiness lines below are info
        if database_url:
            extra["MEDIASTUDIO_DATABASE_URL"] = database_url
        if mode == "broker":
            extra["MEDIASTUDIO_BROKER_URL"] = broker_url
            extra["MEDIASTUDIO_BROKER_QUEUE_PREFIX"] = f"bench.{os.getpid()}."
        env = clean_environment(**extra)
        email = f"{mode}-{os.getpid()}@bench.local"
        mediastudio_cli(
            ["accounts", "create", "--email", email, "--plan", "unlimited", "--credits", "10"], env
        )
        out = mediastudio_cli(
            ["keys", "create", "--account", email, "--name", "bench", "--test"], env
        )
        key = out.strip().splitlines()[-1]
        port = free_port()
        serve = ["serve", "--port", str(port)] + ([] if mode == "embedded" else ["--no-workers"])
        processes = [start(serve, env, root / "serve.log")]
        try:
            wait_for_line(root / "serve.log", "Uvicorn running")
            if mode != "embedded":
                processes.append(start(["worker", "--pools", "cpu"], env, root / "worker.log"))
                marker = " ready." if mode == "broker" else "polling the database"
                wait_for_line(root / "worker.log", marker)
            return _run_jobs(f"http://127.0.0.1:{port}", key, jobs)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
            if mode == "broker":
                for pool in ("cpu", "gpu", "io", "remote"):
                    _delete_queue(broker_url, f"bench.{os.getpid()}.{pool}")


def _delete_queue(broker_url: str, name: str) -> None:
    from kombu import Connection

    with Connection(broker_url, connect_timeout=2) as connection:
        connection.default_channel.queue_delete(name)
        connection.default_channel.exchange_delete(name)


def _run_jobs(base_url: str, key: str, jobs: int) -> list[float]:
    waits = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        for _ in range(jobs):
            created = http.post("/api/v1/generate/image", json=BODY)
            created.raise_for_status()
            job_id = created.json()["id"]
            while True:
                body = http.get(f"/api/v1/generations/{job_id}").json()
                if body["status"] in ("completed", "failed"):
                    break
                time.sleep(0.05)
            started = datetime.fromisoformat(body["started_at"])
            waits.append((started - datetime.fromisoformat(body["created_at"])).total_seconds())
    return waits


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    parser.add_argument("--broker-url", default=BROKER_URL)
    parser.add_argument("--modes", default="embedded,broker,polling")
    args = parser.parse_args()
    print(f"{'mode':<10} {'jobs':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for mode in args.modes.split(","):
        waits = measure(mode, args.jobs, args.database_url, args.broker_url)
        p50, p99 = _percentile(waits, 0.5) * 1000, _percentile(waits, 0.99) * 1000
        print(f"{mode:<10} {len(waits):>5} {p50:>9.1f} {p99:>9.1f} {max(waits) * 1000:>9.1f}")


if __name__ == "__main__":
    main()
