"""``mediastudio accounts create|list|grant``."""

from __future__ import annotations

from typing import Annotated

import typer

from mediastudio.cli.common import (
    AsJson,
    ConfigFile,
    DataDir,
    console,
    new_table,
    opened,
    print_json,
    run,
    settings_from,
    timestamp,
)

app = typer.Typer(help="Create accounts, list them, grant credits.", no_args_is_help=True)


@app.command("create")
def create(
    email: Annotated[str, typer.Option("--email", help="The account's email address")],
    plan: Annotated[str | None, typer.Option(help="free, pro, enterprise, unlimited…")] = None,
    credits_: Annotated[int, typer.Option("--credits", min=0, help="Credits to grant")] = 0,
    name: Annotated[str, typer.Option(help="A display name")] = "",
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Create an account, optionally with an initial credit grant."""
    from mediastudio.accounts import service

    async def body() -> None:
        async with (
            opened(settings_from(data_dir, config)) as store,
            store.db.write() as session,
        ):
            account = await service.create(
                session,
                store.settings,
                email=email,
                plan=plan,
                credits_granted=credits_,
                name=name,
            )
            console.print(
                f"created account {account.id} ({account.email}), plan {account.plan}, "
                f"{credits_} credits"
            )

    run(body())


@app.command("list")
def list_accounts(
    data_dir: DataDir = None, config: ConfigFile = None, as_json: AsJson = False
) -> None:
    """List accounts with their plan and credits."""
    from mediastudio.accounts import service

    async def body() -> None:
        async with (
            opened(settings_from(data_dir, config)) as store,
            store.db.read() as session,
        ):
            accounts = await service.list_all(session)
        if as_json:
            print_json(
                [
                    {
                        "id": account.id,
                        "email": account.email,
                        "name": account.name,
                        "plan": account.plan,
                        "credit_balance": account.credit_balance,
                        "credits_reserved": account.credits_reserved,
                        "created_at": timestamp(account.created_at),
                    }
                    for account in accounts
                ]
            )
            return
        table = new_table("id", "email", "plan", "balance", "reserved", "created")
        for account in accounts:
            table.add_row(
                account.id,
                account.email,
                account.plan,
                str(account.credit_balance),
                str(account.credits_reserved),
                timestamp(account.created_at),
            )
        console.print(table)

    run(body())


@app.command("grant")
def grant(
    account: Annotated[str, typer.Argument(help="Email or id of the account")],
    amount: Annotated[int, typer.Argument(min=1, help="Credits to add")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Add credits to an account (recorded in its ledger)."""
    from mediastudio.accounts import service
    from mediastudio.credits import service as credits

    async def body() -> None:
        async with (
            opened(settings_from(data_dir, config)) as store,
            store.db.write() as session,
        ):
            found = await service.require(session, account)
            balance = await credits.grant(session, found.id, amount, "granted by operator")
            console.print(f"granted {amount} credits to {found.email}; balance {balance}")

    run(body())
