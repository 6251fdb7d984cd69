"""Image tools: peak memory of one job per operation, against the budget's estimate.

Each operation runs as the engine runs it (fetch, decode, operate, encode the PNG output) in a
fresh child process on a large synthetic photo (a red box on a light backdrop, drawn row by row
so that the parent never holds it); the child reports its peak resident memory above what it
held before the job. The estimate is what the image tools' budget charges the same job
(``DECODE_BYTES_PER_PIXEL`` per decoded pixel plus the operation's own cost per pixel worked
on), so the table shows the margin and the largest photo each operation takes under the default
``MEDIASTUDIO_IMAGE_MEMORY_BYTES``.

    python benchmarks/image_memory.py [--size 5000x4000] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import DOCS, ROOT, cpu_model, write_section

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.engines.image_scenes import large_png

from mediastudio.engines.builtin.image_tools import ops
from mediastudio.engines.builtin.image_tools.engine import (
    MODELS,
    ImageToolsEngine,
    RemoveBackgroundInput,
    TransformInput,
    UpscaleInput,
)
from mediastudio.engines.builtin.image_tools.presets import PRESETS
from mediastudio.engines.builtin.image_tools.product import ProductEnhanceInput, ProductItem
from mediastudio.engines.builtin.image_tools.source import DEFAULT_MEMORY_BYTES, JobMemory
from mediastudio.engines.media.images import DECODE_BYTES_PER_PIXEL, MAX_INPUT_PIXELS
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher

SECTION_BEGIN = "<!-- BEGIN image_memory (written by benchmarks/image_memory.py) -->"
SECTION_END = "<!-- END image_memory -->"
SPECS = {spec.id: spec for spec in MODELS}
UNBOUNDED = JobMemory(1 << 50)  # measure, never refuse


def operations() -> list[str]:
    names = ["remove-background", "upscale x2", "upscale x4"]
    names += [f"transform {name}" for name in ops.TRANSFORMATIONS]
    return names + [f"preset {preset}" for preset in PRESETS]


def job_input(operation: str, url: str) -> tuple[str, Any]:
    if operation == "remove-background":
        return "builtin/remove-background", RemoveBackgroundInput(image_url=url)
    if operation.startswith("upscale"):
        return "builtin/upscale", UpscaleInput(image_url=url, scale=int(operation[-1]))
    kind, name = operation.split(" ")
    if kind == "transform":
        return "builtin/image-transform", TransformInput(image_url=url, transformation=name)
    items = [ProductItem(image_url=url)]
    return "builtin/product-enhance", ProductEnhanceInput(preset=name, items=items)


def input_size(operation: str, width: int, height: int) -> tuple[int, int]:
    """Upscaling is capped by its output: it gets the largest input it accepts."""
    if not operation.startswith("upscale"):
        return width, height
    scale = int(operation[-1])
    side = int((ops.UPSCALE_MAX_OUTPUT_PIXELS // scale**2) ** 0.5)
    return side, side * height // width


def estimate(operation: str, width: int, height: int) -> int:
    """What the budget charges: decoded pixels plus the operation's working pixels."""
    pixels = width * height
    if operation == "remove-background":
        work, working = ops.REMOVE_BACKGROUND_BYTES_PER_PIXEL, pixels
    elif operation.startswith("upscale"):
        work, working = ops.UPSCALE_BYTES_PER_OUTPUT_PIXEL * int(operation[-1]) ** 2, pixels
    elif operation.startswith("transform"):
        work, working = ops.TRANSFORM_BYTES_PER_PIXEL[operation.split(" ")[1]], pixels
    else:
        preset = PRESETS[operation.split(" ")[1]]
        side = preset.max_side or max(width, height)
        scale = min(1.0, side / max(width, height))
        work, working = preset.work_bytes_per_pixel, round(width * scale) * round(height * scale)
    return DECODE_BYTES_PER_PIXEL * pixels + work * working


