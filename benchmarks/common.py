"""What the benchmark scripts share: paths, the create request they all measure, the machine's
CPU model, and writing one marked section of docs/benchmarks.md."""

from __future__ import annotations

import platform
import re
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
