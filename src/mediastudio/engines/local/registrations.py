"""Local models registered from folders already on disk (``mediastudio models pull <dir>``).

The registrations are a small JSON file in the data directory (``local-models.json``), not a
database table: the engine reads them while the registry is built, before any database is open
and without knowing one (engines know no database); the CLI writes them without migrating
anything; and an operator can read or fix them by hand. Writes are atomic (a temporary file
renamed over the old one) under an exclusive lock, so two ``pull`` commands at once cannot lose
one another's entry. The weights are never copied: a registration points at its folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediastudio.engines.local import piper_voices

FILE_NAME = "local-models.json"
ID_PREFIX = "local/"
DIFFUSERS = "diffusers"  # a diffusers pipeline folder (model_index.json + one folder a component)
DIFFUSERS_VIDEO = "diffusers-video"  # the same, of a video pipeline (text or image to video)
FASTER_WHISPER = "faster-whisper"  # a CTranslate2 Whisper folder (speech to text, whisper.py)
PIPER = "piper"  # Piper voices: <name>.onnx + <name>.onnx.json, one or several (piper_voices.py)
KINDS = (DIFFUSERS, DIFFUSERS_VIDEO, FASTER_WHISPER, PIPER)
# What faster-whisper reads from a model folder; without tokenizer.json it would download one.
WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json")
# Video pipelines whose class and VAE names do not say so (see is_video).
VIDEO_PIPELINES = frozenset(
    {"LTXPipeline", "AnimateDiffPipeline", "WanPipeline", "CogVideoXPipeline", "MochiPipeline"}
)
FLUX_SCHNELL_ALIAS = "flux-schnell"  # the catalog alias a FLUX.1-schnell folder serves
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# The component folders that hold a diffusion pipeline's denoiser (SD/SDXL: unet; FLUX/SD3:
# transformer): a pipeline without one is not an image generator this engine can run.
DENOISERS = ("unet", "transformer")
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class RegistrationError(ValueError):
    """A folder that cannot be registered, or an id that is not registered; the message says
    why and is shown to the operator as it is."""


@dataclass(frozen=True)
class LocalModel:
    id: str  # local/<folder name> (a folder of one Piper voice: local/<voice name>)
    path: str  # absolute
    kind: str  # what detect_kind found: one of KINDS
    # The pipeline class model_index.json names, e.g. StableDiffusionPipeline; "whisper" for a
    # faster-whisper folder, "PiperVoice" for Piper voices.
    pipeline: str
    registered_at: str
    # The catalog alias this model serves first (its provider routes take over when it fails):
    # ``models pull --serves flux-schnell``, or detected (a FLUX.1-schnell folder). None: only
    # ``local/<name>`` reaches it. Registrations written before the field load as None.
    serves: str | None = None

    @property
    def folder(self) -> Path:
        return Path(self.path)


def store_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def load(data_dir: Path) -> list[LocalModel]:
    """Every registration, in the order they were made; none when the file does not exist."""
    path = store_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise RegistrationError(f"{path} cannot be read: {exc}") from exc
    return [LocalModel(**entry) for entry in raw.get("models", [])]


def find(data_dir: Path, model_id: str) -> LocalModel | None:
    return next((model for model in load(data_dir) if model.id == model_id), None)


def register(
    data_dir: Path, folder: Path, *, serves: str | None = None, name: str | None = None
) -> LocalModel:
    """Register ``folder`` as ``local/<folder name>`` (``local/<name>`` when given: a hub
    download's folder is named for its owner too), serving the alias ``serves`` (else the one
    detected from the folder, if any). Registering the same folder again updates what it
    serves; another folder under a name already taken is refused (``models rm`` it first)."""
    folder = folder.expanduser().resolve()
    kind, pipeline = detect_kind(folder)
    if name is None:
        name = piper_voices.model_name(folder) if kind == PIPER else folder.name
    if not _NAME.fullmatch(name):
        raise RegistrationError(
            f"The folder name {name!r} cannot be a model id: use letters, digits, '.', '_' "
            "and '-' (rename the folder)."
        )
    model = LocalModel(
        id=ID_PREFIX + name,
        path=str(folder),
        kind=kind,
        pipeline=pipeline,
        registered_at=datetime.now(UTC).isoformat(timespec="seconds"),
        serves=serves or detect_serves(Path(name), pipeline),
    )
    with _locked(data_dir):
        models = load(data_dir)
        existing = next((m for m in models if m.id == model.id), None)
        if existing is not None:
            if existing.path == model.path:
                if existing.serves == model.serves:
                    return existing
                updated = replace(existing, serves=model.serves)
                _write(data_dir, [updated if m.id == model.id else m for m in models])
                return updated
            raise RegistrationError(
                f"{model.id} is already registered for {existing.path}; "
                f"`mediastudio models rm {model.id}` first."
            )
        _write(data_dir, [*models, model])
    return model


def serving(data_dir: Path, alias: str) -> list[LocalModel]:
    """The registrations that serve ``alias``, in the order they were made."""
    return [model for model in load(data_dir) if model.serves == alias]


def detect_serves(folder: Path, pipeline: str) -> str | None:
    """The alias a folder obviously is: a FLUX pipeline named for schnell (the Hugging Face
    snapshot ``black-forest-labs/FLUX.1-schnell``) serves ``flux-schnell``. FLUX.1-dev has the
    same pipeline class, so the name decides; anything else serves an alias only when told."""
    if pipeline == "FluxPipeline" and "schnell" in folder.name.lower():
        return FLUX_SCHNELL_ALIAS
    return None


def remove(data_dir: Path, model_id: str) -> LocalModel:
    """Forget a registration (the weights stay where they are)."""
    with _locked(data_dir):
        models = load(data_dir)
        found = next((m for m in models if m.id == model_id), None)
        if found is None:
            raise RegistrationError(f"No local model {model_id!r} is registered.")
        _write(data_dir, [m for m in models if m.id != model_id])
    return found


def detect_kind(folder: Path) -> tuple[str, str]:
    """What the files in ``folder`` are: ``(DIFFUSERS, pipeline class)`` for a diffusers image
    pipeline folder whose denoiser and VAE folders hold weights, ``(DIFFUSERS_VIDEO, …)`` for a
    video one, ``(FASTER_WHISPER, "whisper")`` for a CTranslate2 Whisper folder,
    ``(PIPER, "PiperVoice")`` for a folder of Piper voices. Anything else is refused with what
    was expected."""
    if not folder.is_dir():
        raise RegistrationError(f"{folder} is not a folder.")
    if is_whisper(folder):
        return whisper_kind(folder)
    if piper_voices.holds_voices(folder):
        try:
            piper_voices.read_voices(folder)
        except piper_voices.VoiceFolderError as exc:
            raise RegistrationError(str(exc)) from exc
        return PIPER, piper_voices.PIPELINE
    index = pipeline_index(folder)
    if index is None:
        raise RegistrationError(
            f"{folder} holds no model_index.json, no model.bin and no Piper voice: only diffusers "
            "pipeline folders (what `DiffusionPipeline.save_pretrained` or a Hugging Face "
            "snapshot writes), faster-whisper folders (Systran/faster-whisper-*) and Piper voices "
            "(<name>.onnx + <name>.onnx.json) can be registered."
        )
    pipeline = str(index.get("_class_name", ""))
    denoiser = next((name for name in DENOISERS if name in index), None)
    if not pipeline.endswith("Pipeline") or denoiser is None or "vae" not in index:
        raise RegistrationError(
            f"{folder}/model_index.json is not a diffusion pipeline "
            f"({pipeline or 'no _class_name'}): it needs a unet or transformer and a vae."
        )
    for component in (denoiser, "vae"):
        if not has_weights(folder / component):
            raise RegistrationError(
                f"{folder / component} holds no weights (*.safetensors or *.bin): "
                "download the whole pipeline, not only its configs."
            )
    return (DIFFUSERS_VIDEO if is_video(index) else DIFFUSERS), pipeline


def is_whisper(folder: Path) -> bool:
    """Whether ``folder`` looks like a CTranslate2 model (a model.bin beside its config.json
    and no diffusers index): a faster-whisper snapshot such as Systran/faster-whisper-small."""
    return (folder / "model.bin").is_file() and not (folder / "model_index.json").exists()


def whisper_kind(folder: Path) -> tuple[str, str]:
    """``(FASTER_WHISPER, "whisper")``, or why the folder is not a whole faster-whisper model:
    a missing file, or a config.json that is not a CTranslate2 Whisper's (its language ids)."""
    missing = [name for name in WHISPER_FILES if not (folder / name).is_file()]
    if missing:
        raise RegistrationError(
            f"{folder} holds a model.bin but not {', '.join(missing)}: a faster-whisper model "
            "folder needs model.bin, config.json and tokenizer.json (download the whole "
            "snapshot, e.g. Systran/faster-whisper-small)."
        )
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RegistrationError(f"{folder}/config.json cannot be read: {exc}") from exc
    if not isinstance(config, dict) or "lang_ids" not in config:
        raise RegistrationError(
            f"{folder}/config.json is not a CTranslate2 Whisper model's (it has no lang_ids): "
            "convert Whisper with ct2-transformers-converter, or download a faster-whisper "
            "snapshot."
        )
    return FASTER_WHISPER, "whisper"