def largest_accepted(operation: str, width: int, height: int) -> float:
    """The largest photo of this shape (in Mpx) the default budget accepts, within the decode
    cap (upscaling: its output cap)."""
    cap = MAX_INPUT_PIXELS
    if operation.startswith("upscale"):
        cap = ops.UPSCALE_MAX_OUTPUT_PIXELS // int(operation[-1]) ** 2
    low, high = 0.0, (cap / (width * height)) ** 0.5
    if estimate(operation, int(width * high), int(height * high)) <= DEFAULT_MEMORY_BYTES:
        return int(width * high) * int(height * high) / 1e6
    for _ in range(40):
        middle = (low + high) / 2
        fits = estimate(operation, int(width * middle), int(height * middle))
        low, high = (middle, high) if fits <= DEFAULT_MEMORY_BYTES else (low, middle)
    return int(width * low) * int(height * low) / 1e6


def child(operation: str, path: Path) -> None:
    """Run one job on ``path`` and print its peak memory above the baseline (in the child)."""
    model_id, validated = job_input(operation, f"file://{path}")
    workdir = Path(tempfile.mkdtemp())
    ctx = JobContext(
        generation_id="gen_bench",
        model=SPECS[model_id],
        input=validated,
        sandbox=False,
        workdir=workdir,
        fetcher=LocalFetcher(path),
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ImageToolsEngine(UNBOUNDED).run(ctx)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert ctx.outputs and not ctx.failures, ctx.failures
    print(json.dumps({"peak_bytes": (peak - before) * 1024}))


class LocalFetcher(SafeFetcher):
    """The input is already on disk: no data: URI copy of 40 Mpx in the child's memory."""

    def __init__(self, path: Path) -> None:
        super().__init__(path.parent, NetPolicy())
        self.path = path

    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        return self.path


def measure(width: int, height: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for operation in operations():
            w, h = input_size(operation, width, height)
            path = Path(scratch) / f"{w}x{h}.png"
            if not path.exists():
                box = (w // 3, h // 4, 2 * w // 3, 3 * h // 4)
                path.write_bytes(large_png(w, h, box=box))
            result = subprocess.run(
                [sys.executable, __file__, "--child", operation, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            peak = json.loads(result.stdout.strip().splitlines()[-1])["peak_bytes"]
            guess = estimate(operation, w, h)
            largest = largest_accepted(operation, w, h)
            row = {"operation": operation, "size": f"{w}x{h}", "peak": peak, "estimate": guess}
            rows.append({**row, "largest_mpx": largest})
            print(
                f"{operation:45} {w}x{h}  peak {peak / 2**20:7.0f} MiB  "
                f"estimate {guess / 2**20:7.0f} MiB  largest at default {largest:5.1f} Mpx",
                flush=True,
            )
    return rows


def document(rows: list[dict[str, Any]]) -> str:
    mib = 2**20
    lines = [
        SECTION_BEGIN,
        "## Image tools: memory per job",
        "",
        f"`python benchmarks/image_memory.py` on {datetime.now(UTC):%Y-%m-%d}, "
        f"{cpu_model()}, Python {platform.python_version()}, {os.cpu_count()} CPUs. Each row is"
        " one job in a fresh process (decode, operation, PNG encode): its peak resident memory"
        " above the process's baseline, and what the budget charges it before decoding. The"
        " last column is the largest photo of that shape the operation accepts under the default"
        f" budget (`MEDIASTUDIO_IMAGE_MEMORY_BYTES` = {DEFAULT_MEMORY_BYTES // mib:,} MiB),"
        " within the 40 Mpx decode cap (upscaling: its 16.7 Mpx output cap).",
        "",
        "| operation | input | peak | budget's estimate | largest accepted |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['operation']} | {row['size']} | {row['peak'] / mib:,.0f} MiB "
            f"| {row['estimate'] / mib:,.0f} MiB | {row['largest_mpx']:.1f} Mpx |"
        )
    lines += [SECTION_END, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="5000x4000")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("OPERATION", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    width, height = (int(part) for part in args.size.split("x"))
    rows = measure(width, height)
    if args.write_docs:
        write_section(DOCS, SECTION_BEGIN, SECTION_END, document(rows), new_document="")


if __name__ == "__main__":
    main()
