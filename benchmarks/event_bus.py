"""Live events: events per second through the bus, and end to end to one SSE / WebSocket client.

    python benchmarks/event_bus.py [--events N] [--rounds R] [--redis URL] [--write-docs]

1. The bus alone (``InProcessBus``, in this process): publish N events of one account while S
   subscribers (0, 1, 10, 100) each drain their queue in their own task; the time runs from the
   first publish until every subscriber has every event. The publisher yields to the loop every
   100 events (as real publishers, which await a database commit between events, do), so the
   subscribers' bounded queues never overflow. With ``--redis URL`` the same for ``RedisBus``:
   one bus object publishes, another (standing for another process) holds the subscribers, so
   every event goes through Redis (a Lua script per publish, one reader's XREAD per batch).
2. End to end: a child process serves the real app with uvicorn on loopback (SQLite data
   directory, an account and a sandbox key made in it), with one extra benchmark-only route that
   publishes N ``status`` events of one generation on the bus. One client follows
   ``GET /api/v1/events`` (SSE) or ``GET /api/v1/ws`` in this process; the time runs from asking
   for the burst until the client has parsed the N-th event. ``status`` events need no database
   read; a terminal event also reads the generation once per listener (not measured here).

Each figure is the median of ``--rounds`` rounds. ``--write-docs`` updates the "Live events"
section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from common import DOCS, cpu_model, write_section
from mediastudio.kit.events import Event, EventBus, InProcessBus
from mediastudio.kit.redis_events import RedisBus

SECTION_BEGIN = "<!-- BEGIN event_bus (written by benchmarks/event_bus.py) -->"
SECTION_END = "<!-- END event_bus -->"
BENCH_GENERATION = "gen_benchmark"


def bench_event(sandbox: bool = True) -> Event:
    return Event("acc_bench", BENCH_GENERATION, "status", {"status": "processing"}, sandbox=sandbox)


# 1. The bus alone -------------------------------------------------------------------------------


async def bus_round(events: int, subscribers: int, redis_url: str | None = None) -> float:
    closing: list[RedisBus] = []
    bus: EventBus
    listening: EventBus
    if redis_url is None:
        bus = listening = InProcessBus(queue_size=10_000)
    else:
        prefix = f"mediastudio-bench:{os.getpid()}:{time.monotonic_ns()}"
        closing = [RedisBus(redis_url, key_prefix=prefix, queue_size=10_000) for _ in range(2)]
        bus, listening = closing
    received = [0] * subscribers
    done = asyncio.Event()
    ready = asyncio.Barrier(subscribers + 1)

    async def drain(index: int) -> None:
        try:
            async with listening.subscribe("acc_bench") as subscription:
                await ready.wait()
                while received[index] < events:
                    if await subscription.get(5) is None:
                        raise RuntimeError("subscriber starved")
                    received[index] += 1
        except BaseException:
            done.set()  # the round failed (EventsLost, starved): gather below raises it
            raise
        if all(count >= events for count in received):
            done.set()

    tasks = [asyncio.create_task(drain(i)) for i in range(subscribers)]
    await ready.wait()
    started = time.perf_counter()
    for number in range(events):
        await bus.publish(bench_event())
        if number % 100 == 99:
            await asyncio.sleep(0)
    if subscribers:
        await done.wait()
    elapsed = time.perf_counter() - started
    await asyncio.gather(*tasks)
    for made in closing:
        await made.aclose()
    if redis_url is not None:
        import redis.asyncio

        async with redis.asyncio.Redis.from_url(redis_url) as client:
            keys = [key async for key in client.scan_iter(f"{prefix}*")]
            if keys:
                await client.delete(*keys)
    return elapsed


def measure_bus(
    events: int, rounds: int, redis_url: str | None = None
) -> list[tuple[int, float, float]]:
    """Rows of (subscribers, events published per second, deliveries per second)."""
    rows = []
    name = "in-process" if redis_url is None else "Redis"
    for subscribers in (0, 1, 10, 100):
        times = [asyncio.run(bus_round(events, subscribers, redis_url)) for _ in range(rounds)]
        seconds = statistics.median(times)
        rows.append((subscribers, events / seconds, events * subscribers / seconds))
        print(
            f"{name} bus, {subscribers:3} subscribers: {events / seconds:10,.0f} events/s "
            f"published, {events * subscribers / seconds:12,.0f} deliveries/s"
        )
    return rows


# 2. End to end, with the server in a child process ---------------------------------------------


def child(data_dir: str) -> None:
    """The server side: the real app plus one route that publishes a burst of events."""
    import uvicorn

    from mediastudio.accounts import service as accounts
    from mediastudio.app import create_app
    from mediastudio.keys import service as keys
    from mediastudio.settings import load_settings

    settings = load_settings(
        data_dir=Path(data_dir), bootstrap=False, log_level="warning", events_heartbeat_s=60
    )
    app = create_app(settings)

    @app.post("/bench/publish")
    async def publish(account_id: str, n: int) -> dict[str, int]:
        bus = app.state.platform.bus
        for number in range(n):
            await bus.publish(
                Event(account_id, BENCH_GENERATION, "status", {"status": "processing"}, True)
            )
            if number % 100 == 99:
                await asyncio.sleep(0)
        return {"published": n}

    async def serve() -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
        platform_ = app.state.platform
        async with platform_.db.write() as session:
            account = await accounts.create(
                session, settings, email="bench@example.com", plan="unlimited", credits_granted=0
            )
        async with platform_.db.write() as session:
            owner = await accounts.require(session, account.id)
            key = await keys.create(session, owner, name="bench", sandbox=True)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(json.dumps({"port": port, "key": key.secret, "account": account.id}), flush=True)
        await task

    asyncio.run(serve())


async def sse_round(base_url: str, key: str, account: str, events: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as client,
        client.stream("GET", "/api/v1/events", headers=headers) as response,
    ):
        lines = response.aiter_lines()
        async for line in lines:
            if line == "event: ready":
                break
        started = time.perf_counter()
        trigger = asyncio.create_task(
            client.post("/bench/publish", params={"account_id": account, "n": events})
        )
        seen = 0
        async for line in lines:
            if line.startswith("data: ") and BENCH_GENERATION in line:
                json.loads(line[6:])
                seen += 1
                if seen == events:
                    break
        elapsed = time.perf_counter() - started
        await trigger
        return elapsed


async def ws_round(base_url: str, key: str, account: str, events: int) -> float:
    from websockets.asyncio.client import connect

    url = base_url.replace("http://", "ws://") + "/api/v1/ws"
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as client,
        connect(url, additional_headers=headers, proxy=None, max_queue=None) as socket,
    ):
        while json.loads(await socket.recv())["type"] != "ready":
            pass
        started = time.perf_counter()
        trigger = asyncio.create_task(
            client.post("/bench/publish", params={"account_id": account, "n": events})
        )
        seen = 0
        while seen < events:
            if json.loads(await socket.recv())["generation_id"] == BENCH_GENERATION:
                seen += 1
        elapsed = time.perf_counter() - started
        await trigger
        return elapsed


def measure_end_to_end(events: int, rounds: int) -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory() as root:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASTUDIO_")}
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", str(Path(root) / "data")],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            assert process.stdout is not None
            info = json.loads(process.stdout.readline())
            base_url = f"http://127.0.0.1:{info['port']}"
            rows = []
            for name, round_ in (("SSE, 1 client", sse_round), ("WebSocket, 1 client", ws_round)):
                asyncio.run(round_(base_url, info["key"], info["account"], 200))  # warm-up
                times = [
                    asyncio.run(round_(base_url, info["key"], info["account"], events))
                    for _ in range(rounds)
                ]
                rate = events / statistics.median(times)
                rows.append((name, rate))
                print(f"end to end, {name}: {rate:10,.0f} events/s")
            return rows
        finally:
            process.terminate()
            process.wait(20)


# Report -----------------------------------------------------------------------------------------


def document(
    bus_rows: list[tuple[int, float, float]],
    e2e_rows: list[tuple[str, float]],
    args: argparse.Namespace,
) -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        SECTION_BEGIN,
        "## Live events (event bus, SSE, WebSocket)",
        "",
        f"The in-process bus publishing {args.events:,} events of one account to S subscribers",
        "(each draining its own queue in its own task), and the same number of `status` events",
        "published inside a server process and received by one client over loopback HTTP",
        "(`GET /api/v1/events`, parsed line by line) or WebSocket (`GET /api/v1/ws`, JSON",
        f"decoded): the median of {args.rounds} rounds. The client shares the machine's CPUs",
        "with the server. See the script's docstring for the method.",
        "",
        f"- Command (repository root): `python benchmarks/event_bus.py --events {args.events} "
        f"--rounds {args.rounds} --write-docs`",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}; "
        f"load average {load} at the end",
        "",
        "| bus subscribers | events published / s | deliveries / s |",
        "| ---: | ---: | ---: |",
    ]
    lines += [f"| {s} | {pub:,.0f} | {dlv:,.0f} |" for s, pub, dlv in bus_rows]
    lines += ["", "| end to end | events / s |", "| --- | ---: |"]
    lines += [f"| {name} | {rate:,.0f} |" for name, rate in e2e_rows]
    lines += [
        "",
        "A job publishes a handful of status events and at most two progress events a second",
        "(the runner's heartbeat), so one process's bus is far from being the limit; what costs",
        "is the per-listener work (JSON, the socket write) and, for final events, the database",
        "read of the generation per listener.",
        "",
        SECTION_END,
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="measure the Redis bus alone instead (not written to the docs)",
    )
    args = parser.parse_args()
    if args.redis:
        measure_bus(args.events, args.rounds, args.redis)
        return
    bus_rows = measure_bus(args.events, args.rounds)
    e2e_rows = measure_end_to_end(args.events, args.rounds)
    if args.write_docs:
        text = document(bus_rows, e2e_rows, args)
        write_section(DOCS, SECTION_BEGIN, SECTION_END, text, new_document="# Benchmarks\n")
        print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
