"""The operator's CLI against a real data directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mediastudio
from mediastudio.cli import common
from mediastudio.cli.main import app
from mediastudio.keys.service import looks_like_key

KEY_ID = re.compile(r"\bkey_[0-9a-z]{26}\b")

runner = CliRunner()


def invoke(data_dir: Path, *args: str) -> tuple[int, str]:
    # Rich reads the width once, when the console is made: a wide terminal, whatever ran first.
    common.console.width = 200
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_accounts_keys_and_models(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "migrate")
    assert code == 0 and "up to date" in out
    code, out = invoke(
        tmp_path,
        "accounts",
        "create",
        "--email",
        "Ops@Example.com",
        "--plan",
        "pro",
        "--credits",
        "50",
    )
    assert code == 0 and "ops@example.com" in out

    code, out = invoke(
        tmp_path,
        "keys",
        "create",
        "--account",
        "ops@example.com",
        "--name",
        "ci",
        "--test",
        "--scopes",
        "read,generate:image",
        "--ip",
        "10.0.0.0/8",
        "--expires",
        "2099-01-01",
    )
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert looks_like_key(secret) and secret.startswith("ms_test_")

    code, out = invoke(tmp_path, "keys", "list")
    assert code == 0 and secret[:12] in out and secret[-4:] in out and secret not in out
    key_id = next(word for word in out.split() if word.startswith("key_"))
    code, out = invoke(tmp_path, "keys", "revoke", key_id)
    assert code == 0 and "revoked" in out
    assert "revoked" in invoke(tmp_path, "keys", "list")[1]

    code, out = invoke(tmp_path, "accounts", "grant", "ops@example.com", "25")
    assert code == 0 and "balance 75" in out
    code, out = invoke(tmp_path, "accounts", "list")
    assert code == 0 and "75" in out and "pro" in out

    code, out = invoke(tmp_path, "models", "list")
    assert code == 0 and "sandbox/image" in out


def test_domain_errors_are_clean_messages(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "accounts", "create", "--email", "a@x.io", "--plan", "gold")
    assert code == 1 and "Unknown plan" in out
    invoke(tmp_path, "accounts", "create", "--email", "a@x.io")
    code, out = invoke(tmp_path, "accounts", "create", "--email", "a@x.io")
    assert code == 1 and "already exists" in out
    code, out = invoke(tmp_path, "keys", "create", "--account", "nobody@x.io", "--name", "k")
    assert code == 1 and "No account" in out
    code, out = invoke(
        tmp_path, "keys", "create", "--account", "a@x.io", "--name", "k", "--scopes", "read,admin"
    )
    assert code == 1 and "Unknown scopes" in out


def test_data_dir_from_the_environment(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["accounts", "create", "--email", "env@x.io"],
        env={"MEDIASTUDIO_DATA_DIR": str(tmp_path / "env")},
    )
    assert result.exit_code == 0
    assert (tmp_path / "env" / "mediastudio.db").exists()


def test_serve_refuses_a_busy_port_before_starting_anything(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = invoke(tmp_path / "data", "serve", "--port", str(port))
    assert code == 1 and "cannot listen" in out
    assert not (tmp_path / "data" / "mediastudio.db").exists()


# What a newcomer meets first ------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("cv2", "av", "scipy", "numpy", "PIL", "sqlalchemy", "fastapi", "uvicorn")
# Runs the CLI as `mediastudio ARGS` would, then reports which heavy modules it had imported.
PROBE = f"""
import atexit, json, sys
heavy = {HEAVY!r}
atexit.register(lambda: print("LOADED " + json.dumps(sorted(
    name for name in sys.modules
    if name.split(".")[0] in heavy or name.startswith("mediastudio.engines")
))))
from mediastudio.cli.main import app
app(sys.argv[1:], prog_name="mediastudio")
"""


def run_cli(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MEDIASTUDIO_DATA_DIR", None)
    options.setdefault("check", False)
    return subprocess.run([sys.executable, *args], text=True, env=env, timeout=120, **options)


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["serve", "--help"], ["keys", "--help"]]
)
def test_help_and_version_load_no_engine_or_server(args: list[str]) -> None:
    result = run_cli("-c", PROBE, *args, capture_output=True)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.rsplit("LOADED ", 1)[1])
    assert loaded == [], f"`mediastudio {' '.join(args)}` imported {loaded}"


def test_version() -> None:
    result = run_cli("-m", "mediastudio", "--version", capture_output=True)
    assert result.returncode == 0
    assert result.stdout == f"mediastudio {mediastudio.__version__}\n"


def test_serve_help_promises_only_what_exists() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "dashboard" not in result.output.lower()
    assert "/docs" in result.output


def test_worker_refuses_an_unknown_pool_before_starting(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "worker", "--pools", "cpu,tpu")
    assert code == 2
    assert "unknown pool tpu" in out
    assert not tmp_path.joinpath("mediastudio.db").exists()  # nothing was opened


def test_keys_create_warns_before_the_key_which_is_the_last_line(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    made = run_cli("-m", "mediastudio", "accounts", "create", "--email", "a@x.io", *data)
    assert made.returncode == 0
    create = ["-m", "mediastudio", "keys", "create", "--account", "a@x.io", "--name", "ci", *data]
    # As a terminal shows it: both streams, in the order they were written.
    merged = run_cli(*create, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = merged.stdout.strip().splitlines()
    assert merged.returncode == 0 and looks_like_key(lines[-1]), lines
    assert any("shown once" in line for line in lines[:-1]), lines
    # As `KEY=$(mediastudio keys create …)` captures it: the key alone.
    separate = run_cli(*create, capture_output=True)
    assert looks_like_key(separate.stdout.strip()) and separate.stdout.count("\n") == 1
    assert "shown once" in separate.stderr and KEY_ID.search(separate.stderr)


def test_list_commands_print_json(tmp_path: Path) -> None:
    invoke(tmp_path, "accounts", "create", "--email", "j@x.io", "--plan", "pro", "--credits", "7")
    invoke(tmp_path, "keys", "create", "--account", "j@x.io", "--name", "ci", "--test")

    def listed(*args: str) -> list[dict[str, Any]]:
        result = runner.invoke(app, [*args, "--json", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows

    [account] = listed("accounts", "list")
    assert (account["email"], account["plan"], account["credit_balance"]) == ("j@x.io", "pro", 7)
    [key] = listed("keys", "list")
    assert key["account_id"] == account["id"] and key["sandbox"] is True
    assert key["status"] == "active" and key["prefix"].startswith("ms_test_")
    assert "secret" not in key and "key_hash" not in key
    models = {row["id"]: row for row in listed("models", "list")}
    assert (
        models["sandbox/image"]["type"] == "image" and models["sandbox/image"]["available"] is False
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_takes_a_port() -> None:
    def recipe(*args: str) -> str:
        # A clean environment: under `make test` the parent's MAKEFLAGS would add directory lines.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
        result = subprocess.run(
            ["make", "-n", "run", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return result.stdout.strip().splitlines()[-1]

    assert recipe("PORT=8080").endswith("mediastudio serve --port 8080")
    assert recipe().endswith("mediastudio serve --port 8000")
