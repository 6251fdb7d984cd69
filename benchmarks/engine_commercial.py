"""Commercial engine: seconds of compute per second of commercial, for a 15 s TikTok commercial.

    python benchmarks/engine_commercial.py [--resolutions 480p,720p] [--steps auto|builtin|fake]
                                           [--write-docs]

Runs ``builtin/commercial`` in-process (no HTTP, no database) on fixed inputs: "Acme Rocket
Shoes", tiktok (9:16), 15 s, tone energetic, two generated 1200x900 product photos, a written
script, seed 7. The steps run on the real built-in models (``builtin/espeak``,
``builtin/composer``, ``builtin/image-to-video``) when they are installed (``--steps auto``, the
default; each step separately), else on the test suite's fake engines, which make placeholder
media; the report says which. For each resolution it prints wall seconds, process CPU seconds
(all threads), wall seconds per output second, and the wall time of each part (the speech, music
and image-to-video steps, the still preparation, the mix and the final render with captions).
``--write-docs`` rewrites the "Commercial engine" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from common import DOCS, ROOT, cpu_model, write_section
from compositions import timed_parts
from mediastudio.engines.builtin.compositions import CompositionsEngine
from mediastudio.engines.builtin.compositions.commercial import Commercial, StepModels
from mediastudio.engines.inputs import CommercialInput
from mediastudio.engines.media.video import probe
from mediastudio.engines.registry import EngineRegistry
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher
from mediastudio.settings import load_settings

SECTION_BEGIN = "<!-- BEGIN engine_commercial (written by benchmarks/engine_commercial.py) -->"
SECTION_END = "<!-- END engine_commercial -->"
DURATION = 15
FAKE_STEPS = StepModels(speech="fake/speech", music="fake/music", video="fake/video")
PARTS = ("stills", "voice", "music", "mix", "shot", "render")


def product_photo(path: Path, hue: int) -> str:
    image = Image.new("RGB", (1200, 900), (240, 240, 236))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((330, 220, 870, 700), radius=80, fill=(hue, 60, 255 - hue))
    draw.ellipse((480, 330, 720, 570), fill=(250, 250, 250))
    image.save(path)
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def registry_and_steps(choice: str, data_dir: Path) -> tuple[EngineRegistry, StepModels, str]:
    """The registry, and per step the built-in model when installed (``auto``), else the fake."""
    sys.path.insert(0, str(ROOT))  # for tests.fakes
    settings = load_settings(
        data_dir=data_dir, bootstrap=False, engine_modules=["tests.fakes"], disabled_engines=[]
    )
    registry = EngineRegistry.discover(settings)
    real = StepModels()
    chosen: dict[str, str] = {}
    for step in ("speech", "music", "video"):
        builtin, fake = getattr(real, step), getattr(FAKE_STEPS, step)
        installed = registry.get(builtin) is not None
        if choice == "builtin" and not installed:
            raise SystemExit(f"{builtin} is not installed; use --steps auto or fake")
        chosen[step] = builtin if installed and choice != "fake" else fake
    steps = StepModels(**chosen)
    fakes = [model for model in steps.ids() if model.startswith("fake/")]
    used = ", ".join(f"`{model}`" for model in steps.ids())
    if fakes:
        used += " (`fake/*`: the test suite's placeholder engines, not installed built-ins)"
    return registry, steps, used


def measure(registry: EngineRegistry, steps: StepModels, resolution: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        images = [product_photo(work / f"p{i}.png", 60 + 120 * i) for i in range(2)]
        job = CommercialInput(
            product="Acme Rocket Shoes",
            platform="tiktok",
            duration=DURATION,
            tone="energetic",
            product_images=images,
            resolution=resolution,  # type: ignore[arg-type]
            seed=7,
        )
        composition = Commercial(steps)
        ctx = JobContext(
            generation_id="bench",
            model=composition.spec,
            input=job,
            sandbox=False,
            workdir=work,
            fetcher=SafeFetcher(work, NetPolicy()),
        )
        engine = CompositionsEngine(registry, [composition])
        with timed_parts() as spent:
            wall, cpu = time.perf_counter(), time.process_time()
            engine.run(ctx)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        info = probe(ctx.outputs[0].path)
    return {
        "resolution": resolution,
        "size": f"{info.width}x{info.height}",
        "seconds": info.duration_s,
        "wall": wall,
        "cpu": cpu,
        "parts": {part: spent.wall(part) for part in PARTS},  # overlapping steps once
    }


def table(rows: list[Mapping[str, Any]]) -> str:
    head = (
        "| resolution | frame | wall s | CPU s | wall s per output s | CPU s per output s | "
        + " | ".join(PARTS)
        + " |\n|"
        + "---|" * (6 + len(PARTS))
    )
    lines = [
        f"| {r['resolution']} | {r['size']} | {r['wall']:.1f} | {r['cpu']:.1f} | "
        f"{r['wall'] / r['seconds']:.2f} | {r['cpu'] / r['seconds']:.2f} | "
        + " | ".join(f"{r['parts'][p]:.2f}" for p in PARTS)
        + " |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def section(rows: list[Mapping[str, Any]], steps_used: str, command: str) -> str:
    return f"""{SECTION_BEGIN}
## Commercial engine

`builtin/commercial` on fixed inputs: a 15 s TikTok (9:16) commercial of "Acme Rocket Shoes",
tone energetic, two 1200x900 product photos, written script, 30 fps; steps on {steps_used}.
Columns after the first six: wall seconds spent in each part (`voice`, `music` and `shot` are the
speech, music and image-to-video steps; `render` decodes the shots, crossfades, draws the
captions and encodes the MP4).

{table(rows)}

Command: `{command}` on {cpu_model()}, {datetime.now(UTC):%Y-%m-%d}.
{SECTION_END}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", default="480p,720p", help="Comma-separated")
    parser.add_argument("--steps", choices=("auto", "builtin", "fake"), default="auto")
    parser.add_argument("--write-docs", action="store_true", help="Update docs/benchmarks.md")
    parser.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data_dir:
        registry, steps, steps_used = registry_and_steps(args.steps, Path(data_dir))
        rows = [measure(registry, steps, r.strip()) for r in args.resolutions.split(",")]
    print(f"steps: {steps_used}")
    print(table(rows))
    if args.write_docs:
        command = "python benchmarks/engine_commercial.py " + " ".join(
            arg for arg in (argv if argv is not None else sys.argv[1:])
        )
        write_section(
            args.docs,
            SECTION_BEGIN,
            SECTION_END,
            section(rows, steps_used, command.strip()),
            new_document="# Benchmarks\n",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
