"""What every command shares: the --data-dir/--config/--json options, the migrated database
without engines or workers, and output helpers.

Only typer and rich are imported at module level: the platform (SQLAlchemy, FastAPI, the
engines with NumPy, OpenCV, PyAV, SciPy) is imported by the command that needs it, so
``mediastudio --help`` and ``--version`` answer at once. Commands that only read and write
rows open the database alone (:func:`opened`), without discovering the engines.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mediastudio.kit.db import Database
    from mediastudio.settings import Settings

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
AsJson = Annotated[
    bool, typer.Option("--json", help="Print a JSON array instead of a table (for scripts)")
]


def settings_from(data_dir: Path | None, config: Path | None, **overrides: Any) -> Settings:
    from mediastudio.settings import load_settings

    return load_settings(config, data_dir=data_dir, **overrides)


@dataclass(frozen=True)
class Store:
    """What a row-editing command needs: the settings and the migrated database."""

    settings: Settings
    db: Database


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Store]:
    """The migrated database for one command: no engines, storage or workers."""
    from mediastudio.kit.db import Database
    from mediastudio.migrations import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url, pool_size=settings.database_pool_size)
    try:
        await upgrade(db)
        yield Store(settings, db)
    finally:
        await db.dispose()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's async body; a domain error becomes a clean message and exit code 1."""
    from mediastudio.kit.errors import MediaStudioError

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


def print_json(rows: Sequence[dict[str, Any]]) -> None:
    """Rows as a JSON array on stdout: plain text, never wrapped or styled by rich."""
    typer.echo(json.dumps(list(rows), indent=2, default=_jsonable))


def timestamp(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
