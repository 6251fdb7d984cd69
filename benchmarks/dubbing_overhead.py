"""Dubbing composition overhead: wall time of a 60 s dubbing job beyond its providers' latencies.

    python benchmarks/dubbing_overhead.py [--seconds 60] [--latency 0.2] [--size 640x360]
                                          [--write-docs]

Runs ``builtin/dub`` in-process as the runner runs a composition (its worker thread, the steps
on the event loop; no HTTP of ours, no database) on a generated video (``--seconds`` of a moving
picture at 25 fps with speech-like sound), against the test suite's fake OpenAI on loopback
(real HTTP), which holds every request ``--latency`` seconds before answering: whisper-1 hears one
segment per 2 s, gpt-4o-mini translates them all in one message, gpt-4o-mini-tts says each.

It reports the job's wall time, the sum of the fixed latencies (requests x latency), the time
the fake spent on the requests beyond them (decoding the upload, making the audio: the fake's
work, not ours), and the overhead: wall time minus everything the fake spent. The overhead's
parts: the steps' own time beyond their requests (reading the outputs back, fitting the
speech), the mix, and the render (decode, re-encode and mux the MP4). ``--write-docs``
rewrites the "Dubbing overhead" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from common import DOCS, ROOT, cpu_model, write_section
from compositions import timed_parts
from mediastudio.engines.builtin.video_tools.dubbing import DubbingInput
from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter, probe
from mediastudio.engines.registry import EngineRegistry
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher

sys.path.insert(0, str(ROOT))  # for tests.providers
from tests.providers.conftest import openai_settings
from tests.providers.fake_openai import FakeOpenAI, RunningOpenAI

SECTION_BEGIN = "<!-- BEGIN dubbing_overhead (written by benchmarks/dubbing_overhead.py) -->"
SECTION_END = "<!-- END dubbing_overhead -->"
FPS = 25
STEP_OF_PATH = {
    "/v1/audio/transcriptions": "transcribe",
    "/v1/chat/completions": "translate",
    "/v1/audio/speech": "speak",
}


class TimedFake(FakeOpenAI):
    """The fake OpenAI, recording how long it spent on each request (its latency included)."""

    def __init__(self) -> None:
        super().__init__()
        self.spent: list[tuple[str, float]] = []

    def app(self) -> Starlette:  # type: ignore[override]
        inner = super().app()
        spent = self.spent

        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            started = time.perf_counter()
            try:
                await inner(scope, receive, send)
            finally:
                if scope["type"] == "http":
                    spent.append((str(scope["path"]), time.perf_counter() - started))

        return timed  # type: ignore[return-value]


def speech_like(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    voiced = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 6))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, 1) ** 0.5
    return np.asarray(0.2 * voiced * syllables, dtype=np.float32)


def source_video(path: Path, seconds: float, width: int, height: int) -> str:
    with VideoWriter(path, width, height, fps=FPS, audio=speech_like(seconds)) as writer:
        for index in range(round(seconds * FPS)):
            frame = np.full((height, width, 3), (40, 80 + index % 100, 140), dtype=np.uint8)
            left = (6 * index) % (width - 60)
            frame[height // 3 : height // 3 + 60, left : left + 60] = (230, 200, 40)
            writer.write(frame)
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


def measure(seconds: float, latency: float, width: int, height: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory, RunningOpenAI(TimedFake()) as fake:
        work = Path(directory)
        assert isinstance(fake, TimedFake)
        fake.slow_s = latency
        url = source_video(work / "source.mp4", seconds, width, height)
        settings = openai_settings(work / "data", fake, disabled_engines=[], engine_modules=[])
        registry = EngineRegistry.discover(settings)
        registered = registry.get("builtin/dub")
        assert registered is not None
        job = DubbingInput(
            video_url=url,
            target_language="es",
            source_language="en",
            transcription_model="openai/whisper-1",
            translation_model="openai/gpt-5.4-mini-translate",
            speech_model="openai/gpt-4o-mini-tts",
        )
        jobdir = work / "job"
        jobdir.mkdir()

        async def run() -> tuple[JobContext, float]:
            ctx = JobContext(
                generation_id="bench",
                model=registered.spec,
                input=job,
                sandbox=False,
                workdir=jobdir,
                fetcher=SafeFetcher(jobdir, settings.net_policy()),
                loop=asyncio.get_running_loop(),
            )
            started = time.perf_counter()
            try:
                await asyncio.to_thread(registered.engine.run, ctx)
            finally:
                wall = time.perf_counter() - started
                await registry.aclose()
            return ctx, wall

        with timed_parts() as parts:
            ctx, wall = asyncio.run(run())
        info = probe(ctx.outputs[0].path)
        requests = list(fake.spent)
    served = sum(took for _, took in requests)
    by_path: dict[str, int] = defaultdict(int)
    served_by_step: dict[str, float] = defaultdict(float)
    for path, took in requests:
        by_path[path.removeprefix("/v1/")] += 1
        served_by_step[STEP_OF_PATH[path]] += took
    beyond = {step: parts[step] - served_by_step[step] for step in STEP_OF_PATH.values()}
    return {
        "seconds": info.duration_s,
        "size": f"{info.width}x{info.height}",
        "latency": latency,
        "requests": len(requests),
        "by_path": dict(by_path),
        "wall": wall,
        "latencies": latency * len(requests),
        "fake_work": served - latency * len(requests),
        "overhead": wall - served,
        "steps_beyond_requests": sum(beyond.values()),
        "beyond": beyond,
        "per_speech_ms": 1000 * beyond["speak"] / max(1, by_path.get("audio/speech", 0)),
        "mix": parts["mix"],
        "render": parts["render"],
        "outputs": [o.content_type for o in ctx.outputs],
    }


def report(r: dict[str, Any]) -> str:
    calls = ", ".join(f"{n} {path}" for path, n in sorted(r["by_path"].items()))
    fixed = f"sum of fixed provider latencies ({r['requests']} requests x {r['latency']:.2f} s)"
    beyond = r["steps_beyond_requests"]
    step = {name: f"{value:.2f}" for name, value in r["beyond"].items()}
    return f"""| figure | seconds |
