"""What the platform adds to a provider job, against a fake Replicate with a fixed latency.

Starts a fake Replicate (its own process: Starlette under uvicorn, speaking Replicate's
predictions protocol; every prediction succeeds ``--latency`` seconds after it was created and
delivers an image of the size and format sent) and the real server (``python -m mediastudio
serve``) with a live key pointed at it. Then, per polling setting (the default one: 0.5 s first,
growing 1.5x per poll; and a fixed 10 ms interval, which leaves the platform's own cost visible):

- **one at a time**: ``--serial`` ``prunaai/z-image-turbo`` jobs, each created after the last
  finished. Added overhead = the job's wall time (``created_at`` → ``completed_at``, the server's
  own timestamps) minus the fake's latency. Baseline in the same run: a bare httpx client doing
  the same protocol (create, poll with the same schedule, download the output) against the same
  fake; what it adds is the protocol's (polling granularity, HTTP), not the platform's.
- **all at once**: ``--concurrent`` jobs created as fast as the server takes them. Reported: how
  many predictions the fake saw in flight at once, the makespan and jobs/s, time in queue
  (``created_at`` → ``started_at``), wall time minus latency; ``/healthz`` latency sampled every
  20 ms during the run against the same probe on the idle server before (the event loop's lag
  shows there); and a cpu-pool job (a sandbox image, run in a cpu worker's thread) made during
  the run against the same job on the idle server.

    python benchmarks/provider_overhead.py [--latency 1.0] [--serial 20] [--concurrent 200]
        [--save NAME] [--compare benchmarks/results/provider_overhead-NAME.json] [--write-docs]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host_platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from common import (
    CREATE_BODY,
    DOCS,
    RESULTS,
    ROOT,
    clean_environment,
    cpu_model,
    free_port,
    mediastudio_cli,
    write_section,
)

SECTION_BEGIN = "<!-- BEGIN provider_overhead (written by benchmarks/provider_overhead.py) -->"
SECTION_END = "<!-- END provider_overhead -->"
TOKEN = "r8_BenchToken000000000000000000000000000"
MODEL = "prunaai/z-image-turbo"
JOB_BODY: dict[str, Any] = {"model": MODEL, "prompt": "a red bicycle on a beach"}
SHORT_POLL_S = 0.01
PROBE_EVERY_S = 0.02
READY_TIMEOUT_S = 60.0

FAKE = r"""
import asyncio, io, secrets, sys, time
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PORT, TOKEN = int(sys.argv[1]), sys.argv[3]
LATENCY = [float(sys.argv[2])]
BASE = f"http://127.0.0.1:{PORT}"
FORMATS = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"),
           "webp": ("WEBP", "image/webp")}
predictions = {}
stats = {"created": 0, "max_in_flight": 0}
# Wall-clock moments of each prediction, in creation order, for the benchmark's breakdown.
timelines = []
rendered = {}

def in_flight(now):
    return sum(1 for p in predictions.values() if p["done_at"] > now and not p["canceled"])

def body(pid):
    p = predictions[pid]
    now = time.monotonic()
    status = "canceled" if p["canceled"] else ("succeeded" if now >= p["done_at"] else
             ("processing" if now >= p["created"] + p["latency"] / 10 else "starting"))
    url = f"{BASE}/v1/predictions/{pid}"
    output = f"{BASE}/delivery/{pid}/out.{p['format']}" if status == "succeeded" else None
    return {"id": pid, "model": p["model"], "version": "hidden", "input": p["input"],
            "logs": "", "output": output, "error": None, "status": status, "source": "api",
            "created_at": "2026-01-01T00:00:00.000Z", "started_at": None, "completed_at": None,
            "metrics": {}, "data_removed": False,
            "urls": {"get": url, "cancel": f"{url}/cancel", "web": f"{BASE}/p/{pid}"}}

def authorised(request):
    return request.headers.get("authorization") == f"Bearer {TOKEN}"

def unauthorised():
    return JSONResponse({"title": "Unauthenticated", "detail": "bad token", "status": 401},
                        status_code=401, media_type="application/problem+json")

