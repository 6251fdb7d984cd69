"""``mediastudio users create`` reads the password from standard input."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mediastudio.cli import common
from mediastudio.cli.main import app

runner = CliRunner()


def invoke(data_dir: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    common.console.width = 200
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.output


def test_users_create_reads_the_password_from_stdin(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "accounts", "create", "--email", "team@example.com")
    assert code == 0, out
    args = ("users", "create", "--email", "Ann@Example.com", "--account", "team@example.com")
    code, out = invoke(tmp_path, *args, "--operator", stdin="a long password 1\n")
    assert code == 0, out
    assert "ann@example.com" in out and "(operator)" in out and "a long password" not in out
    code, out = invoke(tmp_path, *args, stdin="another password\n")
    assert code == 1 and "already exists" in out
    code, out = invoke(
        tmp_path,
        "users",
        "create",
        "--email",
        "b@example.com",
        "--account",
        "team@example.com",
        stdin="short\n",
    )
    assert code == 1 and "at least 10 characters" in out
    code, out = invoke(
        tmp_path,
        "users",
        "create",
        "--email",
        "c@example.com",
        "--account",
        "nobody@example.com",
        stdin="a long password 1\n",
    )
    assert code == 1 and "No account" in out
