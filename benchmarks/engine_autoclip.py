"""Auto-clip engine: analysis seconds per minute of source, and compute seconds per output second.

    python benchmarks/engine_autoclip.py [--seconds 60] [--write-docs]

Makes a fixed synthetic 1280x720, 24 fps source with sound (``--seconds`` long: shots of 7.5 s in
different colours over a noise texture, a moving box, a drawn face in every other shot, loud
stretches), then runs the ``builtin/auto-clip`` engine on it in this process, directly (no API):
``max_clips`` 3, clips 5-15 s, once for 16:9 (1280x720 clips: "720p") and once for 9:16
(404x720 crops). Each run is split where the engine reports the end of its analysis: wall and
CPU seconds (process CPU, all threads) of the analysis pass (decode, shots, motion, faces, sound,
scoring) per minute of source, and of the cutting, reframing and encoding per output second.
With ``--write-docs`` it rewrites its section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from common import DOCS, cpu_model, write_section
from mediastudio.engines.builtin.video_tools import autoclip
from mediastudio.engines.builtin.video_tools.clip_input import AutoClipInput
from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from mediastudio.runtime.context import JobContext

SECTION_BEGIN = "<!-- BEGIN engine_autoclip (written by benchmarks/engine_autoclip.py) -->"
SECTION_END = "<!-- END engine_autoclip -->"
WIDTH, HEIGHT, FPS, SHOT_S = 1280, 720, 24, 7.5


def make_source(path: Path, seconds: float) -> Path:
    rng = np.random.default_rng(1234)
    texture = rng.integers(0, 40, (HEIGHT, WIDTH, 1), dtype=np.uint8)
    shots = int(np.ceil(seconds / SHOT_S))
    colours = rng.integers(30, 200, (shots, 3))
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    level = np.where((t // SHOT_S) % 3 == 1, 0.4, 0.03)
    audio = (level * (np.sin(2 * np.pi * 220 * t) + rng.normal(0, 0.3, len(t)))).astype(np.float32)
    with VideoWriter(path, WIDTH, HEIGHT, fps=FPS, audio=audio) as out:
        for n in range(int(seconds * FPS)):
            now = n / FPS
            shot = int(now // SHOT_S)
            frame = (colours[shot][None, None, :] + texture).clip(0, 255).astype(np.uint8)
            speed = 4.0 if shot % 3 == 1 else 0.6
            x = int((np.sin(now * speed) * 0.5 + 0.5) * (WIDTH - 200))
            cv2.rectangle(frame, (x, 500), (x + 200, 650), (245, 245, 245), -1)
            if shot % 2 == 0:
                _face(frame, (900, 300), 220)
            out.write(frame)
    return path


def _face(frame: np.ndarray, centre: tuple[int, int], s: int) -> None:
    def oval(x: int, y: int, ax: float, ay: float, colour: tuple[int, int, int]) -> None:
        cv2.ellipse(frame, (x, y), (int(s * ax), int(s * ay)), 0, 0, 360, colour, -1)

    cx, cy = centre
    oval(cx, cy, 0.42, 0.55, (225, 195, 170))
    for side in (-1, 1):
        ex, ey = cx + side * int(s * 0.18), cy - int(s * 0.12)
        oval(ex, ey - int(s * 0.09), 0.11, 0.03, (70, 60, 55))
        oval(ex, ey, 0.09, 0.045, (50, 45, 45))
    oval(cx, cy + int(s * 0.12), 0.06, 0.03, (150, 120, 105))
    oval(cx, cy + int(s * 0.28), 0.15, 0.04, (90, 50, 50))


class _Fetcher:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        return self.path


class _TimedContext(JobContext):
    """Notes the wall and CPU clocks when the engine reports the end of its analysis."""

    split: tuple[float, float] | None = None

    def progress(self, fraction: float) -> None:
        super().progress(fraction)
        if self.split is None and fraction >= autoclip.ANALYSIS_SHARE:
            self.split = (time.perf_counter(), time.process_time())


@dataclass
class Run:
    aspect: str
    size: str
    clips: int
    output_s: float
    analysis_wall: float
    analysis_cpu: float
    render_wall: float
    render_cpu: float
    focus: str


def run(source: Path, aspect: str, workdir: Path) -> Run:
    (spec,) = autoclip.AutoClipEngine().models()
    params = AutoClipInput(
        video_url="bench", max_clips=3, min_duration=5, max_duration=15, aspect_ratio=aspect
    )  # type: ignore[arg-type]
    ctx = _TimedContext(
        generation_id="bench",
        model=spec,
        input=params,
        sandbox=False,
        workdir=workdir,
        fetcher=_Fetcher(source),
    )
    wall, cpu = time.perf_counter(), time.process_time()
    autoclip.AutoClipEngine().run(ctx)
    end_wall, end_cpu = time.perf_counter(), time.process_time()
    assert ctx.split is not None
    output_s = sum(o.duration_s or 0 for o in ctx.outputs)
    first = ctx.outputs[0]
    return Run(
        aspect,
        f"{first.width}x{first.height}",
        len(ctx.outputs),
        output_s,
        ctx.split[0] - wall,
        ctx.split[1] - cpu,
        end_wall - ctx.split[0],
        end_cpu - ctx.split[1],
        ",".join(str(o.extra["focus"]) for o in ctx.outputs),
    )


def table(runs: list[Run], seconds: float) -> str:
    minutes = seconds / 60
    rows = [
        "| Aspect | Clip size | Clips (s) | Analysis s / min of source (wall, CPU) "
        "| Render s / output s (wall, CPU) | Whole job s / output s (wall) | Focus |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        rows.append(
            f"| {r.aspect} | {r.size} | {r.clips} ({r.output_s:.1f}) "
            f"| {r.analysis_wall / minutes:.2f}, {r.analysis_cpu / minutes:.2f} "
            f"| {r.render_wall / r.output_s:.3f}, {r.render_cpu / r.output_s:.3f} "
            f"| {(r.analysis_wall + r.render_wall) / r.output_s:.3f} | {r.focus} |"
        )
    return "\n".join(rows)


def section(runs: list[Run], seconds: float, command: str) -> str:
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"""{SECTION_BEGIN}
## Auto-clip engine (`builtin/auto-clip`)

