"""Speech (builtin/espeak): real-time factor on a fixed text of about 1000 characters.

The real-time factor is seconds of work per second of audio made (lower is faster; 0.01 means a
minute of speech takes 0.6 s). Each figure is the median of ``--repeat`` runs of the whole
engine job through the engine contract (sentence chunks, espeak-ng under its lock,
normalisation, encoding to the file), no HTTP or database; "synthesis" is the espeak-ng part
alone (all chunks spoken, nothing encoded).

    python benchmarks/engine_speech.py [--repeat 5] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import DOCS, ROOT, cpu_model, write_section

sys.path.insert(0, str(ROOT / "src"))

from mediastudio.engines.builtin.espeak import text as chunking
from mediastudio.engines.builtin.espeak.engine import SPEC, EspeakEngine, rate_wpm
from mediastudio.engines.builtin.espeak.inputs import EspeakInput
from mediastudio.engines.builtin.espeak.library import LOCK, Settings, espeak
from mediastudio.engines.builtin.espeak.voices import catalogue
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher

SECTION_BEGIN = "<!-- BEGIN engine_speech (written by benchmarks/engine_speech.py) -->"
SECTION_END = "<!-- END engine_speech -->"
FORMATS = ("wav", "mp3", "ogg")
TEXT = (
    "MediaStudio turns text into speech on an ordinary processor, with no model to download. "
    "The built-in voice comes from espeak-ng, a compact formant synthesizer that speaks more "
    "than a hundred languages and accents. It is not the most natural voice you will hear, "
    "but it is clear, quick and always available, even on a laptop with no network at all.\n\n"
    "Long texts are cut into sentences. Each sentence is spoken on its own, so the progress "
    "bar moves as the work advances, and a cancelled job stops at the next sentence. Between "
    "sentences the engine leaves the short pause a reader would make; a new paragraph gets a "
    "slightly longer one. The result is encoded as MP3, WAV or Ogg Opus and stored with its "
    "duration. Dr. Smith, our imaginary tester, reads this text aloud every morning at 9.30 "
    "and checks that nothing has changed. If the figures below ever grow, something in the "
    "engine has become slower. Please tell us! Would you have guessed that it was this fast? "
    "Most people do not."
)


def run_job(validated: EspeakInput, workdir: Path) -> float:
    """Run one job; returns the audio's duration in seconds."""
    ctx = JobContext(
        generation_id="gen_bench",
        model=SPEC,
        input=validated,
        sandbox=False,
        workdir=workdir,
        fetcher=SafeFetcher(workdir, NetPolicy()),
    )
    EspeakEngine().run(ctx)
    duration = ctx.outputs[0].duration_s
    assert duration is not None
    return duration


def synthesis_only(validated: EspeakInput) -> float:
    voice = catalogue().find(validated.voice or "")
    assert voice is not None
    settings = Settings(voice.espeak_name, rate_wpm(validated.speed), validated.pitch)
    samples = 0
    for chunk in chunking.chunks(validated.text):
        with LOCK:
            samples += len(espeak().synthesize(chunk.text, settings, pause_after=True, abort=bool))
    return samples / espeak().sample_rate


def median_s(work: object, repeat: int) -> tuple[float, float]:
    """(median seconds of ``work()``, what it returned)."""
    assert callable(work)
    result = work()  # warm-up: the library's first load, the encoder's first open
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), float(result)


def measure(repeat: int) -> list[tuple[str, float, float, float]]:
    """Rows of (what, audio seconds, work seconds, real-time factor)."""
    rows: list[tuple[str, float, float, float]] = []

    def add(name: str, seconds: float, audio_s: float) -> None:
        rows.append((name, audio_s, seconds, seconds / audio_s))
        print(
            f"{name:28} audio {audio_s:6.2f} s  work {seconds:7.3f} s  RTF {seconds / audio_s:.4f}"
        )

    plain = EspeakInput(text=TEXT, output_format="wav")
    seconds, audio_s = median_s(lambda: synthesis_only(plain), repeat)
    add("synthesis only (espeak-ng)", seconds, audio_s)
    with tempfile.TemporaryDirectory() as workdir:
        for fmt in FORMATS:
            validated = EspeakInput(text=TEXT, output_format=fmt)
            seconds, audio_s = median_s(lambda v=validated: run_job(v, Path(workdir)), repeat)
            add(f"whole job, {fmt}", seconds, audio_s)
    return rows


def document(rows: list[tuple[str, float, float, float]], args: argparse.Namespace) -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        SECTION_BEGIN,
        "## Speech (`builtin/espeak`)",
        "",
        "Real-time factor (seconds of work per second of audio; lower is faster) on a fixed",
        f"English text of {len(TEXT)} characters ({len(chunking.chunks(TEXT))} sentences, "
        "2 paragraphs), default voice",
        "(`en`), speed 1.0, pitch 50: the median of several runs.",
        '"Whole job" is the engine\'s `run` through the engine contract (sentence chunks,',
        "espeak-ng under its process lock, normalisation, encoding, the file written), without",
        'HTTP or the database; "synthesis only" is espeak-ng speaking the same chunks, nothing',
        "encoded.",
        "",
        f"- Command (repository root): `python benchmarks/engine_speech.py --repeat "
        f"{args.repeat} --write-docs`",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}; "
        f"load average {load} at the end",
        "",
        "| what | audio s | work s | real-time factor |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {name} | {audio:.2f} | {work:.3f} | {rtf:.4f} |" for name, audio, work, rtf in rows
    ]
    lines += ["", SECTION_END, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rows = measure(args.repeat)
    if args.write_docs:
        write_section(
            DOCS, SECTION_BEGIN, SECTION_END, document(rows, args), new_document="# Benchmarks\n"
        )
        print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
