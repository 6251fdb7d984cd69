"""The operator's CLI against a real data directory."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mediastudio.cli import common
from mediastudio.cli.main import app
from mediastudio.keys.service import looks_like_key

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