A fixed synthetic {WIDTH}x{HEIGHT}, {FPS} fps source of {seconds:g} s with sound (shots of
{SHOT_S:g} s, a noise texture, a moving box, a drawn face in every other shot, loud stretches),
clipped by the engine in-process: 3 clips of 5-15 s. "Analysis" is the single decoding pass (shot
detection at 6 fps / 160 px, motion, Haar faces at 2 fps / 480 px, 48 kHz sound, scoring);
"render" is cutting, reframing and H.264/AAC encoding of the clips (x264 `veryfast`, 2 threads).

- Command (repository root): `{command}`
- Date: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
- Machine: {os.cpu_count()} CPUs (`os.cpu_count`), {cpu_model()}, Python
  {platform.python_version()}; load average {load} at the end (a shared machine: other jobs
  were running)

{table(runs, seconds)}

The analysis decodes every frame of the source at full size (PyAV cannot skip to a time more
cheaply), so it scales with the source's length and resolution. Rendering decodes the clip's
span of the source at full size again; that decoding weighs as much as the encoding, which is
why a 9:16 crop (a third of the pixels to encode) costs only about a third less than 16:9.
{SECTION_END}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Source length")
    parser.add_argument("--write-docs", action="store_true", help=f"Update {DOCS.name}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        started = time.perf_counter()
        source = make_source(directory / "source.mp4", args.seconds)
        print(f"source made in {time.perf_counter() - started:.1f} s", flush=True)
        runs = []
        for aspect in ("16:9", "9:16"):
            workdir = directory / aspect.replace(":", "x")
            workdir.mkdir()
            runs.append(run(source, aspect, workdir))
            print(runs[-1], flush=True)
    print(table(runs, args.seconds))
    if args.write_docs:
        command = "python benchmarks/engine_autoclip.py --write-docs"
        if args.seconds != 60.0:
            command = (
                f"python benchmarks/engine_autoclip.py --seconds {args.seconds:g} --write-docs"
            )
        write_section(
            DOCS,
            SECTION_BEGIN,
            SECTION_END,
            section(runs, args.seconds, command),
            new_document="# Benchmarks\n",
        )
        print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