async def create(request: Request):
    if not authorised(request):
        return unauthorised()
    values = (await request.json())["input"]
    pid = secrets.token_hex(13)
    now = time.monotonic()
    timelines.append({"asked": time.time(), "done": time.time() + LATENCY[0]})
    predictions[pid] = {"created": now, "done_at": now + LATENCY[0], "latency": LATENCY[0],
                        "timeline": timelines[-1],
                        "input": values,
                        "model": request.path_params["owner"] + "/" + request.path_params["name"],
                        "format": values.get("output_format", "jpg"), "canceled": False,
                        "size": (int(values.get("width", 1024)), int(values.get("height", 1024)))}
    stats["created"] += 1
    stats["max_in_flight"] = max(stats["max_in_flight"], in_flight(now))
    wait = request.headers.get("prefer", "")
    if wait.startswith("wait"):
        seconds = float(wait.partition("=")[2] or 60)
        await asyncio.sleep(max(0.0, min(seconds, predictions[pid]["done_at"] - now)))
    return JSONResponse(body(pid), status_code=201)

async def get(request: Request):
    if not authorised(request):
        return unauthorised()
    pid = request.path_params["pid"]
    if pid not in predictions:
        return JSONResponse({"title": "Not found", "detail": "no such prediction", "status": 404},
                            status_code=404, media_type="application/problem+json")
    return JSONResponse(body(pid))

async def cancel(request: Request):
    if not authorised(request):
        return unauthorised()
    pid = request.path_params["pid"]
    predictions[pid]["canceled"] = True
    return JSONResponse(body(pid))

def render(size, suffix):
    key = (size, suffix)
    if key not in rendered:
        picture = Image.linear_gradient("L").resize(size).convert("RGB")
        buffer = io.BytesIO()
        picture.save(buffer, format=FORMATS[suffix][0])
        rendered[key] = buffer.getvalue()
    return rendered[key]

async def deliver(request: Request):
    p = predictions[request.path_params["pid"]]
    p["timeline"].setdefault("fetched", time.time())
    return Response(render(p["size"], p["format"]), media_type=FORMATS[p["format"]][1])

async def read_stats(request: Request):
    return JSONResponse(stats)

async def read_timelines(request: Request):
    return JSONResponse(timelines)

async def reset(request: Request):
    stats.update(created=0, max_in_flight=0)
    timelines.clear()
    LATENCY[0] = float(request.query_params.get("latency", LATENCY[0]))
    return JSONResponse(stats)