| --- | ---: |
| job wall time | {r["wall"]:.2f} |
| {fixed} | {r["latencies"]:.2f} |
| the fake's own work beyond its latency (decode uploads, make audio) | {r["fake_work"]:.2f} |
| **composition overhead** (wall - all time inside the fake) | **{r["overhead"]:.2f}** |
| of which: the provider steps beyond their requests | {beyond:.2f} |
| — transcribe (the sound re-encoded as MP3 for upload, the answer written) | {step["transcribe"]} |
| — translate (the request, the transcript written and read back) | {step["translate"]} |
| — speak, all segments (hand-off to the event loop, the MP3 saved and probed) | {step["speak"]} |
| of which: mix (decode each segment's MP3, fit it into its slot) | {r["mix"]:.2f} |
| of which: render (decode, re-encode the {r["size"]} video, mux the track) | {r["render"]:.2f} |

Requests: {calls}. Output: a {r["seconds"]:.1f} s {r["size"]} MP4, SRT and WebVTT."""


def section(r: dict[str, Any], command: str) -> str:
    per_speech = f"{r['per_speech_ms']:.0f}"
    return f"""{SECTION_BEGIN}
## Dubbing overhead

`builtin/dub` on a generated {r["seconds"]:.0f} s video ({r["size"]}, {FPS} fps, speech-like
sound), into Spanish, against the fake OpenAI on loopback holding every request
{r["latency"]:.2f} s: whisper-1 (one segment per 2 s), gpt-4o-mini-translate (one message),
gpt-4o-mini-tts (one request per segment, one after another). The job runs in-process as the
runner runs it (worker thread; provider steps on the event loop).

{report(r)}

Reading it: the speech requests run one after another, so the providers' latencies add up; what
the composition adds on top is the render (CPU-bound: the whole video is decoded and encoded
again, as every video tool here does), about {per_speech} ms per speech step (the hand-off to
the event loop, the file saved and probed) and the transcription's upload preparation. The
render grows with the video's length and size, not with the number of segments. The machine is
shared (2 cores, other work running): the render's figure moves most between runs.

Command: `{command}` on {cpu_model()}, {datetime.now(UTC):%Y-%m-%d}.
{SECTION_END}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.2, help="Seconds per request")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--write-docs", action="store_true", help="Update docs/benchmarks.md")
    parser.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    result = measure(args.seconds, args.latency, width, height)
    print(report(result))
    if args.write_docs:
        command = "python benchmarks/dubbing_overhead.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        write = _writer(args.docs)
        write(section(result, command.strip()))
    return 0


def _writer(path: Path) -> Callable[[str], None]:
    return lambda text: write_section(
        path, SECTION_BEGIN, SECTION_END, text, new_document="# Benchmarks\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
