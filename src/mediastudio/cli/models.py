"""``mediastudio models list``."""

from __future__ import annotations

from typing import Any

import typer

from mediastudio.cli.common import (
    AsJson,
    ConfigFile,
    DataDir,
    console,
    new_table,
    print_json,
    settings_from,
)

app = typer.Typer(help="The model catalog.", no_args_is_help=True)


@app.command("list")
def list_models(
    data_dir: DataDir = None, config: ConfigFile = None, as_json: AsJson = False
) -> None:
    """Every model the installed engines declare, with price and live availability."""
    from mediastudio.catalog.service import Catalog
    from mediastudio.engines.registry import EngineRegistry

    settings = settings_from(data_dir, config)
    catalog = Catalog(EngineRegistry.discover(settings), settings)
    rows: list[dict[str, Any]] = []
    for spec in catalog.list(None):
        availability = catalog.availability(spec, sandbox=False)
        rows.append(
            {
                "id": spec.id,
                "type": spec.type,
                "credits": catalog.price(spec),
                "unit": spec.price_unit,
                "available": availability.available,
                "unavailable_reason": availability.reason,
            }
        )
    if as_json:
        print_json(rows)
        return
    table = new_table("id", "type", "credits", "unit", "live", "why not")
    for row in rows:
        table.add_row(
            row["id"],
            row["type"],
            str(row["credits"]),
            row["unit"],
            "yes" if row["available"] else "no",
            row["unavailable_reason"] or "",
        )
    console.print(table)
