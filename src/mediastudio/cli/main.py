"""The ``mediastudio`` command."""

from __future__ import annotations

import typer

from mediastudio.cli import accounts, keys, models, serve

app = typer.Typer(
    name="mediastudio",
    help="MediaStudio: a self-hostable generative-media API.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.command("migrate")(serve.migrate)
app.add_typer(accounts.app, name="accounts")
app.add_typer(keys.app, name="keys")
app.add_typer(models.app, name="models")