def is_video(index: dict[str, Any]) -> bool:
    """Whether model_index.json describes a video pipeline: its class or its VAE's says so
    (``LTXImageToVideoPipeline``, ``AutoencoderKLLTXVideo``, SVD's
    ``AutoencoderKLTemporalDecoder``), or it is one of :data:`VIDEO_PIPELINES`."""
    pipeline = str(index.get("_class_name", ""))
    vae = index.get("vae")
    vae_class = str(vae[1]) if isinstance(vae, list) and len(vae) == 2 else ""
    return (
        pipeline in VIDEO_PIPELINES
        or "Video" in pipeline
        or any(word in vae_class for word in ("Video", "Temporal"))
    )


def pipeline_index(folder: Path) -> dict[str, Any] | None:
    """model_index.json of a diffusers pipeline folder, or None when there is none."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return index if isinstance(index, dict) else None


def has_weights(component: Path) -> bool:
    return component.is_dir() and any(
        entry.name.endswith(WEIGHT_SUFFIXES) for entry in component.iterdir()
    )


def weight_bytes(folder: Path) -> int:
    """The size of every weight file in the pipeline folder: what loading it will roughly
    take in memory at the precision it was saved in."""
    return sum(
        path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file() and path.name.endswith(WEIGHT_SUFFIXES)
    )


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / f".{FILE_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(data_dir: Path, models: list[LocalModel]) -> None:
    path = store_path(data_dir)
    temporary = path.with_name(f".{FILE_NAME}.tmp")
    body = {"models": [asdict(model) for model in models]}
    temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
