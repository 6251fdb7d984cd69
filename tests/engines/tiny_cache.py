"""Each tiny model is built once per test session and copied to wherever a test asks for it.

Building a tiny model is cheap once torch, diffusers and transformers are imported, but
importing them costs seconds per process (tens of seconds on a busy machine), and a voice or a
Whisper model does not need torch to *run*: only to be built. With pytest-xdist every worker
that reached a module with a tiny model used to import them and build it again. Now the first
process to ask builds the model into a folder shared by the session's workers (the parent of
each worker's base temporary folder, as pytest-xdist's documentation does it), under a file lock
so that two workers never build the same one at once, and every caller gets its own copy of the
result at the path it asked for, as if it had built it there: a test may still change or delete
its copy. The builds are seeded, so a copy is the same bytes a build there would have written.

The key is the builder's name, its arguments, the target folder's name and a hash of the
builders' source files, so a changed builder never hands out a stale model (the folder lives
only as long as the session's temporary directory anyway).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

_root: Path | None = None


def configure(factory: Any) -> None:
    """Pick the session's shared folder (``factory``: pytest's TempPathFactory). Called once per
    process from tests/conftest.py; without it each build runs where it was asked for."""
    global _root
    base: Path = factory.getbasetemp()
    # Under xdist each worker's base is <session>/popen-gwN: the session folder is shared.
    _root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "tiny-models"
    _root.mkdir(parents=True, exist_ok=True)


def _source_hash() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in ("tiny_cache.py", "tiny_diffusion.py", "tiny_piper.py", "tiny_whisper.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def cached(folder: Path, build: Callable[[Path], object], **arguments: Any) -> Path:
    """``build(target)`` writes a model into ``target``; write the same into ``folder`` (merged
    into what it already holds), building it at most once per session."""
    if _root is None:
        build(folder)
        return folder
    from filelock import FileLock

    builder = f"{build.__module__}.{build.__qualname__}"
    described = f"{_source_hash()}|{builder}|{folder.name}|{sorted(arguments.items())!r}"
    key = hashlib.sha256(described.encode()).hexdigest()[:24]
    entry = _root / key
    done = entry / ".complete"
    with FileLock(str(_root / f"{key}.lock")):
        if not done.exists():
            if entry.exists():
                shutil.rmtree(entry)  # a build that was interrupted
            build(entry / folder.name)
            done.touch()
    shutil.copytree(entry / folder.name, folder, dirs_exist_ok=True)
    return folder
