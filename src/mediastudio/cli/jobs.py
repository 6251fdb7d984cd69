"""``mediastudio jobs list|get|cancel|retry|wait`` and ``mediastudio login``: the jobs of the
key's account over HTTP (the SDK), and saving a verified key for the other client commands."""

from __future__ import annotations

from itertools import islice
from typing import Annotated

import typer

from mediastudio.cli.remote import (
    DEFAULT_URL,
    ApiKey,
    AsJson,
    NoWait,
    OutputPath,
    ServerUrl,
    Timeout,
    connected,
    err,
    finish,
    out,
    print_json,
    write_config,
)

app = typer.Typer(help="List, inspect, cancel, retry and wait for jobs.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="The job's id (gen_…)")]


@app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="queued, processing, completed…")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="image, video, speech…")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first")] = 20,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """The newest jobs (a table, or a JSON array with --json)."""
    from rich.table import Table

    filters = {"status": status, "type": type_, "model": model}
    with connected(api_key, url, as_json=as_json) as client:
        jobs = list(islice(client.generations.list(limit=min(limit, 100), **filters), limit))
    if as_json:
        print_json([job.raw for job in jobs])
        return
    table = Table()
    for column in ("id", "type", "model", "status", "progress", "created"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(
            job.id, job.type, job.model, job.status, f"{job.progress}%", job.created_at or ""
        )
    out.print(table)


@app.command("get")
def get(
    job_id: JobId,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """One job: its status, progress, outputs and error."""
    with connected(api_key, url, as_json=as_json) as client:
        job = client.generations.get(job_id)
    if as_json:
        print_json(job.raw)
        return
    lines = [
        f"id        {job.id}",
        f"type      {job.type}",
        f"model     {job.model}",
        f"status    {job.status} ({job.progress}%)",
        f"created   {job.created_at}",
        f"credits   {job.credits.charged} charged, {job.credits.reserved} reserved, "
        f"{job.credits.refunded} refunded",
    ]
    if job.error:
        lines.append(f"error     {job.error.code}: {job.error.message}")
    lines += [f"output    {output.url}" for output in job.outputs]
    typer.echo("\n".join(lines))


@app.command("cancel")
def cancel(
    job_id: JobId,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """Cancel a queued or running job (its credits are refunded)."""
    with connected(api_key, url, as_json=as_json) as client:
        job = client.generations.cancel(job_id)
    if as_json:
        print_json(job.raw)
    else:
        typer.echo(f"{job.id} {job.status}")


@app.command("retry")
def retry(
    job_id: JobId,
    output: OutputPath = None,
    no_wait: NoWait = False,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """Run a failed job again (POST /generations/{id}/retry: the same job, queued again and
    charged again), then wait for it and download its outputs like `generate` does."""
    with connected(api_key, url, as_json=as_json) as client:
        job = client.generations.retry(job_id)
        finish(job, output=output, no_wait=no_wait, as_json=as_json, timeout=timeout)


@app.command("wait")
def wait(
    job_id: JobId,
    output: OutputPath = None,
    timeout: Timeout = None,
    as_json: AsJson = False,
    api_key: ApiKey = None,
    url: ServerUrl = None,
) -> None:
    """Follow a job to its end with a progress bar, then download its outputs."""
    with connected(api_key, url, as_json=as_json) as client:
        job = client.generations.get(job_id)
        finish(job, output=output, no_wait=False, as_json=as_json, timeout=timeout)


def login(
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="MEDIASTUDIO_API_KEY",
            help="The key to save (asked for, hidden, when not given)",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", envvar="MEDIASTUDIO_URL", help="The server")
    ] = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Check a key against the server and save it with the URL for the client commands
    (~/.config/mediastudio/config.toml, readable by you only)."""
    key = api_key or typer.prompt("API key", hide_input=True)
    with connected(key, url, as_json=as_json) as client:
        account = client.account()
    path = write_config(key, url.rstrip("/"))
    if as_json:
        print_json({"config": str(path), "url": url.rstrip("/"), "account": account})
        return
    who = account.get("email") or account.get("id") or "your account"
    err.print(f"logged in to {url.rstrip('/')} as {who}", highlight=False, markup=False)
    typer.echo(str(path))
