"""Serving large outputs: a 1 GB file streamed whole with the server's memory flat, and 50
concurrent ``Range`` downloads while other requests still get answers.

Starts ``python -m mediastudio serve`` (no workers: nothing runs but the downloads) on a fresh
data directory, stores one file of ``--size-mb`` MiB in its local storage as a job's output would
be, and reads it at the signed ``/files/...`` URL the API hands out:

1. ``/healthz`` timed one request at a time on the idle server (the reference);
2. the whole file downloaded once, its SHA-256 checked against the stored file's, while the
   server's resident memory (``VmRSS``) is sampled every 10 ms;
3. ``--ranges`` downloads at once, each a ``Range`` of ``--range-mb`` MiB at a random offset
   (every body checked against the file's bytes once they are all in), while a probe in a
   process of its own times ``/healthz`` every 20 ms.

Prints a markdown section; ``--write-docs`` puts it in docs/benchmarks.md. The client shares the
machine's cores with the server, so the throughput is the pair's, not the server's alone; the
memory and the probe's latency are the figures to read.

    python benchmarks/downloads.py --write-docs
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from common import DOCS, clean_environment, cpu_model, free_port, write_section
from mediastudio.kit.storage import LocalStorage, UrlSigner, storage_from_url
from mediastudio.settings import load_settings

BEGIN = "<!-- BEGIN downloads (written by benchmarks/downloads.py) -->"
END = "<!-- END downloads -->"
MIB = 1024 * 1024
KEY = "bench/download/0.bin"
READY_TIMEOUT_S = 60.0
PROBE_EVERY_S = 0.02


@dataclass
class Memory:
    """The server's resident memory, sampled in a thread while a download runs."""

    pid: int
    samples: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def __enter__(self) -> Memory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.rss())
            time.sleep(0.01)


def make_file(path: Path, size: int) -> str:
    """``size`` bytes of incompressible data (a random 16 MiB block, each copy salted), and their
    SHA-256."""
    block = bytearray(os.urandom(16 * MIB))
    digest = hashlib.sha256()
    with path.open("wb") as file:
        written, n = 0, 0
        while written < size:
            block[:8] = n.to_bytes(8, "little")
            chunk = bytes(block[: min(len(block), size - written)])
            file.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            n += 1
    return digest.hexdigest()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_healthz(client: httpx.Client) -> float:
    started = time.perf_counter()
    client.get("/healthz").raise_for_status()
    return (time.perf_counter() - started) * 1000


def run_probe(base_url: str) -> None:
    """The probe's own process (``--probe URL``): in the downloading client's process, its
    requests waited for that client's event loop and GIL, so its latency was partly the
    client's. Commands on stdin, one per line, each answered with a JSON list of milliseconds:
    ``idle`` times 200 requests one after another; ``busy`` times one every 20 ms until the next
    line (``stop``) arrives."""
    with httpx.Client(base_url=base_url, timeout=300.0) as client:
        for _ in range(20):  # warm-up
            timed_healthz(client)
        for command in sys.stdin:
            if command.strip() == "idle":
                times = [timed_healthz(client) for _ in range(200)]
            else:
                times = probe_until_next_line(client)
            print(json.dumps(times), flush=True)


def probe_until_next_line(client: httpx.Client) -> list[float]:
    stop = threading.Event()

    def wait_for_line() -> None:
        sys.stdin.readline()
        stop.set()

    waiter = threading.Thread(target=wait_for_line)
    waiter.start()
    times = []
    while not stop.is_set():
        times.append(timed_healthz(client))
        stop.wait(PROBE_EVERY_S)
    waiter.join()
    return times


class Probe:
    """``run_probe`` in a child process, asked for its figures through a pipe."""

    def __init__(self, base_url: str) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--probe", base_url]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def _send(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()

    def _answer(self) -> list[float]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the probe exited with {self._process.wait()}")
        times: list[float] = json.loads(line)
        return times

    def idle(self) -> list[float]:
        self._send("idle")
        return self._answer()

    def start(self) -> None:
        self._send("busy")

    def stop(self) -> list[float]:
        self._send("stop")
        return self._answer()

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(30)


