"""``mediastudio keys create|list|revoke``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mediastudio.cli.common import (
    AsJson,
    ConfigFile,
    DataDir,
    console,
    errors,
    new_table,
    opened,
    print_json,
    run,
    settings_from,
    timestamp,
)

if TYPE_CHECKING:
    from mediastudio.keys.models import ApiKey

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _split(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("create")
def create(
    account: Annotated[str, typer.Option("--account", help="Email or id of the account")],
    name: Annotated[str, typer.Option("--name", help="What the key is for")],
    test: Annotated[bool, typer.Option("--test", help="A sandbox key (ms_test_)")] = False,
    scopes: Annotated[
        str | None, typer.Option(help="Comma-separated; default every scope but keys")
    ] = None,
    expires: Annotated[str | None, typer.Option(help="ISO-8601 expiry, e.g. 2027-01-01")] = None,
    ip: Annotated[str | None, typer.Option(help="Comma-separated addresses or CIDRs")] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Create a key. The key itself is printed once, as the last line (on stdout; everything
    else goes to stderr, so `KEY=$(mediastudio keys create …)` captures the key alone)."""
    from mediastudio.accounts import service as accounts
    from mediastudio.keys import service

    async def body() -> tuple[str, str]:
        async with (
            opened(settings_from(data_dir, config)) as store,
            store.db.write() as session,
        ):
            owner = await accounts.require(session, account)
            new = await service.create(
                session,
                owner,
                name=name,
                sandbox=test,
                scopes=_split(scopes),
                ip_allowlist=_split(ip) or [],
                expires_at=_expiry(expires),
            )
        mode = "sandbox" if new.key.sandbox else "live"
        notice = (
            f"created {new.key.id} ({mode}) for {owner.email} with scopes "
            f"{','.join(new.key.scopes)}\n"
            "Store the key now: it is shown once, on the next line, and never again."
        )
        return notice, new.secret

    try:
        notice, secret = run(body())
    except ValueError as exc:  # a malformed --expires
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    # Plain echo, flushed: the warning reaches the terminal before the key does, unwrapped.
    typer.echo(notice, err=True)
    typer.echo(secret)


@app.command("list")
def list_keys(
    account: Annotated[str | None, typer.Option("--account", help="Only this account")] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: AsJson = False,
) -> None:
    """List keys (never their secrets)."""
    from mediastudio.accounts import service as accounts
    from mediastudio.keys import service

    async def body() -> None:
        async with (
            opened(settings_from(data_dir, config)) as store,
            store.db.read() as session,
        ):
            owner = await accounts.require(session, account) if account else None
            keys = await service.list_keys(session, owner.id if owner else None)
        now = datetime.now(UTC)
        if as_json:
            print_json([_key_row(key, now) for key in keys])
            return
        table = new_table("id", "key", "name", "account", "scopes", "status", "last used")
        for key in keys:
            row = _key_row(key, now)
            table.add_row(
                key.id,
                f"{key.prefix}…{key.last_four}",
                key.name,
                key.account_id,
                ",".join(key.scopes),
                row["status"],
                row["last_used_at"] or "never",
            )
        console.print(table)

    run(body())


def _key_row(key: ApiKey, now: datetime) -> dict[str, Any]:
    status = (
        "revoked"
        if key.revoked_at
        else "expired"
        if key.expires_at and key.expires_at <= now
        else "active"
    )
    return {
        "id": key.id,
        "prefix": key.prefix,
        "last_four": key.last_four,
        "name": key.name,
        "account_id": key.account_id,
        "sandbox": key.sandbox,
        "scopes": list(key.scopes),
        "ip_allowlist": list(key.ip_allowlist),
        "status": status,
        "created_at": timestamp(key.created_at),
        "expires_at": timestamp(key.expires_at),
        "last_used_at": timestamp(key.last_used_at),
    }


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_…)")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Revoke a key; requests with it fail with invalid_api_key from now on."""
    from mediastudio.keys import service

    async def body() -> None:
        async with (
            opened(settings_from(data_dir, config)) as store,
            store.db.write() as session,
        ):
            key = await service.revoke(session, key_id)
        console.print(f"revoked {key.id}")

    run(body())
