"""Music engine speed: compute seconds per minute of audio for each genre of builtin/composer.

    python benchmarks/engine_music.py [--seconds 60] [--repeat 2] [--long 300] [--write-docs]

For each genre, composes, synthesizes, masters and encodes (MP3) a fixed request (prompt
"benchmark", seed 1, medium tempo, ``--seconds`` long) in this process, ``--repeat`` times, and
keeps the fastest run (the machine may be shared). Reports wall and CPU seconds per minute of
audio. Then one ``--long`` second electronic piece gives the figure at the longest length and the
process's peak resident memory. Prints a Markdown table; ``--write-docs`` replaces the "Music
engine" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import DOCS, cpu_model, write_section
from mediastudio.engines.builtin.composer.engine import make_music
from mediastudio.engines.builtin.composer.inputs import ComposerInput
from mediastudio.engines.builtin.composer.render import RATE
from mediastudio.engines.builtin.composer.style import GENRES
from mediastudio.engines.media.audio import write_audio

SECTION_BEGIN = "<!-- BEGIN engine_music (written by benchmarks/engine_music.py) -->"
SECTION_END = "<!-- END engine_music -->"


@dataclass
class Figure:
    genre: str
    seconds: int
    wall_s: float
    cpu_s: float
    encode_cpu_s: float
    notes: int
    lufs: float

    @property
    def wall_per_minute(self) -> float:
        return self.wall_s * 60 / self.seconds

    @property
    def cpu_per_minute(self) -> float:
        return self.cpu_s * 60 / self.seconds


def measure(genre: str, seconds: int, repeat: int, workdir: Path) -> Figure:
    request = ComposerInput(prompt="benchmark", genre=genre, duration=seconds, seed=1)  # type: ignore[arg-type]
    best: Figure | None = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        piece = make_music(request)
        made = time.process_time()
        write_audio(workdir / f"{genre}.mp3", piece.samples, RATE, "mp3")
        figure = Figure(
            genre,
            seconds,
            time.perf_counter() - wall,
            time.process_time() - cpu,
            time.process_time() - made,
            piece.score.note_count(),
            piece.lufs,
        )
        if best is None or figure.wall_s < best.wall_s:
            best = figure
    assert best is not None
    return best


def table(figures: list[Figure]) -> str:
    lines = [
        "| genre | audio s | wall s | CPU s | wall s per audio minute | CPU s per audio minute "
        "| of which MP3 encoding | notes | LUFS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.genre} | {f.seconds} | {f.wall_s:.2f} | {f.cpu_s:.2f} | "
            f"{f.wall_per_minute:.2f} | {f.cpu_per_minute:.2f} | "
            f"{f.encode_cpu_s * 60 / f.seconds:.2f} | {f.notes} | {f.lufs:.1f} |"
        )
    return "\n".join(lines)


def section(figures: list[Figure], long: Figure, peak_mib: float, args: argparse.Namespace) -> str:
    return "\n".join(
        [
            SECTION_BEGIN,
            "## Music engine (builtin/composer)",
            "",
            f"`python benchmarks/engine_music.py --seconds {args.seconds} --repeat {args.repeat} "
            f"--long {args.long}` on {cpu_model()} ({os.cpu_count()} cores, shared with other "
            "work while measured; fastest of the repeats). Compose + synthesize + master + MP3 "
            "encode, one thread, 44.1 kHz stereo.",
            "",
            table([*figures, long]),
            "",
            f"Peak resident memory of the process after the {long.seconds} s piece: "
            f"{peak_mib:.0f} MiB. Target: well under 10 s of compute per minute of audio. The "
            "MP3 column is the shared `media.audio.write_audio` (libmp3lame at FFmpeg's default "
            "quality), measured apart from composing and synthesizing.",
            SECTION_END,
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--long", type=int, default=300)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        make_music(ComposerInput(prompt="warm-up", duration=5, seed=1))
        figures = [measure(genre, args.seconds, args.repeat, workdir) for genre in GENRES]
        long = measure("electronic", args.long, 1, workdir)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(table([*figures, long]))
    print(f"peak RSS {peak_mib:.0f} MiB")
    if args.write_docs:
        text = section(figures, long, peak_mib, args)
        write_section(DOCS, SECTION_BEGIN, SECTION_END, text, new_document="# Benchmarks\n")
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