app = Starlette(routes=[
    Route("/v1/models/{owner}/{name}/predictions", create, methods=["POST"]),
    Route("/v1/predictions/{pid}", get, methods=["GET"]),
    Route("/v1/predictions/{pid}/cancel", cancel, methods=["POST"]),
    Route("/delivery/{pid}/{name}", deliver, methods=["GET"]),
    Route("/stats", read_stats, methods=["GET"]),
    Route("/timelines", read_timelines, methods=["GET"]),
    Route("/stats/reset", reset, methods=["POST"]),
])
uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", backlog=2048)
"""


# --- Processes -------------------------------------------------------------------------------


def make_key(data_dir: Path, env: dict[str, str], email: str, *, sandbox: bool) -> str:
    """An ``unlimited`` account with credits and a key, made with the CLI as an operator would."""
    where = ["--data-dir", str(data_dir)]
    account = ["accounts", "create", "--email", email, "--plan", "unlimited"]
    mediastudio_cli([*account, "--credits", "100000000", *where], env)
    test = ["--test"] if sandbox else []
    output = mediastudio_cli(
        ["keys", "create", "--account", email, "--name", "bench", *test, *where], env
    )
    return [line.strip() for line in output.splitlines() if line.strip()][-1]


@contextmanager
def process(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[int]:
    with log.open("wb") as output:
        child = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                if child.poll() is not None:
                    raise RuntimeError(f"{command[:4]} exited:\n{log.read_text()[-3000:]}")
                try:
                    if httpx.get(ready_url, timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{ready_url} not ready:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            yield child.pid
        finally:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@dataclass
class Server:
    base_url: str
    live_key: str
    sandbox_key: str
    pid: int


def process_cpu_s(pid: int) -> float:
    """User + system CPU time of a process, all its threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def mediastudio(workdir: Path, fake_url: str, poll_s: float | None) -> Iterator[Server]:
    data_dir = workdir / f"data-{poll_s}"
    port = free_port()
    settings = {
        "MEDIASTUDIO_BOOTSTRAP": "false",
        "MEDIASTUDIO_LOG_LEVEL": "warning",
        "MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY": TOKEN,
        "MEDIASTUDIO_PROVIDERS__REPLICATE__BASE_URL": fake_url,
        "MEDIASTUDIO_NET_ALLOW_HOSTS": fake_url.removeprefix("http://"),
    }
    if poll_s is not None:  # a fixed interval: the first poll, and no slowing down after
        settings["MEDIASTUDIO_PROVIDERS__REPLICATE__POLL_INTERVAL_S"] = str(poll_s)
        settings["MEDIASTUDIO_PROVIDERS__REPLICATE__POLL_MAX_INTERVAL_S"] = str(poll_s)
    env = clean_environment(**settings)
    live = make_key(data_dir, env, "live@bench.example", sandbox=False)
    sandbox = make_key(data_dir, env, "cpu@bench.example", sandbox=True)
    command = [sys.executable, "-m", "mediastudio", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    base_url = f"http://127.0.0.1:{port}"
    with process(command, env, f"{base_url}/readyz", workdir / f"server-{poll_s}.log") as pid:
        yield Server(base_url, live, sandbox, pid)


# --- Measuring -------------------------------------------------------------------------------


def stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50": statistics.median(ms) if ms else float("nan"),
        "p95": percentile(ms, 0.95),
        "max": max(ms) if ms else float("nan"),
    }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def create(client: httpx.AsyncClient, key: str, path: str, body: dict[str, Any]) -> str:
    response = await client.post(path, json=body, headers=auth(key))
    if response.status_code != 202:
        raise RuntimeError(f"create answered {response.status_code}: {response.text}")
    generation_id: str = response.json()["id"]
    return generation_id


async def wait_done(
    client: httpx.AsyncClient, key: str, generation_id: str, every: float = 0.01
) -> dict[str, Any]:
    while True:
        body: dict[str, Any] = (
            await client.get(f"/api/v1/generations/{generation_id}", headers=auth(key))
        ).json()
        if body["status"] in ("completed", "partially_completed", "failed", "cancelled"):
            return body
        await asyncio.sleep(every)


def added_s(job: dict[str, Any], latency: float) -> float:
    return stamp(job["completed_at"]) - stamp(job["created_at"]) - latency


async def wait_streamed(client: httpx.AsyncClient, key: str, generation_id: str) -> dict[str, Any]:
    """Wait for a job's end on its event stream (``GET /generations/{id}/events``), as a client
    that wants the result at once does, then read it. Polling the job every 10 ms instead would
    add a request every 10 ms to the server being measured."""
    path = f"/api/v1/generations/{generation_id}/events"
    async with client.stream("GET", path, headers=auth(key)) as events:
        async for _ in events.aiter_lines():
            pass  # the stream ends after the job's final event
    body: dict[str, Any] = (
        await client.get(f"/api/v1/generations/{generation_id}", headers=auth(key))
    ).json()
    return body


# Where one job's added time goes: (figure, from, to), the moments from the server's own
# timestamps (created, started, completed) and the fake's (asked: the prediction was created,
# done: it succeeded, fetched: its output was first requested), all wall clock on this machine.
STAGES = (
    ("created → claimed (create's commit, hand-off to a worker, claim)", "created", "started"),
    ("claimed → provider asked (routing, the provider's create call)", "started", "asked"),
    ("provider done → output fetched (polling granularity, seen done)", "done", "fetched"),
    ("output fetched → completed (copy, check, store, finish)", "fetched", "completed"),
)


