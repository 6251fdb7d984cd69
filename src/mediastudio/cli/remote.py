"""What the client commands share (``generate``, ``run``, ``jobs``, ``login``): the key and URL,
the SDK client, waiting with a progress bar, downloading, and errors as messages.

These commands talk to a server over HTTP with the SDK (``mediastudio.client``); they never
import the server. Even the SDK (httpx) is imported inside the functions that need it, so that
``mediastudio --help`` and ``mediastudio generate --help`` load neither.

Streams: results (paths, ids, tables, ``--json`` documents) go to stdout; the progress bar,
notices and errors go to stderr, so ``$(mediastudio generate … --no-wait)`` captures the id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from mediastudio.client import Client, Generation, MediaStudioError

DEFAULT_URL = "http://localhost:8000"
# Exit codes (docs/cli.md): 1 a request or the job failed, 2 bad usage (click's), 124 the wait
# timed out (as timeout(1) does; the job keeps running).
EXIT_FAILED = 1
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

out = Console(soft_wrap=True)  # results: never wrapped, so ids and paths stay copyable
err = Console(stderr=True, soft_wrap=True)  # an error line and its request id stay whole

ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="MEDIASTUDIO_API_KEY",
        help="API key (default $MEDIASTUDIO_API_KEY, then the key saved by `mediastudio login`)",
        show_default=False,
    ),
]
ServerUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="MEDIASTUDIO_URL",
        help=f"Server URL (default $MEDIASTUDIO_URL, then the saved one, then {DEFAULT_URL})",
        show_default=False,
    ),
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there")
]
OutputPath = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Where to save the output: a file, or a directory (default: the current one)",
    ),
]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Print the job's id and return at once")]
Timeout = Annotated[
    float | None,
    typer.Option("--timeout", help="Give up waiting after this many seconds (exit 124)"),
]


# Configuration ------------------------------------------------------------------------------


def config_path() -> Path:
    """``$MEDIASTUDIO_CLIENT_CONFIG``, else ``$XDG_CONFIG_HOME/mediastudio/config.toml`` (the XDG
    default ``~/.config``). Not ``MEDIASTUDIO_CONFIG``: that one names the server's settings."""
    explicit = os.environ.get("MEDIASTUDIO_CLIENT_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mediastudio" / "config.toml"


def read_config() -> dict[str, str]:
    import tomllib

    path = config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    return {key: str(value) for key, value in data.items() if key in ("api_key", "url")}


def write_config(api_key: str, url: str) -> Path:
    """Write the key and URL readable by the owner only (0600, created so: never briefly open)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # JSON strings are valid TOML basic strings (same escapes), so no TOML writer is needed.
    text = f"api_key = {json.dumps(api_key)}\nurl = {json.dumps(url)}\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)  # an older file may have had wider permissions
    return path


def resolve(api_key: str | None, url: str | None) -> tuple[str, str]:
    """Flag, then environment (typer reads both into the option), then the saved config."""
    saved = read_config() if not (api_key and url) else {}
    key = api_key or saved.get("api_key")
    if not key:
        fail(
            "no API key: set MEDIASTUDIO_API_KEY, pass --api-key, or run `mediastudio login`",
            code=EXIT_FAILED,
        )
    return key, (url or saved.get("url") or DEFAULT_URL).rstrip("/")


@contextmanager
def connected(api_key: str | None, url: str | None, *, as_json: bool = False) -> Iterator[Client]:
    """An SDK client for one command; any SDK error becomes a message and exit code 1."""
    from mediastudio.client import Client, MediaStudioError

    key, base_url = resolve(api_key, url)
    try:
        with Client(api_key=key, base_url=base_url) as client:
            yield client
    except MediaStudioError as exc:
        api_error(exc, as_json=as_json)
    except TimeoutError as exc:
        fail(str(exc), code=EXIT_TIMEOUT, as_json=as_json, error_code="timeout")
    except OSError as exc:  # an output that cannot be written
        fail(str(exc), as_json=as_json)
    except KeyboardInterrupt:
        # Ctrl-C stops the waiting, not the job: say so instead of a traceback.
        fail(
            "interrupted; a job already submitted keeps running (mediastudio jobs list)",
            code=EXIT_INTERRUPTED,
            as_json=as_json,
            error_code="interrupted",
        )


# Errors ---------------------------------------------------------------------------------------


def fail(
    message: str,
    *,
    code: int = EXIT_FAILED,
    as_json: bool = False,
    error_code: str | None = None,
    request_id: str | None = None,
) -> NoReturn:
    """One line on stderr (and the error as JSON on stdout under ``--json``), then exit."""
    if as_json:
        typer.echo(
            json.dumps(
                {"error": {"code": error_code, "message": message, "request_id": request_id}}
            )
        )
    where = f" (request {request_id})" if request_id else ""
    label = f"{error_code}: " if error_code else ""
    from rich.markup import escape

    # Escaped: a message may quote a prompt, and "[slow:30]" is not a style.
    err.print(f"[red]error:[/red] {escape(label + message + where)}", highlight=False)
    raise typer.Exit(code)


def api_error(exc: MediaStudioError, *, as_json: bool) -> NoReturn:
    fail(exc.message, as_json=as_json, error_code=exc.code, request_id=exc.request_id)


# Inputs ---------------------------------------------------------------------------------------


def parse_inputs(pairs: list[str] | None, as_json_text: str | None) -> dict[str, Any]:
    """``--input-json '{…}'`` then each ``--input key=value`` over it; a value is read as JSON
    when it parses (``scale=2``, ``loop=true``, ``tags=["a"]``) and as text otherwise."""
    values: dict[str, Any] = {}
    if as_json_text:
        try:
            loaded = json.loads(as_json_text)
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--input-json") from exc
        if not isinstance(loaded, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--input-json")
        values.update(loaded)
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--input")
        try:
            values[key.strip()] = json.loads(raw)
        except ValueError:
            values[key.strip()] = raw
    return values


def drop_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


# Waiting and downloading --------------------------------------------------------------------


def wait_with_progress(generation: Generation, timeout: float | None, *, quiet: bool) -> None:
    """Follow the job's live events (the SDK's wait over SSE) with a Rich progress bar on
    stderr; no bar when ``quiet`` or when stderr is not a terminal."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )
    with progress:
        task = progress.add_task(
            generation.id, total=100, completed=generation.progress, status=generation.status
        )

        def on_progress(current: Generation) -> None:
            progress.update(task, completed=current.progress, status=current.status)

        generation.wait(timeout=timeout, on_progress=on_progress)
        progress.update(task, completed=generation.progress, status=generation.status)


