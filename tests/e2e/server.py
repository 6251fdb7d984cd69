"""A real ``mediastudio serve`` process on a free port, the CLI beside it, and HTTP helpers.

The server runs with ``PYTHONPATH`` set to the repository root so that ``tests.fakes`` (the
priced ``fake/*`` engine) loads through the real plugin path. Each start writes its own log file
(``server-1.log``, ``server-2.log``…) next to the data directory; :meth:`ServerProcess.logs`
returns them all, and the ``server`` fixture prints them when a test fails.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import httpx

from tests import deployment

REPO_ROOT = Path(__file__).resolve().parents[2]
TERMINAL = frozenset({"completed", "partially_completed", "failed", "cancelled"})
# Waits are budgets for a broken build to fail in, not speed checks: CI's machine is shared and
# a start that takes 3 s alone took over 20 s there while the suite's other workers rendered.
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
BIND_ATTEMPTS = 3
CLI_TIMEOUT_S = 60.0
KEY_ID = re.compile(r"\bkey_[0-9a-z]{26}\b")
LIVE_KEY = re.compile(r"\bms_live_[A-Za-z0-9]{40}\b")
TEST_KEY = re.compile(r"\bms_test_[A-Za-z0-9]{40}\b")
FAKE_ENGINES = '["tests.fakes"]'
# uvicorn re-raises SIGTERM once its graceful shutdown is done, so a clean stop may report it.
GRACEFUL_EXIT = frozenset({0, -signal.SIGTERM})
POOLS = ("cpu", "gpu", "io", "remote")


# Every server process still running, so that even an interrupted session leaves none behind.
_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_LIVE):
        if process.poll() is None:
            process.kill()
            process.wait()


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def base_env(data_dir: Path) -> dict[str, str]:
    """The caller's environment without any MEDIASTUDIO_* setting of its own, plus ours."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MEDIASTUDIO_")}
    existing = env.get("PYTHONPATH")
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *([existing] if existing else [])]),
            "PYTHONUNBUFFERED": "1",  # the log is complete even after SIGKILL
            "COLUMNS": "200",  # rich wraps nothing we parse (keys, key ids)
            "MEDIASTUDIO_DATA_DIR": str(data_dir),
            "MEDIASTUDIO_ENGINE_MODULES": FAKE_ENGINES,
            "MEDIASTUDIO_DISABLED_ENGINES": '["builtin"]',
            "MEDIASTUDIO_BOOTSTRAP": "false",
            "MEDIASTUDIO_SWEEP_INTERVAL_S": "0.5",
        }
    )
    # Distributed (tests/deployment.py): this data directory's database, bucket, Redis, broker.
    env.update(deployment.process_env(data_dir))
    return env


