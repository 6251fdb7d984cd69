"""What every command shares: the --data-dir/--config options and a platform without workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mediastudio.kit.errors import MediaStudioError
from mediastudio.migrations import upgrade
from mediastudio.platform import Platform
from mediastudio.settings import Settings, load_settings

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="MEDIASTUDIO_DATA_DIR",
        help="Where the database and files live (default ./.mediastudio)",
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", envvar="MEDIASTUDIO_CONFIG", help="A TOML settings file"),
]


def settings_from(data_dir: Path | None, config: Path | None, **overrides: Any) -> Settings:
    return load_settings(config, data_dir=data_dir, **overrides)


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Platform]:
    """A migrated platform for one command; no workers."""
    platform = Platform.build(settings)
    try:
        await upgrade(platform.db)
        yield platform
    finally:
        await platform.close()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's async body; a domain error becomes a clean message and exit code 1."""
    try:
        return asyncio.run(coroutine)
    except MediaStudioError as exc:
        errors.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


def new_table(*columns: str) -> Table:
    """A table whose cells wrap rather than truncate: ids and keys must stay copyable."""
    result = Table()
    for column in columns:
        result.add_column(column, overflow="fold")
    return result