async def download_whole(client: httpx.AsyncClient, url: str) -> tuple[str, int, float]:
    digest, size = hashlib.sha256(), 0
    started = time.perf_counter()
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw(MIB):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size, time.perf_counter() - started


async def ranged(client: httpx.AsyncClient, url: str, start: int, length: int) -> bytes:
    headers = {"Range": f"bytes={start}-{start + length - 1}"}
    response = await client.get(url, headers=headers)
    if response.status_code != 206:
        raise RuntimeError(f"Range answered {response.status_code}")
    return response.content


def check_ranges(stored: Path, starts: list[int], bodies: list[bytes]) -> None:
    """Each body against the stored file's bytes; after the downloads, so that reading and
    comparing 400 MiB does not hold up the downloading client while it is measured."""
    with stored.open("rb") as file:
        for start, body in zip(starts, bodies, strict=True):
            file.seek(start)
            if body != file.read(len(body)):
                raise RuntimeError(f"bytes {start}+{len(body)} differ from the stored file")


@dataclass
class Figures:
    idle_ms: list[float]
    whole_s: float
    size: int
    rss_before: int
    rss_whole_peak: int
    ranges_s: float
    ranges_bytes: int
    rss_ranges_peak: int
    busy_ms: list[float]


async def measure(
    base_url: str, url: str, pid: int, digest: str, stored: Path, options: argparse.Namespace
) -> Figures:
    limits = httpx.Limits(max_connections=options.ranges + 4)
    timeout = httpx.Timeout(300.0)
    probe = Probe(base_url)
    try:
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
            idle = probe.idle()
            memory = Memory(pid)
            rss_before = memory.rss()
            with memory:
                got, size, whole_s = await download_whole(client, url)
            if got != digest:
                raise RuntimeError("the downloaded file's SHA-256 is not the stored file's")
            rng = random.Random(7)
            length = options.range_mb * MIB
            starts = [rng.randrange(0, size - length) for _ in range(options.ranges)]
            ranges_memory = Memory(pid)
            with ranges_memory:
                probe.start()
                started = time.perf_counter()
                bodies = await asyncio.gather(
                    *(ranged(client, url, start, length) for start in starts)
                )
                ranges_s = time.perf_counter() - started
                busy = probe.stop()
    finally:
        probe.close()
    check_ranges(stored, starts, bodies)
    return Figures(
        idle_ms=idle,
        whole_s=whole_s,
        size=size,
        rss_before=rss_before,
        rss_whole_peak=max(memory.samples),
        ranges_s=ranges_s,
        ranges_bytes=sum(len(body) for body in bodies),
        rss_ranges_peak=max(ranges_memory.samples),
        busy_ms=busy,
    )


