"""Image tools: milliseconds per megapixel of each operation on fixed synthetic inputs.

The inputs are drawn in code (``tests/engines/image_scenes.py``): a product shot on a studio
gradient for background removal, the transformations and the product presets, and a detailed
image (lines, checkerboard, text) for upscaling. Each figure is the median of ``--repeat`` runs
of the pure operation (no HTTP, no job, no file encoding), divided by the input's megapixels;
upscaling is also given per output megapixel.

    python benchmarks/engine_image_tools.py [--size 1024x768] [--repeat 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from common import DOCS, ROOT, cpu_model, write_section

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.engines.image_scenes import detailed, product_shot

from mediastudio.engines.builtin.image_tools import ops
from mediastudio.engines.builtin.image_tools.presets import PRESETS

SECTION_BEGIN = "<!-- BEGIN engine_image_tools (written by benchmarks/engine_image_tools.py) -->"
SECTION_END = "<!-- END engine_image_tools -->"


def median_ms(work: Callable[[], object], repeat: int) -> float:
    work()  # warm-up: first-call costs (OpenCV's thread pool, NumPy's allocator)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(width: int, height: int, repeat: int) -> list[tuple[str, str, float, float]]:
    """Rows of (operation, input, ms, ms per input Mpx)."""
    shot, _ = product_shot(width, height)
    megapixels = width * height / 1e6
    rows: list[tuple[str, str, float, float]] = []

    def add(name: str, source: str, work: Callable[[], object], mpx: float) -> None:
        ms = median_ms(work, repeat)
        rows.append((name, source, ms, ms / mpx))
        print(f"{name:28} {source:24} {ms:9.1f} ms  {ms / mpx:9.1f} ms/Mpx", flush=True)

    size = f"{width}x{height} product shot"
    add("remove-background", size, lambda: ops.remove_background(shot), megapixels)
    for transformation in ops.TRANSFORMATIONS:
        add(
            f"transform {transformation}",
            size,
            lambda t=transformation: ops.transform(shot, t, 0.7),
            megapixels,
        )
    for preset in PRESETS.values():
        add(f"preset {preset.id}", size, lambda p=preset: p.apply(shot), megapixels)
    small = detailed(width // 2, height // 2)
    small_mpx = small.width * small.height / 1e6
    for scale in (2, 4):
        source = f"{small.width}x{small.height} detailed"
        add(f"upscale x{scale}", source, lambda s=scale: ops.upscale(small, s), small_mpx)
    return rows


def document(rows: list[tuple[str, str, float, float]], args: argparse.Namespace) -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        SECTION_BEGIN,
        "## Image tools (`builtin/image-tools`)",
        "",
        "Milliseconds per megapixel of input for each operation of the image-tools engine, on",
        "fixed synthetic inputs drawn in code; the median of several runs of the pure operation",
        "(no HTTP, no job, no PNG encoding). Upscaling is per megapixel of *input*: its output",
        "is 4 or 16 times larger. The product presets (seed 004) include their cut-out and a",
        "square canvas of at least 800 or 1000 px.",
        "",
        f"- Command (repository root): `python benchmarks/engine_image_tools.py --size "
        f"{args.size} --repeat {args.repeat} --write-docs`",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}; "
        f"load average {load} at the end",
        "",
        "| operation | input | ms | ms / Mpx |",
        "| --- | --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {source} | {ms:.0f} | {per:.0f} |" for name, source, ms, per in rows]
    lines += ["", SECTION_END, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1024x768", help="product shot WxH (upscale: half)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.lower().split("x"))
    rows = measure(width, height, args.repeat)
    if args.write_docs:
        write_section(
            DOCS, SECTION_BEGIN, SECTION_END, document(rows, args), new_document="# Benchmarks\n"
        )
        print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
