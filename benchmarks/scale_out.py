"""Sandbox jobs per second with 1, 2 and 4 worker processes: does adding workers add throughput?

One ``serve --no-workers`` on a fresh PostgreSQL database, RabbitMQ between it and N
``mediastudio worker --pools cpu --concurrency C`` processes. A burst of sandbox image jobs is
created at once; the figure is jobs / (last ``completed_at`` - first ``created_at``), both stamped
by the server, so the client's polling does not count. Each worker count gets its own database
and queue prefix.

    python benchmarks/scale_out.py [--jobs 100] [--workers 1,2,4] [--concurrency 2]

Needs a machine with as many free cores as workers to mean anything: on a shared one the figures
only show that more workers do not slow things down.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

from common import clean_environment, free_port, mediastudio_cli
from dispatch_latency import BODY, BROKER_URL, _delete_queue, start, wait_for_line

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def measure(workers: int, jobs: int, concurrency: int, admin_dsn: str, broker_url: str) -> float:
    name = f"bench_scale_{os.getpid()}_{workers}"
    asyncio.run(_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    prefix = f"bench.{os.getpid()}.{workers}."
    try:
        with tempfile.TemporaryDirectory(prefix="scale-out-") as folder:
            root = Path(folder)
            env = clean_environment(
                MEDIASTUDIO_DATA_DIR=str(root / "data"),
                MEDIASTUDIO_BOOTSTRAP="false",
                MEDIASTUDIO_DISABLED_ENGINES='["builtin"]',
                MEDIASTUDIO_LOG_LEVEL="info",
                MEDIASTUDIO_DATABASE_URL=admin_dsn.rsplit("/", 1)[0] + f"/{name}",
                MEDIASTUDIO_BROKER_URL=broker_url,
                MEDIASTUDIO_BROKER_QUEUE_PREFIX=prefix,
            )
            email = f"scale-{workers}@bench.local"
            create = ["accounts", "create", "--email", email, "--plan", "unlimited"]
            mediastudio_cli([*create, "--credits", "10"], env)
            out = mediastudio_cli(
                ["keys", "create", "--account", email, "--name", "bench", "--test"], env
            )
            key = out.strip().splitlines()[-1]
            port = free_port()
            serve = ["serve", "--port", str(port), "--no-workers"]
            processes = [start(serve, env, root / "serve.log")]
            try:
                wait_for_line(root / "serve.log", "Uvicorn running")
                logs = [root / f"worker-{n}.log" for n in range(workers)]
                for log in logs:
                    command = ["worker", "--pools", "cpu", "--concurrency", str(concurrency)]
                    processes.append(start(command, env, log))
                for log in logs:
                    wait_for_line(log, " ready.")
                return _burst(f"http://127.0.0.1:{port}", key, jobs)
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                for pool in ("cpu", "gpu", "io", "remote"):
                    _delete_queue(broker_url, f"{prefix}{pool}")
    finally:
        asyncio.run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _burst(base_url: str, key: str, jobs: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:

        def create(_: int) -> str:
            response = http.post("/api/v1/generate/image", json=BODY)
            response.raise_for_status()
            return str(response.json()["id"])

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(create, range(jobs)))
        bodies = []
        for job_id in ids:
            while True:
                body = http.get(f"/api/v1/generations/{job_id}").json()
                if body["status"] in ("completed", "failed"):
                    bodies.append(body)
                    break
                time.sleep(0.1)
    first = min(datetime.fromisoformat(b["created_at"]) for b in bodies)
    last = max(datetime.fromisoformat(b["completed_at"]) for b in bodies)
    return jobs / (last - first).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=2, help="slots of each worker")
    parser.add_argument(
        "--admin-dsn", default=ADMIN_DSN, help="a PostgreSQL that may CREATE DATABASE"
    )
    parser.add_argument("--broker-url", default=BROKER_URL)
    args = parser.parse_args()
    print(f"{'workers':>7} {'slots':>5} {'jobs':>5} {'jobs/s':>8}")
    for count in (int(n) for n in args.workers.split(",")):
        rate = measure(count, args.jobs, args.concurrency, args.admin_dsn, args.broker_url)
        print(f"{count:>7} {count * args.concurrency:>5} {args.jobs:>5} {rate:>8.1f}")


if __name__ == "__main__":
    main()