async def serial(
    client: httpx.AsyncClient, server: Server, count: int, latency: float, fake_url: str
) -> Any:
    added, failed, jobs = [], 0, []
    await client.post(f"{fake_url}/stats/reset", params={"latency": latency})
    for _ in range(count):
        job_id = await create_provider_job(client, server)
        job = await wait_streamed(client, server.live_key, job_id)
        jobs.append(job)
        if job["status"] != "completed":
            failed += 1
            continue
        added.append(added_s(job, latency))
    timelines = (await client.get(f"{fake_url}/timelines")).json()
    stages: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
    for job, moments in zip(jobs, timelines, strict=False):  # one prediction per job, in order
        if job["status"] != "completed":
            continue
        server = {k: stamp(job[f"{k}_at"]) for k in ("created", "started", "completed")}
        when = {**moments, **server}
        for name, start, end in STAGES:
            stages[name].append(when[end] - when[start])
    return {
        "added_ms": spread_ms(added),
        "failed": failed,
        "stages_ms": {name: spread_ms(values) for name, values in stages.items()},
    }


async def create_provider_job(client: httpx.AsyncClient, server: Server) -> str:
    return await create(client, server.live_key, "/api/v1/generate/image", JOB_BODY)


async def bare_client(
    fake_url: str, count: int, latency: float, first_poll: float, longest: float
) -> Any:
    """The same protocol without the platform: create, poll on the platform's schedule
    (``first_poll`` growing 1.5x up to ``longest``), download the output."""
    added = []
    async with httpx.AsyncClient(base_url=fake_url, headers=auth(TOKEN), timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            body = {
                "input": {"prompt": "x", "width": 1024, "height": 1024, "output_format": "webp"}
            }
            prediction = (await client.post(f"/v1/models/{MODEL}/predictions", json=body)).json()
            interval = first_poll
            while prediction["status"] not in ("succeeded", "failed", "canceled"):
                await asyncio.sleep(interval)
                prediction = (await client.get(f"/v1/predictions/{prediction['id']}")).json()
                interval = min(interval * 1.5, longest)
            (await client.get(prediction["output"])).raise_for_status()
            added.append(time.perf_counter() - started - latency)
    return {"added_ms": spread_ms(added)}


async def bare_measured(
    fake_url: str, count: int, latency: float, first_poll: float, longest: float
) -> Any:
    """:func:`bare_client`, with its polling granularity from the fake's timeline."""
    async with httpx.AsyncClient(timeout=30) as client:
        await client.post(f"{fake_url}/stats/reset", params={"latency": latency})
        figures = await bare_client(fake_url, count, latency, first_poll, longest)
        timelines = (await client.get(f"{fake_url}/timelines")).json()
    seen = [t["fetched"] - t["done"] for t in timelines if "fetched" in t]
    return {**figures, "seen_done_ms": spread_ms(seen)}


@dataclass
class Probe:
    """``/healthz`` latencies, one request every 20 ms, until stopped."""

    latencies: list[float] = field(default_factory=list)
    stopped: bool = False

    async def run(self, client: httpx.AsyncClient) -> None:
        while not self.stopped:
            started = time.perf_counter()
            (await client.get("/healthz")).raise_for_status()
            self.latencies.append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_EVERY_S)


async def probe_for(client: httpx.AsyncClient, seconds: float) -> list[float]:
    probe = Probe()
    task = asyncio.create_task(probe.run(client))
    await asyncio.sleep(seconds)
    probe.stopped = True
    await task
    return probe.latencies


async def cpu_job(client: httpx.AsyncClient, server: Server) -> float:
    """A sandbox image (``sandbox/image``: a cpu-pool job, rendered in a cpu worker's thread):
    its wall time, created → completed."""
    body = {**CREATE_BODY, "model": "sandbox/image"}
    job_id = await create(client, server.sandbox_key, "/api/v1/generate/image", body)
    job = await wait_done(client, server.sandbox_key, job_id, every=0.02)
    if job["status"] != "completed":
        raise RuntimeError(f"the cpu-pool job ended {job['status']}: {job.get('error')}")
    return stamp(job["completed_at"]) - stamp(job["created_at"])