class ServerProcess:
    """One data directory and the ``mediastudio serve`` processes started on it, one at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_paths: list[Path] = []
        # Settings every process on this data directory gets: servers, workers and the CLI.
        self.env: dict[str, str] = {}
        self.args: tuple[str, ...] = ()  # more `serve` options, e.g. --no-workers
        self._env: dict[str, str] = {}
        self._first_log = 0
        self._log_file: IO[bytes] | None = None
        self.worker: deployment.Worker | None = None  # distributed: the worker beside `serve`
        self.worker_logs: list[Path] = []

    # The process ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, env: Mapping[str, str | None] | None = None, *, wait: bool = True) -> None:
        """Start ``python -m mediastudio serve`` on a fresh free port and (unless ``wait`` is
        false: then call :meth:`wait_ready`) wait until it is ready.

        ``env`` adds or overrides variables; a value of ``None`` removes one (e.g.
        ``{"MEDIASTUDIO_ENGINE_MODULES": None}`` for a server with only the sandbox engine)."""
        assert not self.running, "stop the running server first"
        merged = base_env(self.data_dir) | self.env
        for name, value in (env or {}).items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        self._env = merged
        self._first_log = len(self.log_paths)
        self._launch()
        if wait:
            self.wait_ready()

    def _launch(self) -> None:
        self.port = free_port()
        log_path = self.root / f"server-{len(self.log_paths) + 1}.log"
        self.log_paths.append(log_path)
        self._log_file = log_path.open("wb")
        command = [sys.executable, "-m", "mediastudio", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir), *self.args]
        if deployment.DISTRIBUTED and "--no-workers" not in self.args:
            # The API without job slots and one worker process beside it; a test that starts
            # its own workers (--no-workers already) keeps them.
            command.append("--no-workers")
            # Every pool at 0 slots (jobs kept queued on purpose): no worker, as in one process.
            slots = [self._env.get(f"MEDIASTUDIO_WORKERS_{pool.upper()}") for pool in POOLS]
            if self.worker is None and slots != ["0"] * len(POOLS):
                log = self.root / f"worker-{len(self.worker_logs) + 1}.log"
                self.worker_logs.append(log)
                self.worker = deployment.Worker(self.data_dir, self._env, log)
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not the server
        )
        _LIVE.add(self.process)

    def wait_ready(self) -> None:
        """Wait until /readyz answers 200 from this process. Another program may take the free
        port before the server binds it (it binds only after its start-up): then start again on
        another port, a few times."""
        try:
            for _ in range(BIND_ATTEMPTS - 1):
                if self._poll_ready():
                    break
                self._stop_server()
                self._launch()
            else:
                if not self._poll_ready():
                    raise AssertionError(
                        f"no free port in {BIND_ATTEMPTS} tries:\n{self.log_tail()}"
                    )
            if self.worker is not None:
                self.worker.wait_ready()
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _poll_ready(self) -> bool:
        """True when ready; False when the port was taken; raises on anything else."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        listening = f"Uvicorn running on {self.base_url}"
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                if "address already in use" in self.current_log():
                    return False
                raise AssertionError(
                    f"server exited with {self.process.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=2.0)
                # The log line proves that the answer came from this process, not from another
                # one that happens to listen on the port.
                if response.status_code == 200 and listening in self.current_log():
                    return True
                last = f"{response.status_code} {response.text}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise AssertionError(
            f"server not ready within {READY_TIMEOUT_S:g} s ({last}):\n{self.log_tail()}"
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Send ``sig`` and wait for the process to exit (SIGKILL if it takes too long); the
        process is reaped, so its pid is really gone afterwards. Returns its exit code.
        Distributed, the worker beside it goes too (killed when the server is: a crash test
        means the whole deployment's processes)."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.send(sig)  # both stop at once: a graceful worker stop takes seconds
        code = self._stop_server(sig)
        if worker is not None:
            worker.stop(sig)
        return code

    def _stop_server(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        process, self.process = self.process, None
        code: int | None = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(sig)
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(STOP_TIMEOUT_S)
            code = process.returncode
            _LIVE.discard(process)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    # Logs -----------------------------------------------------------------------------------

    def current_log(self) -> str:
        return self.log_paths[-1].read_text(errors="replace") if self.log_paths else ""

    def start_log(self) -> str:
        """What the latest :meth:`start` printed (every launch of it, if a port was taken)."""
        return "".join(p.read_text(errors="replace") for p in self.log_paths[self._first_log :])

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.current_log().splitlines()[-lines:])

    def logs(self) -> str:
        parts = []
        for path in [*self.log_paths, *self.worker_logs]:
            if path.exists():
                parts.append(f"----- {path.name} -----\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    # The CLI, on the same data directory ----------------------------------------------------

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m mediastudio ARGS --data-dir D``; fail with its output if it fails."""
        command = [sys.executable, "-m", "mediastudio", *args, "--data-dir", str(self.data_dir)]
        result = subprocess.run(
            command,
            cwd=self.root,
            env=base_env(self.data_dir) | self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        assert result.returncode == 0, (
            f"{' '.join(args)} exited with {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        return result

    def create_account(self, email: str, *, credits: int, plan: str = "unlimited") -> None:
        self.cli("accounts", "create", "--email", email, "--plan", plan, "--credits", str(credits))

    def create_key(self, email: str, *, name: str = "e2e", test: bool = False) -> tuple[str, str]:
        """A new key for the account: ``(key id, secret)``. The secret is stdout's last line."""
        result = self.cli(
            "keys", "create", "--account", email, "--name", name, *(["--test"] if test else [])
        )
        secret = result.stdout.strip().splitlines()[-1]
        assert (TEST_KEY if test else LIVE_KEY).fullmatch(secret), result.stdout
        found = KEY_ID.search(result.stderr)
        assert found, result.stderr
        return found.group(0), secret

    def start_with_account(
        self,
        env: Mapping[str, str | None] | None = None,
        *,
        email: str = "e2e@example.com",
        credits: int,
        plan: str = "unlimited",
    ) -> str:
        """An account with ``credits`` made with the CLI before the server starts, and a live
        key made with the CLI while it starts (the database is migrated by then); returns the
        key once the server is ready."""
        self.create_account(email, credits=credits, plan=plan)
        self.start(env, wait=False)
        key = self.create_key(email)[1]
        self.wait_ready()
        return key


# HTTP helpers ---------------------------------------------------------------------------------


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def client(server: ServerProcess, **options: Any) -> httpx.AsyncClient:
    options.setdefault("timeout", 30.0)
    return httpx.AsyncClient(base_url=server.base_url, **options)


async def wait_for(
    http: httpx.AsyncClient,
    key: str,
    generation_id: str,
    *,
    until: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 90.0,
) -> dict[str, Any]:
    """Poll the generation until ``until`` (default: a terminal status) holds."""
    done = until or (lambda body: body["status"] in TERMINAL)
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(f"/api/v1/generations/{generation_id}", headers=auth(key))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"generation did not get there within {timeout:g} s: {body}")
        await asyncio.sleep(0.1)


async def ledger(http: httpx.AsyncClient, key: str, page_size: int = 10) -> list[dict[str, Any]]:
    """Every ledger entry of the key's account, newest first, following ``next_cursor`` (small
    pages, so that paging itself is exercised)."""
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": page_size}
    while True:
        response = await http.get("/api/v1/account/ledger", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        page = response.json()
        entries += page["data"]
        if not page["has_more"]:
            return entries
        assert page["next_cursor"], page
        params["starting_after"] = page["next_cursor"]


async def assert_books_balanced(http: httpx.AsyncClient, key: str) -> tuple[int, int]:
    """The account's balance and reserved credits equal the sums over its whole ledger, and
    nothing stays reserved. Returns ``(balance, reserved)``."""
    account = (await http.get("/api/v1/account", headers=auth(key))).json()
    entries = await ledger(http, key)
    assert len({entry["id"] for entry in entries}) == len(entries), "a ledger entry repeats"
    balance, reserved = account["credit_balance"], account["credits_reserved"]
    assert balance == sum(entry["amount"] for entry in entries), (account, entries)
    assert reserved == sum(entry["reserved_delta"] for entry in entries), (account, entries)
    assert reserved == 0, account
    return balance, reserved


async def entries_for(
    http: httpx.AsyncClient, key: str, generation_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The ledger entries of one generation, by kind (reserve, capture, refund)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for entry in await ledger(http, key):
        if entry["generation_id"] == generation_id:
            by_kind.setdefault(entry["kind"], []).append(entry)
    return by_kind
