"""The ``mediastudio`` command.

Subcommand modules import the platform only when a command runs (see ``cli/common.py``), so
``--help`` and ``--version`` answer without loading the engines.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mediastudio import __version__
from mediastudio.cli import accounts, generate, jobs, keys, models, serve, users

app = typer.Typer(
    name="mediastudio",
    help="MediaStudio: a self-hostable generative-media API.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mediastudio {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """MediaStudio: a self-hostable generative-media API."""


app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("migrate")(serve.migrate)
app.add_typer(accounts.app, name="accounts")
app.add_typer(keys.app, name="keys")
app.add_typer(models.app, name="models")
app.add_typer(users.app, name="users")
# Client commands: they talk to a server over HTTP with the SDK (docs/cli.md).
app.add_typer(generate.app, name="generate")
app.command("run")(generate.run)
app.add_typer(jobs.app, name="jobs")
app.command("login")(jobs.login)
