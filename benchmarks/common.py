"""What the benchmark scripts share: paths, the create request they all measure, the machine's
CPU model, a free port, the ``mediastudio`` CLI in a clean environment, and writing one marked
section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks" / "results"

# The sandbox create every benchmark measures: one small image, so the figures compare.
CREATE_BODY: dict[str, Any] = {
    "prompt": "bench",
    "output_format": "png",
    "width": 256,
    "height": 256,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without ``MEDIASTUDIO_*`` (for reproducible figures), plus
    ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASTUDIO_")}
    env.update(extra)
    return env


def mediastudio_cli(args: list[str], env: dict[str, str]) -> str:
    """Run one ``mediastudio`` command; its stdout, or the error with its output."""
    command = [sys.executable, "-m", "mediastudio", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_section(path: Path, begin: str, end: str, text: str, *, new_document: str) -> None:
    """Replace the section between the ``begin`` and ``end`` markers with ``text`` (which carries
    the markers itself), or append it; other benchmarks' sections are left as they are."""
    document = path.read_text() if path.exists() else new_document
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(document):
        document = pattern.sub(lambda _: text, document, count=1)
    else:
        document = document.rstrip("\n") + "\n\n" + text
    path.write_text(document)