def download_all(generation: Generation, target: Path | None) -> list[Path]:
    """Save every output. A file ``target`` gets the first output and ``stem-2.ext``… the others
    (each with its own extension: a music job's MIDI score is ``.mid``); a directory ``target``
    (default: the current one) gets ``<job id>.<ext>``, then ``<job id>-2.<ext>``…"""
    paths: list[Path] = []
    for index, output in enumerate(generation.outputs, start=1):
        path = _path_for(generation.id, output.url, output.content_type, target, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(output.download(path))
    return paths


def _path_for(job_id: str, url: str, content_type: str, target: Path | None, index: int) -> Path:
    import mimetypes
    from urllib.parse import urlparse

    suffix = Path(urlparse(url).path).suffix or mimetypes.guess_extension(content_type) or ""
    numbered = f"-{index}" if index > 1 else ""
    if target is None or target.is_dir() or str(target).endswith(os.sep):
        return (target or Path()) / f"{job_id}{numbered}{suffix}"
    if index == 1:
        return target
    return target.with_name(f"{target.stem}{numbered}{suffix or target.suffix}")


def finish(
    generation: Generation,
    *,
    output: Path | None,
    no_wait: bool,
    as_json: bool,
    timeout: float | None,
) -> None:
    """After a create (or for ``jobs wait``): print the id, or wait, download and report."""
    if no_wait:
        if as_json:
            print_json(generation.raw)
        else:
            typer.echo(generation.id)
        return
    wait_with_progress(generation, timeout, quiet=as_json)
    report(generation, output=output, as_json=as_json)


def report(generation: Generation, *, output: Path | None, as_json: bool) -> None:
    """A finished job: its files downloaded and listed; a failed or cancelled one exits 1."""
    files = [] if generation.status in ("failed", "cancelled") else download_all(generation, output)
    if as_json:
        print_json({**generation.raw, "files": [str(path) for path in files]})
    else:
        for path in files:
            typer.echo(str(path))
        err.print(f"{generation.id} {generation.status}", highlight=False)
    if generation.status in ("failed", "cancelled"):
        error = generation.error
        message = error.message if error else f"the job was {generation.status}"
        # The JSON document is already on stdout: only the message goes to stderr.
        fail(message, error_code=error.code if error else generation.status)


def print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2))


def create_and_finish(
    api_key: str | None,
    url: str | None,
    make: Callable[[Client], Generation],
    *,
    output: Path | None,
    no_wait: bool,
    as_json: bool,
    timeout: float | None,
) -> None:
    with connected(api_key, url, as_json=as_json) as client:
        generation = make(client)
        finish(generation, output=output, no_wait=no_wait, as_json=as_json, timeout=timeout)
