"""A small real volume (a tmpfs) to run out of space on, and a way to fill it.

Mounting needs root: tests that use :func:`small_volume` are skipped otherwise (and where the
kernel refuses the mount, e.g. in a container without the capability).
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MIB = 1024 * 1024
_CHUNK = b"\xff" * (64 * 1024)


@contextmanager
def small_volume(mount_point: Path, size_mib: int = 8) -> Iterator[Path]:
    """A fresh tmpfs of ``size_mib`` MiB mounted at ``mount_point`` for the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(mount_point)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        # Lazy: a file a test left open must not keep the volume (and the test) hanging.
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(volume: Path, *, leave: int = 0) -> Path:
    """Fill ``volume`` with one file until the kernel says ENOSPC, then give back about
    ``leave`` bytes. Returns the filler (delete it to free the space)."""
    filler = volume / f"filler-{len(list(volume.glob('filler-*')))}"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(_CHUNK)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