async def list_all(client: httpx.AsyncClient, key: str, status: str | None) -> list[Any]:
    found: list[Any] = []
    while True:
        query = f"limit=100&offset={len(found)}" + (f"&status={status}" if status else "")
        page = (await client.get(f"/api/v1/generations?{query}", headers=auth(key))).json()
        found += page["data"]
        if not page["has_more"]:
            return found


async def concurrent(
    client: httpx.AsyncClient, server: Server, fake_url: str, count: int, latency: float
) -> Any:
    idle_cpu = [await cpu_job(client, server) for _ in range(3)]
    idle_started, idle_cpu_s = time.perf_counter(), process_cpu_s(server.pid)
    idle_probe = await probe_for(client, 2.0)
    # The probe's own cost, per second, taken out of the run's CPU below.
    probe_cpu_rate = (process_cpu_s(server.pid) - idle_cpu_s) / (time.perf_counter() - idle_started)
    await client.post(f"{fake_url}/stats/reset", params={"latency": latency})
    cpu_before = process_cpu_s(server.pid)
    probe = Probe()
    probing = asyncio.create_task(probe.run(client))
    started = time.perf_counter()
    creating = asyncio.gather(*(create_provider_job(client, server) for _ in range(count)))
    await asyncio.sleep(min(0.5, latency / 2))
    busy_cpu = [await cpu_job(client, server) for _ in range(3)]  # provider jobs in flight
    ids = set(await creating)
    while True:
        queued = await list_all(client, server.live_key, "queued")
        running = await list_all(client, server.live_key, "processing")
        if not any(job["id"] in ids for job in queued + running):
            break
        await asyncio.sleep(0.5)
    makespan = time.perf_counter() - started
    cpu_s = process_cpu_s(server.pid) - cpu_before - probe_cpu_rate * makespan
    probe.stopped = True
    await probing
    jobs = [job for job in await list_all(client, server.live_key, None) if job["id"] in ids]
    done = [job for job in jobs if job["status"] == "completed"]
    fake = (await client.get(f"{fake_url}/stats")).json()
    return {
        "latency_s": latency,
        "server_cpu_ms_per_job": cpu_s * 1000 / max(1, len(jobs)),
        "jobs": len(jobs),
        "completed": len(done),
        "max_in_flight": fake["max_in_flight"],
        "makespan_s": makespan,
        "jobs_per_s": len(done) / makespan,
        "queue_ms": spread_ms([stamp(j["started_at"]) - stamp(j["created_at"]) for j in done]),
        "added_ms": spread_ms([added_s(job, latency) for job in done]),
        "healthz_idle_ms": spread_ms(idle_probe),
        "healthz_busy_ms": spread_ms(probe.latencies),
        "cpu_idle_ms": spread_ms(idle_cpu),
        "cpu_busy_ms": spread_ms(busy_cpu),
    }


async def measure(
    workdir: Path, fake_url: str, poll_s: float | None, options: argparse.Namespace
) -> Any:
    """One server: jobs one at a time (and the bare client); all at once with the default
    polling only (every job polling every 10 ms is no setting to run hundreds of jobs with)."""
    first_poll = poll_s if poll_s is not None else 0.5
    longest = poll_s if poll_s is not None else 5.0
    with mediastudio(workdir, fake_url, poll_s) as server:
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=120, limits=limits, trust_env=False
        ) as client:
            await serial(client, server, 2, options.latency, fake_url)  # warm-up, not counted
            figures = {
                "first_poll_s": first_poll,
                "serial": await serial(client, server, options.serial, options.latency, fake_url),
                "bare": await bare_measured(
                    fake_url, options.serial, options.latency, first_poll, longest
                ),
            }
            if poll_s is None:
                figures["concurrent"] = await concurrent(
                    client, server, fake_url, options.concurrent, options.concurrent_latency
                )
                await client.post(f"{fake_url}/stats/reset", params={"latency": options.latency})
            return figures


