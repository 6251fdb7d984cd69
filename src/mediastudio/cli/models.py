"""``mediastudio models list``, and the local models: ``pull``, ``list --local``, ``rm``.

Registering a local model reads and writes ``local-models.json`` in the data directory only: no
database, no torch (see docs/local-models.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mediastudio.cli.common import (
    AsJson,
    ConfigFile,
    DataDir,
    console,
    errors,
    new_table,
    print_json,
    settings_from,
)

app = typer.Typer(help="The model catalog.", no_args_is_help=True)


@app.command("list")
def list_models(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: AsJson = False,
    local: Annotated[
        bool, typer.Option("--local", help="Only the registered local models (models pull)")
    ] = False,
) -> None:
    """Every model the installed engines declare, with price and live availability."""
    from mediastudio.catalog.service import Catalog
    from mediastudio.engines.local import registrations
    from mediastudio.engines.local.engine import LocalEngine
    from mediastudio.engines.local.registrations import ID_PREFIX
    from mediastudio.engines.registry import EngineRegistry

    settings = settings_from(data_dir, config)
    catalog = Catalog(EngineRegistry.discover(settings), settings)
    serves: dict[str, str | None] = {}
    local_engine = LocalEngine(settings)  # how each diffusers model sits on the GPU (offload)
    if local:  # which alias each serves first (models pull --serves)
        try:
            serves = {model.id: model.serves for model in registrations.load(settings.data_dir)}
        except registrations.RegistrationError as exc:
            errors.print(f"[yellow]warning:[/yellow] {exc}")
    rows: list[dict[str, Any]] = []
    for spec in catalog.list(None):
        if local and not spec.id.startswith(ID_PREFIX):
            continue
        availability = catalog.availability(spec, sandbox=False)
        row = {
            "id": spec.id,
            "type": spec.type,
            "credits": catalog.price(spec),
            "unit": spec.price_unit,
            "available": availability.available,
            "unavailable_reason": availability.reason,
        }
        if local:
            row["serves"] = serves.get(spec.id)
            row["runs"] = local_engine.placement_summary(spec.id)
        rows.append(row)
    if as_json:
        print_json(rows)
        return
    columns = ("id", "type", "credits", "unit", "live", "why not")
    table = new_table(*columns, *(("serves", "runs") if local else ()))
    for row in rows:
        cells: list[str] = [
            str(row["id"]),
            str(row["type"]),
            str(row["credits"]),
            str(row["unit"]),
            "yes" if row["available"] else "no",
            str(row["unavailable_reason"] or ""),
        ]
        if local:
            cells.append(str(row["serves"] or ""))
            cells.append(str(row["runs"] or ""))
        table.add_row(*cells)
    console.print(table)


ModelSource = Annotated[
    str,
    typer.Argument(
        help="A diffusers pipeline folder (model_index.json, unet/, vae/, …), a faster-whisper "
        "folder (model.bin, config.json, tokenizer.json), a folder of Piper voices "
        "(<name>.onnx + <name>.onnx.json), or a Hugging Face hub id to download: owner/name or "
        "owner/name@revision",
        metavar="FOLDER_OR_HUB_ID",
    ),
]


Serves = Annotated[
    str | None,
    typer.Option(
        "--serves",
        help="A catalog alias this model serves first, before its providers (flux-schnell)",
    ),
]
Variant = Annotated[
    str | None,
    typer.Option(
        "--variant",
        help="Hub downloads: the weights variant to fetch where the repository has it (fp16)",
    ),
]
UseHfCache = Annotated[
    bool,
    typer.Option(
        "--use-hf-cache",
        help="Hub downloads: into the Hugging Face cache (HF_HOME), shared with other tools, "
        "instead of <data dir>/models",
    ),
]


@app.command("pull")
def pull(
    source: ModelSource,
    serves: Serves = None,
    variant: Variant = None,
    use_hf_cache: UseHfCache = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Register weights as the model local/<name>: a folder already on disk (the files stay
    where they are; a folder of one Piper voice is named for the voice), or a Hugging Face hub
    id, downloaded into the data directory first (a complete copy in the Hugging Face cache is
    used where it is; HF_TOKEN is sent; run it again to resume an interrupted download). The
    kind is detected from the files. With --serves (or a FLUX.1-schnell folder), the alias runs
    on them first and fails over to its providers."""
    from mediastudio.engines.local import hub, registrations
    from mediastudio.engines.providers.local import LOCAL_BUILDS

    if serves is not None and serves not in LOCAL_BUILDS:
        errors.print(
            f"[red]error:[/red] {serves!r} cannot be served locally; aliases that can: "
            f"{', '.join(sorted(LOCAL_BUILDS))}."
        )
        raise typer.Exit(1)
    settings = settings_from(data_dir, config)
    folder, name = Path(source), None
    hub_id = None if folder.is_dir() else hub.parse_hub_id(source)
    try:
        if hub_id is None and not folder.is_dir():
            raise registrations.RegistrationError(
                f"{source} is neither a folder nor a Hugging Face hub id (owner/name)."
            )
        if hub_id is not None:
            console.print(f"pulling [bold]{hub_id}[/bold] from the Hugging Face Hub")
            fetched = hub.download(
                hub_id, settings.data_dir, variant=variant, use_hf_cache=use_hf_cache
            )
            how = "found complete in the Hugging Face cache" if fetched.reused else "downloaded"
            console.print(
                f"{how}: {fetched.files} files, {fetched.bytes / 1e6:.1f} MB in {fetched.folder}"
            )
            folder, name = fetched.folder, hub_id.name
        kind = registrations.detect_kind(folder)[0] if serves is not None else None
        if kind is not None and kind != registrations.DIFFUSERS:
            video = kind == registrations.DIFFUSERS_VIDEO
            what = "a video pipeline" if video else f"a {kind} model"
            raise registrations.RegistrationError(
                f"Only an image pipeline can serve {serves}; {folder} holds {what}."
            )
        model = registrations.register(settings.data_dir, folder, serves=serves, name=name)
    except (hub.HubError, registrations.RegistrationError) as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    console.print(f"registered [bold]{model.id}[/bold] ({model.pipeline}) from {model.path}")
    if model.serves is not None:
        console.print(f"{model.serves} runs on it first, then on its providers")


@app.command("rm")
def remove(
    model_id: Annotated[str, typer.Argument(help="local/<name>, as models list --local shows")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Forget a local model (its weights are not deleted)."""
    from mediastudio.engines.local import registrations

    settings = settings_from(data_dir, config)
    try:
        model = registrations.remove(settings.data_dir, model_id)
    except registrations.RegistrationError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"removed {model.id} (the files in {model.path} are untouched)")
