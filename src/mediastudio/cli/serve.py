"""``mediastudio serve`` and ``mediastudio migrate``."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.panel import Panel

from mediastudio.cli.common import (
    ConfigFile,
    DataDir,
    Store,
    console,
    errors,
    opened,
    run,
    settings_from,
)

if TYPE_CHECKING:
    from mediastudio.settings import Settings

BOOTSTRAP_EMAIL = "local@mediastudio.local"
# engines/contract.py's POOLS, named here so that `--help` does not import the engines.
POOL_NAMES = ("cpu", "gpu", "io", "remote")


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Reverse proxies (comma-separated IPs or CIDRs, '*' for any) whose "
            "X-Forwarded-For/-Proto are trusted; default none: the client address is the "
            "connection's",
        ),
    ] = None,
    no_workers: Annotated[
        bool,
        typer.Option(
            "--no-workers",
            help="Serve the API only: jobs, sweeps and webhooks are left to `mediastudio worker` "
            "processes",
        ),
    ] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Run the API (interactive docs at /docs) and its job workers in one process (with a broker,
    MEDIASTUDIO_BROKER_URL, jobs run in `mediastudio worker` processes instead)."""
    import uvicorn

    from mediastudio.app import create_app

    settings = settings_from(
        data_dir, config, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips
    )
    _ensure_port_free(settings.host, settings.port)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    secrets = run(_prepare(settings))
    if secrets is not None:
        _show_bootstrap(settings, *secrets)
    console.print(
        f"MediaStudio on http://{settings.host}:{settings.port}  (docs: /docs)  "
        f"data: {settings.data_dir.resolve()}"
    )
    uvicorn.run(
        create_app(settings, run_workers=not no_workers, freeze_gc=True),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **proxy_options(settings),
        # Open event streams never end by themselves: without a bound, a SIGTERM would wait for
        # every listener to go away before the workers could stop gracefully.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
    )


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header options. Its own default trusts X-Forwarded-For from any process
    on this machine (127.0.0.1), which lets a local program pose as any address an API key's
    allowlist names; here proxy headers are read only from the proxies the operator names."""
    proxies = settings.forwarded_allow_ips.strip()
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


def _ensure_port_free(host: str, port: int) -> None:
    """Fail before starting workers: uvicorn binds only after the app's start-up has run."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            errors.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror}")
            raise typer.Exit(1) from exc


def worker(
    pools: Annotated[
        str,
        typer.Option(
            help="Comma-separated pools whose jobs this process runs: cpu, gpu, io, remote"
        ),
    ] = ",".join(POOL_NAMES),
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Jobs of each named pool run at once; default: MEDIASTUDIO_WORKERS_<POOL>",
        ),
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Run jobs apart from the API: from the broker's queues of POOLS when MEDIASTUDIO_BROKER_URL
    is set, else from the database (polled every sweep interval)."""
    from mediastudio.runtime.worker import run_worker

    names = [name.strip() for name in pools.split(",") if name.strip()]
    unknown = sorted(set(names) - set(POOL_NAMES))
    if unknown or not names:
        errors.print(
            f"[red]error:[/red] unknown pool {', '.join(unknown) or '(none)'}; "
            f"choose among {', '.join(POOL_NAMES)}"
        )
        raise typer.Exit(2)
    settings = settings_from(data_dir, config)
    slots = {name: concurrency or settings.workers_for(name) for name in dict.fromkeys(names)}
    if not any(slots.values()):
        errors.print("[red]error:[/red] no slots: give --concurrency")
        raise typer.Exit(2)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    where = "broker" if settings.broker_url else "database"
    console.print(
        f"MediaStudio worker: {', '.join(f'{p} x{n}' for p, n in slots.items())} "
        f"(jobs from the {where})"
    )
    raise typer.Exit(run_worker(settings, slots))


def migrate(data_dir: DataDir = None, config: ConfigFile = None) -> None:
    """Create or upgrade the database schema."""

    async def body() -> None:
        async with opened(settings_from(data_dir, config)):
            pass

    run(body())
    console.print("database is up to date")


async def _prepare(settings: Settings) -> tuple[str, str] | None:
    async with opened(settings) as store:
        return await _bootstrap(store) if settings.bootstrap else None


async def _bootstrap(store: Store) -> tuple[str, str] | None:
    """On an empty database: a local account with demo credits, and one live and one test key."""
    from mediastudio.accounts import repository as accounts_repo
    from mediastudio.accounts import service as accounts
    from mediastudio.keys import service as keys

    settings = store.settings
    async with store.db.write() as session:
        if await accounts_repo.count(session) > 0:
            return None
        account = await accounts.create(
            session,
            settings,
            email=BOOTSTRAP_EMAIL,
            plan=settings.bootstrap_plan,
            credits_granted=settings.bootstrap_credits,
            name="Local account",
        )
        live = await keys.create(session, account, name="bootstrap live key")
        test = await keys.create(session, account, name="bootstrap test key", sandbox=True)
    return live.secret, test.secret


def _show_bootstrap(settings: Settings, live: str, test: str) -> None:
    console.print(
        Panel.fit(
            f"Created account {BOOTSTRAP_EMAIL} (plan {settings.bootstrap_plan}, "
            f"{settings.bootstrap_credits} credits).\n"
            f"Live key:    {live}\nSandbox key: {test}\n"
            "These keys are shown only once. More with `mediastudio keys create`.",
            title="First start",
        )
    )