async def run(options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-provider-") as folder, ExitStack() as stack:
        workdir = Path(folder)
        port = free_port()
        fake_url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-c", FAKE, str(port), str(options.latency), TOKEN]
        stack.enter_context(
            process(command, clean_environment(), f"{fake_url}/stats", workdir / "fake.log")
        )
        runs = {}
        for label, poll_s in (("default polling", None), ("fixed 10 ms polling", SHORT_POLL_S)):
            runs[label] = await measure(workdir, fake_url, poll_s, options)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_head(),
        "machine": machine(),
        "options": {
            k: v
            for k, v in vars(options).items()
            if k in ("latency", "serial", "concurrent", "concurrent_latency")
        },
        "runs": runs,
    }


def git_head() -> str:
    if os.environ.get("PYTHONPATH"):  # another copy of the code (e.g. the commit before)
        return f"the code at PYTHONPATH={os.environ['PYTHONPATH']}"
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, {cpu_model()}, Python {host_platform.python_version()}, "
        f"load average {load} at the end"
    )


# --- Reporting -------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value:.1f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def table(report: dict[str, Any], name: str) -> str:
    rows = [
        f"Figures of {name} (`{report['commit']}`, {report['date']}; {report['machine']}):",
        "",
        "| polling | scenario | figure | p50 | p95 | max |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for label, run_ in report["runs"].items():
        poll = label
        serial_, bare = run_["serial"], run_["bare"]
        lines = [
            ("1 at a time", "added ms: MediaStudio", serial_["added_ms"]),
            ("1 at a time", "added ms: bare client, same polling", bare["added_ms"]),
        ]
        # The breakdown (runs saved before it was measured have none).
        lines += [
            ("1 at a time", f"MediaStudio: {stage}", spread)
            for stage, spread in serial_.get("stages_ms", {}).items()
        ]
        if "seen_done_ms" in bare:
            seen = "bare client: provider done → output fetched"
            lines.append(("1 at a time", seen, bare["seen_done_ms"]))
        conc = run_.get("concurrent")
        for scenario, figure, spread in lines:
            rows.append(
                f"| {poll} | {scenario} | {figure} ({spread.get('n', 1)}) | {ms(spread['p50'])} "
                f"| {ms(spread['p95'])} | {ms(spread['max'])} |"
            )
        own = serial_["added_ms"]["p50"] - bare["added_ms"]["p50"]
        rows.append(
            f"| {poll} | 1 at a time | **the platform's own ms: MediaStudio minus bare client, "
            f"p50** | **{ms(own)}** | | |"
        )
        if conc is None:
            continue
        lines = [
            (f"{conc['jobs']} at once", "added ms", conc["added_ms"]),
            (f"{conc['jobs']} at once", "time in queue ms", conc["queue_ms"]),
            (f"{conc['jobs']} at once", "`/healthz` ms, idle before", conc["healthz_idle_ms"]),
            (f"{conc['jobs']} at once", "`/healthz` ms, during", conc["healthz_busy_ms"]),
            (f"{conc['jobs']} at once", "cpu-pool job wall ms, idle", conc["cpu_idle_ms"]),
            (f"{conc['jobs']} at once", "cpu-pool job wall ms, during", conc["cpu_busy_ms"]),
        ]
        for scenario, figure, spread in lines:
            rows.append(
                f"| {poll} | {scenario} | {figure} ({spread.get('n', 1)}) | {ms(spread['p50'])} "
                f"| {ms(spread['p95'])} | {ms(spread['max'])} |"
            )
        rows.append(
            f"| {poll} | {conc['jobs']} at once ({conc.get('latency_s', 1):g} s each) | completed;"
            f" most in flight at the fake; makespan, jobs/s; server CPU ms per job |"
            f" {conc['completed']} | {conc['max_in_flight']} | {conc['makespan_s']:.2f} s,"
            f" {conc['jobs_per_s']:.1f}/s; {conc.get('server_cpu_ms_per_job', float('nan')):.1f} |"
        )
    return "\n".join(rows)


# (figure, path into a run's figures) for the after / before table
COMPARED = (
    ("1 at a time: added ms p50", ("serial", "added_ms", "p50")),
    ("at once: most in flight", ("concurrent", "max_in_flight")),
    ("at once: makespan s", ("concurrent", "makespan_s")),
    ("at once: jobs/s", ("concurrent", "jobs_per_s")),
    ("at once: queue ms p50", ("concurrent", "queue_ms", "p50")),
    ("at once: added ms p50", ("concurrent", "added_ms", "p50")),
    ("at once: `/healthz` ms p95", ("concurrent", "healthz_busy_ms", "p95")),
    ("at once: cpu-pool job ms p50", ("concurrent", "cpu_busy_ms", "p50")),
    ("at once: server CPU ms per job", ("concurrent", "server_cpu_ms_per_job")),
)


def figure_at(run_: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = run_
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def comparison(before: dict[str, Any], after: dict[str, Any]) -> str:
    rows = [
        "After / before (same script, same machine; below 1 is better except jobs/s and in "
        "flight):",
        "",
        "| polling | figure | before | after | after / before |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for label, now in after["runs"].items():
        then = before["runs"].get(label, {})
        for figure, path in COMPARED:
            a, b = figure_at(then, path), figure_at(now, path)
            if a is not None and b is not None:
                rows.append(f"| {label} | {figure} | {a:.1f} | {b:.1f} | {ratio(b, a)} |")
    return "\n".join(rows)


INTRO = """\
## Provider job overhead

What the platform adds to a job that runs on a hosted provider, and how it holds up with many
in flight. A fake Replicate (its own process; Replicate's predictions protocol; every prediction
succeeds a fixed time after it was created and delivers a 1024x1024 WebP) and the real server
(`python -m mediastudio serve`, SQLite, a live key pointed at the fake) run on this machine;
`prunaai/z-image-turbo` jobs are created over HTTP and timed with the server's own
`created_at`, `started_at` and `completed_at`.

- Command (repository root): `python benchmarks/provider_overhead.py --save after --compare
  benchmarks/results/provider_overhead-before.json --write-docs`, after the same command with
  `--save before` (no `--compare`) on the commit before the change (`PYTHONPATH` at a copy of
  its `src/`: `git archive 30ffc04 src | tar -x -C /tmp/before`). Defaults: 1 s per
  prediction, 20 jobs one at a time (after 2 uncounted), 200 at once at 5 s per prediction.
- **added ms** = wall time (created → completed) minus the fake's latency. The **bare client**
  does the same protocol with no platform (create, poll on the same schedule, download) against
  the same fake: what it adds is the protocol's (polling granularity, HTTP), so **MediaStudio minus
  bare client** is the platform's own cost. Polling granularity is not the platform's: with the
  default schedule (0.5 s first, then 1.5x per poll up to 5 s) a prediction is seen done up to a
  third of its run time late; the fixed 10 ms interval leaves the platform's cost visible.
- **200 at once**: the jobs created as fast as the server takes them; **most in flight** is
  counted by the fake; **time in queue** is created → started; `/healthz` is probed every 20 ms
  (its latency shows the event loop's lag) during the run and for 2 s on the idle server before;
  the **cpu-pool job** is a `sandbox/image` job (256x256 PNG, a cpu worker's thread) made 3 times
  on the idle server and 3 times during the run. **Server CPU ms per job** is the server
  process's CPU (all threads, `/proc`) during the run, less the probe's own cost, over the jobs.
"""

ANALYSIS = """\
How to read it, and what changed:

- **Polling granularity is not the platform's cost.** One at a time with the default schedule,
  MediaStudio and the bare client both add ~0.26-0.29 s to a 1 s prediction: the poll that sees
  it done comes up to a third of its run time late. The schedule trades that for fewer status
  requests to the provider (`MEDIASTUDIO_PROVIDERS__REPLICATE__POLL_INTERVAL_S`,
  `__POLL_MAX_INTERVAL_S`; `__WAIT_S` holds the create open instead, at the cost of resuming
  after a restart) and is left as it is.
- **The platform's own cost** (the bold rows: MediaStudio minus the bare client, medians of 20)
  is now **~11 ms with 10 ms polling and ~14 ms with the default schedule, against ~29 ms
  before: the goal of under 20 ms is met.** The breakdown rows say where a job's time goes, from
  the server's own timestamps and the fake's (when the prediction was asked for, when it was
  done, when its output was first requested): the create's commit and the hand-off to a worker
  and its claim ~3 ms (was ~8 ms); routing and the provider's create call ~5-6 ms (the bare
  client pays its own create call too); seeing the prediction done is the same as the bare
  client's; copying, checking and storing the output and the finish ~3 ms (was ~14 ms).
- **What changed** (`after` above, three changes): (1) provider image outputs are proven whole
  from their structure (PNG chunks and CRCs to `IEND`, JPEG segments and scans to end-of-image,
  WebP's RIFF size) instead of decoded: ~0.5 ms instead of ~17 ms for this 1024x1024 WebP, and
  every cut of a file is still refused (`engines/media/image_structure.py`,
  tests/engines/test_provider_outputs.py, docs/providers.md); (2) a job's claim is one
  `UPDATE … RETURNING` (the row and its account's plan) instead of reading the job and the
  account first, the concurrency cap counted after the claim and rolled back when over it
  (`generations/repository.py: claim_queued`); (3) ledger rows are one constant Core INSERT
  instead of the ORM's unit of work (every create reserves, every end captures or refunds).
  Also, only an alias a local model can serve asks the local engine, without a thread hand-off
  on every provider job.
- **How one job is awaited.** The serial jobs are awaited on their event stream
  (`GET /generations/{id}/events`), as a client that wants the result at once does, then read
  once; the server's `created_at` and `completed_at` time them. The earlier version of this
  benchmark polled each job every 10 ms, which added a request every 10 ms to the server it
  measured; `before` was re-measured here with the same script.
- **200 at once**: all 200 in flight at the fake in both. The one-statement claim removed the
  queue in front of the provider jobs (time in queue p50 ~0.7 s → ~3 ms), the makespan and
  server CPU per job fell, and `/healthz` p95 during the run fell from ~55 ms to ~13-23 ms. A
  cpu-pool job made during the run still waits behind the provider jobs' creates, claims and
  finishes on the one SQLite writer and the busy event loop (3 samples each: its figures swing
  from run to run). Next steps, not taken here: claims and finishes ahead of other writes,
  PostgreSQL for many writers (docs/deployment.md), and `MEDIASTUDIO_WORKERS_REMOTE` to cap
  provider jobs in flight on a small machine.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=1.0, help="the fake's seconds per job")
    parser.add_argument("--serial", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument(
        "--concurrent-latency",
        type=float,
        default=5.0,
        help="the fake's seconds per job when all are sent at once (long enough for all of them"
        " to be created before the first ends)",
    )
    parser.add_argument("--save", help="keep the figures as results/provider_overhead-NAME.json")
    parser.add_argument("--compare", type=Path, help="figures saved earlier, shown as 'before'")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--figures", type=Path, help="report figures saved earlier; run nothing")
    options = parser.parse_args()
    if options.figures:
        report = json.loads(options.figures.read_text())
    else:
        report = asyncio.run(run(options))
    if options.save and not options.figures:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"provider_overhead-{options.save}.json").write_text(
            json.dumps(report, indent=2)
        )
    parts = [table(report, "this run")]
    if options.compare:
        before = json.loads(options.compare.read_text())
        parts = [table(before, "before"), table(report, "after"), comparison(before, report)]
    text = "\n\n".join([INTRO.rstrip(), *parts, ANALYSIS.rstrip()])
    print(text)
    if options.write_docs:
        section = f"{SECTION_BEGIN}\n{text}\n{SECTION_END}\n"
        write_section(DOCS, SECTION_BEGIN, SECTION_END, section, new_document="# Benchmarks\n")


if __name__ == "__main__":
    main()
