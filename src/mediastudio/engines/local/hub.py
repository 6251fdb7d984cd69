"""Downloading a model from the Hugging Face Hub for ``mediastudio models pull owner/name``.

``huggingface_hub`` does the transfer (its ``snapshot_download``: parallel files, a progress bar,
``HF_TOKEN`` and ``HF_ENDPOINT`` from the environment, and resuming: files already complete are
not fetched again, a partial one continues where it stopped). This module decides *which* files
a pipeline needs, where they go, and turns the hub's errors into one line an operator can act
on. The download lands in ``<data dir>/models/<owner>--<name>`` unless a complete copy is
already in the Hugging Face cache (``HF_HOME``), which is then used where it is; registering
the folder is :mod:`registrations`' job, as for any folder on disk.

``huggingface_hub`` is imported inside the functions: it comes with the ``[local]`` extra, and
the CLI must start without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MODELS_FOLDER = "models"  # under the data directory
EXTRA_HINT = "pip install 'mediastudio[local]'"
# owner/name, optionally @revision (a branch, tag or commit): the hub's own id rules, loosely.
_HUB_ID = re.compile(
    r"(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95})"
    r"(?:@(?P<revision>[A-Za-z0-9][A-Za-z0-9._/-]{0,199}))?"
)
WEIGHT_FORMATS = (".safetensors", ".bin")
# Weights of other frameworks or formats than the ones diffusers and transformers load here, and
# pictures of the model card: never needed to run the model.
SKIPPED_SUFFIXES = (
    ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".onnx_data", ".pb", ".tflite", ".ot",
    ".gguf", ".mlmodel", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4",
)  # fmt: skip
ONNX_SUFFIXES = (".onnx", ".onnx_data")
# diffusion_pytorch_model.fp16.safetensors, model.fp16-00001-of-00002.safetensors
_VARIANT_WEIGHT = re.compile(r"[^.]+\.(?P<variant>\w+)(?:-\d{5}-of-\d{5})?\.(?:safetensors|bin)")
# diffusion_pytorch_model.safetensors.index.fp16.json
_VARIANT_INDEX = re.compile(r"[^.]+\.(?:safetensors|bin)\.index\.(?P<variant>\w+)\.json")
# diffusion_pytorch_model.safetensors.index.json
_INDEX = re.compile(r"[^.]+\.(?P<format>safetensors|bin)\.index\.json")


class HubError(Exception):
    """A pull that failed: the message is one line, shown to the operator as it is."""


@dataclass(frozen=True)
class HubId:
    repo_id: str  # owner/name
    revision: str | None  # None: the default branch

    @property
    def name(self) -> str:
        """What the model is registered as: ``local/<name>``."""
        return self.repo_id.split("/", 1)[1]

    @property
    def folder_name(self) -> str:
        """The download's folder under ``<data dir>/models``: the owner keeps two owners' models
        of one name apart; a pinned revision gets a folder of its own."""
        folder = self.repo_id.replace("/", "--")
        if self.revision is not None:
            folder += "--" + re.sub(r"[^A-Za-z0-9._-]", "-", self.revision)
        return folder

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def parse_hub_id(argument: str) -> HubId | None:
    """``owner/name[@revision]`` as a :class:`HubId`, or None when the argument is not one."""
    match = _HUB_ID.fullmatch(argument)
    if match is None or ".." in argument:
        return None
    return HubId(match["repo"], match["revision"])


@dataclass(frozen=True)
class Download:
    folder: Path  # the complete snapshot, ready to register
    files: int
    bytes: int
    reused: bool  # found complete in the Hugging Face cache: nothing was downloaded


def select_files(paths: Iterable[str], variant: str | None = None) -> list[str]:
    """The files of a repository that running it needs.

    Skipped: other frameworks' weights and pictures (:data:`SKIPPED_SUFFIXES`; ONNX files only
    in a diffusers repository: elsewhere they may be the model, a Piper voice); in a diffusers
    repository (one with ``model_index.json``), the single-file checkpoints at its root (its
    components' folders hold the same weights). In each folder, one set of weights: those of
    ``variant`` where the folder has them (``*.fp16.safetensors``), else the plain ones, and
    safetensors rather than pickled ``.bin`` where both exist. Configs and tokenizer files are
    all kept."""
    paths = list(paths)
    diffusers = "model_index.json" in paths
    # A Piper voice *is* an ONNX file: only a diffusers repository's ONNX exports are skipped.
    skipped = SKIPPED_SUFFIXES if diffusers else tuple(set(SKIPPED_SUFFIXES) - set(ONNX_SUFFIXES))
    kept = [path for path in paths if not path.lower().endswith(skipped)]
    by_folder: dict[PurePosixPath, list[str]] = {}
    for path in kept:
        parent = PurePosixPath(path).parent
        if diffusers and parent == PurePosixPath(".") and _weight_key(path) is not None:
            continue
        by_folder.setdefault(parent, []).append(path)
    selected: list[str] = []
    for files in by_folder.values():
        weights = {path: key for path in files if (key := _weight_key(path)) is not None}
        selected += [path for path in files if path not in weights]
        if not weights:
            continue
        variants = {key[0] for key in weights.values()}
        chosen_variant = variant if variant in variants else None
        if chosen_variant not in variants:  # only other variants: keep them all, as they are
            selected += list(weights)
            continue
        formats = {fmt for var, fmt in weights.values() if var == chosen_variant}
        chosen_format = ".safetensors" if ".safetensors" in formats else ".bin"
        selected += [p for p, key in weights.items() if key == (chosen_variant, chosen_format)]
    return sorted(selected)


def variant_of(name: str) -> str | None:
    """The variant a weight file's name says (``fp16`` of ``model.fp16.safetensors``), or None."""
    key = _weight_key(name)
    return key[0] if key is not None else None


def _weight_key(path: str) -> tuple[str | None, str] | None:
    """(variant or None, format) of a weight file or weight index; None for any other file."""
    name = PurePosixPath(path).name
    if match := _VARIANT_INDEX.fullmatch(name):
        return match["variant"], ".safetensors" if ".safetensors." in name else ".bin"
    if match := _INDEX.fullmatch(name):
        return None, "." + match["format"]
    if not name.endswith(WEIGHT_FORMATS):
        return None
    fmt = ".safetensors" if name.endswith(".safetensors") else ".bin"
    if match := _VARIANT_WEIGHT.fullmatch(name):
        return match["variant"], fmt
    return None, fmt


def download(
    hub_id: HubId, data_dir: Path, *, variant: str | None = None, use_hf_cache: bool = False
) -> Download:
    """Fetch what :func:`select_files` picks of ``hub_id`` and return the complete folder.

    A copy already complete in the Hugging Face cache is used where it is. Otherwise the files
    go to ``<data_dir>/models/<owner>--<name>``, or into the Hugging Face cache with
    ``use_hf_cache`` (shared with other tools there). Raises :class:`HubError`; whatever was
    downloaded stays, so running the pull again resumes it."""
    try:
        from huggingface_hub import HfApi, snapshot_download
    except ImportError as exc:
        raise HubError(f"huggingface_hub is not installed: {EXTRA_HINT}") from exc

    with _hub_errors(hub_id):
        info = HfApi().model_info(hub_id.repo_id, revision=hub_id.revision, files_metadata=True)
        siblings = info.siblings or []
        commit = info.sha
        if commit is None:
            raise HubError(f"The hub named no commit for {hub_id}.")
        sizes = {sibling.rfilename: sibling.size or 0 for sibling in siblings}
        files = select_files(sizes, variant)
        if not files:
            raise HubError(f"{hub_id} holds no files that a model needs.")
        total = sum(sizes[path] for path in files)
        cached = _cached_snapshot(hub_id.repo_id, commit, files)
        if cached is not None:
            return Download(cached, len(files), total, reused=True)
        local_dir = None if use_hf_cache else data_dir / MODELS_FOLDER / hub_id.folder_name
        folder = snapshot_download(
            hub_id.repo_id, revision=commit, allow_patterns=files, local_dir=local_dir
        )
    return Download(Path(folder), len(files), total, reused=False)


def _cached_snapshot(repo_id: str, commit: str, files: list[str]) -> Path | None:
    """The snapshot folder of ``commit`` in the Hugging Face cache when every one of ``files``
    is there, else None."""
    from huggingface_hub import try_to_load_from_cache

    found: Path | None = None
    for path in files:
        cached = try_to_load_from_cache(repo_id, path, revision=commit)
        if not isinstance(cached, str):
            return None
        found = Path(cached).parents[len(PurePosixPath(path).parts) - 1]
    return found


@contextmanager
def _hub_errors(hub_id: HubId) -> Iterator[None]:
    """Turns what huggingface_hub (or its HTTP client) raises into a one-line HubError."""
    try:
        yield
    except HubError:
        raise
    except Exception as exc:
        raise HubError(describe(hub_id, exc)) from exc


def describe(hub_id: HubId, exc: Exception) -> str:
    """One line saying why the hub refused or could not be reached, and what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo = hub_id.repo_id
    if isinstance(exc, GatedRepoError):
        return (
            f"{repo} is gated: accept its conditions at {constants.ENDPOINT}/{repo} and set "
            "HF_TOKEN to a token of that account."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return (
            f"{repo} was not found on the Hugging Face Hub ({constants.ENDPOINT}); if it is "
            "private, set HF_TOKEN to a token that can read it."
        )
    if isinstance(exc, RevisionNotFoundError):
        return f"{repo} has no revision {hub_id.revision!r}."
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return (
            f"The Hugging Face Hub answered {exc.response.status_code} for {hub_id}: "
            f"{_first_line(exc)}. Run the command again to resume."
        )
    if isinstance(exc, LocalEntryNotFoundError) or _is_transport_error(exc):
        return (
            f"The Hugging Face Hub ({constants.ENDPOINT}) could not be reached: "
            f"{_first_line(exc)}. Run the command again to resume."
        )
    if isinstance(exc, OSError):
        return f"Downloading {hub_id} failed: {_first_line(exc)}. Run the command again to resume."
    return f"Downloading {hub_id} failed: {type(exc).__name__}: {_first_line(exc)}"


def _is_transport_error(exc: Exception) -> bool:
    # The HTTP client's own errors (httpx2, httpx or requests, whichever this huggingface_hub
    # uses): matched by module so that no client is imported here.
    return type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "requests", "urllib3"}


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(exc).__name__
