"""Video tools: seconds of compute per second of output video at 720p, for each tool.

Runs the ``video-tools`` engine in-process on fixed, generated inputs (a 1920x1080 still; a
1280x720, 30 fps video with a tone) and times each job from fetch (a ``data:`` URI) to the
finished MP4: wall-clock seconds and process CPU seconds (all threads, x264's included) per
second of output. Each case runs ``--rounds`` times; the best round is reported.

    python benchmarks/engine_video_tools.py [--rounds 2] [--write-docs]
"""

from __future__ import annotations

import argparse
import base64
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel

from common import DOCS, cpu_model, write_section
from mediastudio.engines.builtin.video_tools import (
    image_to_video,
    social,
    subtitles,
)
from mediastudio.engines.builtin.video_tools.engine import VideoToolsEngine
from mediastudio.engines.contract import ModelSpec
from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher

SECTION_BEGIN = "<!-- BEGIN engine_video_tools (written by benchmarks/engine_video_tools.py) -->"
SECTION_END = "<!-- END engine_video_tools -->"
SECONDS = 5
SOURCE_FPS = 30


@dataclass(frozen=True)
class Case:
    name: str
    spec: ModelSpec
    make_input: Callable[[dict[str, str]], BaseModel]
    note: str


@dataclass(frozen=True)
class Result:
    case: Case
    output_seconds: float
    sizes: str
    wall_s: float
    cpu_s: float

    @property
    def wall_per_second(self) -> float:
        return self.wall_s / self.output_seconds

    @property
    def cpu_per_second(self) -> float:
        return self.cpu_s / self.output_seconds


def uri(path: Path, content_type: str) -> str:
    return f"data:{content_type};base64," + base64.b64encode(path.read_bytes()).decode()


def make_inputs(folder: Path) -> dict[str, str]:
    """A 1920x1080 still and a 1280x720 30 fps video with a moving pattern and a tone."""
    y, x = np.mgrid[0:1080, 0:1920]
    rng = np.random.default_rng(0)
    still = np.stack([x * 255 // 1920, y * 255 // 1080, (x + y) * 255 // 3000], axis=-1)
    still = (still + rng.integers(0, 40, still.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(still).save(folder / "still.png")
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(SECONDS * AUDIO_RATE) / AUDIO_RATE)
    vy, vx = np.mgrid[0:720, 0:1280]
    with VideoWriter(
        folder / "source.mp4", 1280, 720, fps=SOURCE_FPS, audio=tone.astype(np.float32)
    ) as writer:
        for index in range(SECONDS * SOURCE_FPS):
            shift = index * 8
            frame = np.stack(
                [(vx + shift) % 256, vy * 255 // 720, (vx // 4 + vy // 4 + shift) % 256], -1
            )
            writer.write(frame.astype(np.uint8))
    srt = "\n".join(
        f"{n + 1}\n00:00:{n:02d},000 --> 00:00:{n:02d},900\nCaption number {n + 1}, "
        "a line long enough to wrap on a narrow frame\n"
        for n in range(SECONDS)
    )
    return {
        "still": uri(folder / "still.png", "image/png"),
        "video": uri(folder / "source.mp4", "video/mp4"),
        "srt": srt,
    }


CASES = [
    Case(
        "image to video",
        image_to_video.SPEC,
        lambda i: image_to_video.ImageToVideoInput(
            first_frame_image=i["still"], duration=SECONDS, fps=30
        ),
        "1920x1080 still → 1280x720, 30 fps, zoom-in, silent AAC",
    ),
    Case(
        "subtitles",
        subtitles.SPEC,
        lambda i: subtitles.SubtitlesInput(video_url=i["video"], subtitles=i["srt"]),
        "1280x720 30 fps video with sound → same, one cue per second",
    ),
    Case(
        "social variants, 1 platform",
        social.SPEC,
        lambda i: social.SocialVariantsInput(source_url=i["video"], platforms=["tiktok"]),
        "1280x720 video → tiktok 720x1280, blurred background, sound kept",
    ),
    Case(
        "social variants, 5 platforms",
        social.SPEC,
        lambda i: social.SocialVariantsInput(
            source_url=i["video"],
            platforms=["instagram", "tiktok", "youtube-shorts", "twitter", "linkedin"],
        ),
        "1280x720 video → all five (decoded once); per second of all outputs together",
    ),
    Case(
        "social variants from an image",
        social.SPEC,
        lambda i: social.SocialVariantsInput(source_url=i["still"], platforms=["twitter"]),
        "1920x1080 still → twitter 1280x720, 5 s gentle zoom",
    ),
]


def measure(case: Case, inputs: dict[str, str], rounds: int) -> Result:
    engine = VideoToolsEngine()
    best: Result | None = None
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as workdir:
            ctx = JobContext(
                generation_id="gen_bench",
                model=case.spec,
                input=case.make_input(inputs),
                sandbox=False,
                workdir=Path(workdir),
                fetcher=SafeFetcher(Path(workdir), NetPolicy()),
            )
            wall, cpu = time.perf_counter(), time.process_time()
            engine.run(ctx)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            seconds = sum(output.duration_s or 0 for output in ctx.outputs)
            sizes = ", ".join(sorted({f"{o.width}x{o.height}" for o in ctx.outputs}))
            result = Result(case, seconds, sizes, wall, cpu)
            if best is None or result.wall_s < best.wall_s:
                best = result
    assert best is not None
    return best


def section(results: list[Result], command: str) -> str:
    rows = "\n".join(
        f"| {r.case.name} | {r.sizes} | {r.output_seconds:g} | {r.wall_per_second:.2f} "
        f"| {r.cpu_per_second:.2f} | {r.case.note} |"
        for r in results
    )
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"""{SECTION_BEGIN}
## Video tools (builtin `video-tools` engine)

Seconds of compute per second of output video, at 720p, each tool run in-process on fixed
generated inputs (fetch of a `data:` URI, decode, render, H.264 `veryfast` CRF 23 on 2 x264
threads + AAC, mux). Wall is elapsed time; CPU is the process's CPU time over all its threads.
Best of the rounds. Below 1.0 is faster than real time.

- Command (repository root): `{command}`
- Date: {date}
- Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {sys.version.split()[0]}; load average
  {load} at the end (the machine is shared: figures move from run to run)

| Tool | Output size | Output s | Wall s per output s | CPU s per output s | Input |
|---|---|---|---|---|---|
{rows}
{SECTION_END}
"""


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="Runs per case (best is kept)")
    parser.add_argument("--write-docs", action="store_true", help=f"Update {DOCS.name}")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "benchmarks/engine_video_tools.py", *argv])
    with tempfile.TemporaryDirectory() as folder:
        inputs = make_inputs(Path(folder))
        results = []
        for case in CASES:
            result = measure(case, inputs, max(1, args.rounds))
            results.append(result)
            print(
                f"{case.name:32s} {result.sizes:40s} {result.output_seconds:5g} s out  "
                f"wall {result.wall_per_second:.2f} s/s  cpu {result.cpu_per_second:.2f} s/s",
                flush=True,
            )
    if args.write_docs:
        text = section(results, command)
        write_section(DOCS, SECTION_BEGIN, SECTION_END, text, new_document="# Benchmarks\n")
        print(f"wrote {DOCS}")


if __name__ == "__main__":
    main(sys.argv[1:])
