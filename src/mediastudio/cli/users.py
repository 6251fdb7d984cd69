"""``mediastudio users create``: people who sign in to the dashboard."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mediastudio.cli.common import ConfigFile, DataDir, console, errors, opened, run, settings_from

app = typer.Typer(help="Create dashboard users.", no_args_is_help=True)


def _read_password() -> str:
    """The password from standard input: typed twice at a terminal (not echoed), else the
    first line of what is piped in, so it never appears in the process list or shell history."""
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


@app.command("create")
def create(
    email: Annotated[str, typer.Option("--email", help="The user's email, to sign in with")],
    account: Annotated[str, typer.Option("--account", help="Email or id of the account")],
    operator: Annotated[
        bool, typer.Option("--operator", help="An operator of this installation")
    ] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Create a user of ACCOUNT; the password is read from standard input."""
    from mediastudio.accounts import service as accounts
    from mediastudio.users import service

    password = _read_password()
    if not password:
        errors.print("[red]error:[/red] no password on standard input")
        raise typer.Exit(1)

    async def body() -> None:
        async with (
            opened(settings_from(data_dir, config)) as store,
            store.db.write() as session,
        ):
            owner = await accounts.require(session, account)
            user = await service.create_user(
                session,
                account_id=owner.id,
                email=email,
                password=password,
                is_operator=operator,
            )
            role = " (operator)" if user.is_operator else ""
            console.print(f"created user {user.id} ({user.email}) of {owner.id}{role}")

    run(body())
