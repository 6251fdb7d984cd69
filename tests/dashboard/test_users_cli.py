"""``mediastudio users create`` reads the password from standard input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import VerifyMismatchError
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


def test_users_create_stores_an_argon2id_hash_of_the_piped_password(tmp_path: Path) -> None:
    """What the users table holds: an argon2id hash (PHC string) that argon2's own verifier
    accepts for the piped password and refuses for another, never the password."""
    code, out = invoke(tmp_path, "accounts", "create", "--email", "team@example.com")
    assert code == 0, out
    args = ("users", "create", "--email", "ann@example.com", "--account", "team@example.com")
    code, out = invoke(tmp_path, *args, stdin="a long password 1\n")
    assert code == 0, out
    with sqlite3.connect(tmp_path / "mediastudio.db") as db:
        rows = db.execute("SELECT password_hash FROM users WHERE email = 'ann@example.com'")
        (stored,) = rows.fetchone()
    assert stored.startswith("$argon2id$v=19$") and "a long password" not in stored
    assert extract_parameters(stored).type is Type.ID
    assert PasswordHasher().verify(stored, "a long password 1")  # no trailing newline
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(stored, "a long password 2")