def start_server(
    stack: ExitStack, data_dir: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    env = clean_environment(
        MEDIASTUDIO_BOOTSTRAP="false",
        MEDIASTUDIO_LOG_LEVEL="warning",
        MEDIASTUDIO_WORKERS_CPU="0",
        MEDIASTUDIO_WORKERS_GPU="0",
        MEDIASTUDIO_WORKERS_IO="0",
        MEDIASTUDIO_WORKERS_REMOTE="0",
    )
    port = free_port()
    command = [sys.executable, "-m", "mediastudio", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    output = stack.enter_context(log.open("wb"))
    process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    stack.callback(process.wait, 30)
    stack.callback(process.terminate)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S:g} s:\n{log.read_text()}")


def report(figures: Figures, options: argparse.Namespace, load: str) -> str:
    idle, busy = figures.idle_ms, figures.busy_ms
    mib = figures.size / MIB
    rows = [
        ("file", f"{mib:,.0f} MiB, SHA-256 checked after the download"),
        (
            "whole file: time, throughput",
            f"{figures.whole_s:.2f} s, {mib / figures.whole_s:,.0f} MiB/s",
        ),
        (
            "server memory (VmRSS): before, peak while streaming",
            f"{figures.rss_before / MIB:,.0f} MiB, {figures.rss_whole_peak / MIB:,.0f} MiB "
            f"(+{(figures.rss_whole_peak - figures.rss_before) / MIB:,.1f})",
        ),
        (
            f"{options.ranges} Range downloads of {options.range_mb} MiB at once: time, throughput",
            f"{figures.ranges_s:.2f} s, "
            f"{figures.ranges_bytes / MIB / figures.ranges_s:,.0f} MiB/s, every body checked",
        ),
        (
            "server memory, peak during the Range downloads",
            f"{figures.rss_ranges_peak / MIB:,.0f} MiB "
            f"(+{(figures.rss_ranges_peak - figures.rss_before) / MIB:,.1f})",
        ),
        (
            "`/healthz` idle: p50, p99",
            f"{statistics.median(idle):.2f} ms, {percentile(idle, 0.99):.2f} ms "
            f"({len(idle)} requests)",
        ),
        (
            "`/healthz` during the Range downloads: p50, p99, max",
            f"{statistics.median(busy):.2f} ms, {percentile(busy, 0.99):.2f} ms, "
            f"{max(busy):.2f} ms ({len(busy)} requests)",
        ),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    command = "python benchmarks/downloads.py --write-docs"
    if (options.size_mb, options.ranges, options.range_mb) != (1024, 50, 8):
        command = (
            f"python benchmarks/downloads.py --size-mb {options.size_mb} --ranges "
            f"{options.ranges} --range-mb {options.range_mb} --write-docs"
        )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""{BEGIN}
## Downloads: a 1 GB output and concurrent Range requests

One file stored as a job's output is, read at the signed `/files/...` URL by a client on the same
machine: once whole (the server's resident memory sampled every 10 ms), then in
{options.ranges} `Range` requests at once while a probe in another process asks `/healthz` every
20 ms (one request at a time, like the idle reference). The server runs
without workers, so the downloads are all it does; the client shares its 2 cores.

| figure | value |
| --- | --- |
{table}

Reading it: the server streams from the file (Starlette's `FileResponse`, 64 KiB reads in a
thread), so its memory does not grow with the file; the Range requests share the event loop with
every other request, and the probe's latency during them is the cost other users see.

- Command (repository root): `{command}`
- Date: {when}; machine: {os.cpu_count()} CPUs, {cpu_model()}; load average {load} at start
{END}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="The file's size in MiB")
    parser.add_argument("--ranges", type=int, default=50, help="Range requests at once")
    parser.add_argument("--range-mb", type=int, default=8, help="Each range's size in MiB")
    parser.add_argument("--write-docs", action="store_true", help="Update benchmarks.md")
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)  # the probe's process
    options = parser.parse_args()
    if options.probe:
        run_probe(options.probe)
        return
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="ms-downloads-") as work, ExitStack() as stack:
        data_dir = Path(work) / "data"
        settings = load_settings(data_dir=data_dir, bootstrap=False)
        storage = storage_from_url(settings.resolved_storage_url, UrlSigner(settings.signing_key()))
        if not isinstance(storage, LocalStorage):
            raise SystemExit("this benchmark serves from the local disk")
        source = Path(work) / "source.bin"
        digest = make_file(source, options.size_mb * MIB)
        asyncio.run(storage.put_file(KEY, source))
        stored = storage.local_path(KEY)
        assert stored is not None
        process, base_url = start_server(stack, data_dir, Path(work) / "server.log")
        url = storage.url(KEY, base_url=base_url, ttl_s=3600)
        figures = asyncio.run(measure(base_url, url, process.pid, digest, stored, options))
    text = report(figures, options, load)
    print(text)
    if options.write_docs:
        write_section(DOCS, BEGIN, END, text, new_document="# Benchmarks\n")


if __name__ == "__main__":
    main()
