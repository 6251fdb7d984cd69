"""``mediastudio models list``."""

from __future__ import annotations

import typer

from mediastudio.catalog.service import Catalog
from mediastudio.cli.common import ConfigFile, DataDir, console, new_table, settings_from
from mediastudio.engines.registry import EngineRegistry

app = typer.Typer(help="The model catalog.", no_args_is_help=True)


@app.command("list")
def list_models(data_dir: DataDir = None, config: ConfigFile = None) -> None:
    """Every model the installed engines declare, with price and live availability."""
    settings = settings_from(data_dir, config)
    catalog = Catalog(EngineRegistry.discover(settings), settings)
    table = new_table("id", "type", "credits", "unit", "live", "why not")
    for spec in catalog.list(None):
        availability = catalog.availability(spec, sandbox=False)
        table.add_row(
            spec.id,
            spec.type,
            str(catalog.price(spec)),
            spec.price_unit,
            "yes" if availability.available else "no",
            availability.reason or "",
        )
    console.print(table)
