"""Dubbing composition overhead: wall time of a 60 s dubbing job beyond its providers' latencies,
with the render copying the video (now) and re-encoding it (before), in the same run.

    python benchmarks/dubbing_overhead.py [--seconds 60] [--latency 0.2] [--size 640x360]
                                          [--repeat 2] [--write-docs]

Runs ``builtin/dub`` in-process as the runner runs a composition (its worker thread, the steps
on the event loop; no HTTP of ours, no database) on a generated video (``--seconds`` of a moving
picture at 25 fps with speech-like sound, H.264 in MP4), against the test suite's fake OpenAI on
loopback (real HTTP), which holds every request ``--latency`` seconds before answering:
whisper-1 hears one segment per 2 s, gpt-5.4-mini translates them all in one message,
gpt-4o-mini-tts says each (4 at a time, as the dub sends them).

Each of ``--repeat`` rounds runs the job twice on the same video, in alternating order: once as
it runs now (the render copies the video's packets and muxes the dubbed track) and once with
the render forced to re-encode the video (what it always did before; still what it does with
``subtitles`` or ``lipsync``). The machine is shared, so the rounds are reported side by side
with their ratios.

Accounting: the speech requests overlap, so adding up the time each request spent in the fake
would count the overlaps several times. The time inside the fake is the *union* of the
intervals during which at least one request was there; the overhead is the job's wall time
minus that union. A step's time beyond its requests is likewise the union of its steps'
intervals minus the union of its requests' (benchmarks/compositions.py). Its parts: the steps'
own time beyond their requests (reading the outputs back, the upload prepared), the mix, the
render, and the rest (fetching and probing the video, laying out the steps).
``--write-docs`` rewrites the "Dubbing overhead" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from common import DOCS, ROOT, cpu_model, write_section
from compositions import Interval, timed_parts, union_s
from mediastudio.engines.builtin.video_tools import dubbing
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
Render = Literal["copy", "re-encode"]
STEP_OF_PATH = {
    "/v1/audio/transcriptions": "transcribe",
    "/v1/chat/completions": "translate",
    "/v1/audio/speech": "speak",
}


class TimedFake(FakeOpenAI):
    """The fake OpenAI, recording when each request came in and was answered (its latency
    included), as ``(path, (start, end))``."""

    def __init__(self) -> None:
        super().__init__()
        self.spent: list[tuple[str, Interval]] = []

    def app(self) -> Starlette:  # type: ignore[override]
        inner = super().app()
        spent = self.spent

        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            started = time.perf_counter()
            try:
                await inner(scope, receive, send)
            finally:
                if scope["type"] == "http":
                    spent.append((str(scope["path"]), (started, time.perf_counter())))

        return timed  # type: ignore[return-value]


def speech_like(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    voiced = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 6))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, 1) ** 0.5
    return np.asarray(0.2 * voiced * syllables, dtype=np.float32)


def source_video(path: Path, seconds: float, width: int, height: int) -> Path:
    with VideoWriter(path, width, height, fps=FPS, audio=speech_like(seconds)) as writer:
        for index in range(round(seconds * FPS)):
            frame = np.full((height, width, 3), (40, 80 + index % 100, 140), dtype=np.uint8)
            left = (6 * index) % (width - 60)
            frame[height // 3 : height // 3 + 60, left : left + 60] = (230, 200, 40)
            writer.write(frame)
    return path


@contextmanager
def rendering(render: Render) -> Iterator[None]:
    """The dub's render as it is (``copy``), or forced to re-encode the video as it always did
    before the copy (``re-encode``)."""
    if render == "copy":
        yield
        return
    copies = dubbing.copies_video
    dubbing.copies_video = lambda job, info: False
    try:
        yield
    finally:
        dubbing.copies_video = copies


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(video=0) if packet.size]


def measure(source: Path, latency: float, render: Render) -> dict[str, Any]:
    url = "data:video/mp4;base64," + base64.b64encode(source.read_bytes()).decode()
    with tempfile.TemporaryDirectory() as directory, RunningOpenAI(TimedFake()) as fake:
        work = Path(directory)
        assert isinstance(fake, TimedFake)
        fake.slow_s = latency
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

        with rendering(render), timed_parts() as parts:
            ctx, wall = asyncio.run(run())
        output = ctx.outputs[0].path
        info = probe(output)
        copied = video_packets(output) == video_packets(source)
        requests = list(fake.spent)
    assert copied == (render == "copy"), f"the {render} run did not {render} the video"
    in_fake = union_s(interval for _, interval in requests)
    by_path: dict[str, int] = defaultdict(int)
    served_by_step: dict[str, list[Interval]] = defaultdict(list)
    for path, interval in requests:
        by_path[path.removeprefix("/v1/")] += 1
        served_by_step[STEP_OF_PATH[path]].append(interval)
    beyond = {
        step: parts.wall(step) - union_s(served_by_step[step]) for step in STEP_OF_PATH.values()
    }
    overhead = wall - in_fake
    busy = sum(end - start for _, (start, end) in requests)
    return {
        "render_mode": render,
        "seconds": info.duration_s,
        "size": f"{info.width}x{info.height}",
        "latency": latency,
        "requests": len(requests),
        "by_path": dict(by_path),
        "wall": wall,
        "in_fake": in_fake,
        "busy_in_fake": busy,
        "latencies": latency * len(requests),
        "speak_in_fake": union_s(served_by_step["speak"]),
        "speak_busy": sum(end - start for start, end in served_by_step["speak"]),
        "overhead": overhead,
        "steps_beyond_requests": sum(beyond.values()),
        "beyond": beyond,
        "mix": parts.wall("mix"),
        "render": parts.wall("render"),
        "rest": overhead - sum(beyond.values()) - parts.wall("mix") - parts.wall("render"),
        "outputs": [o.content_type for o in ctx.outputs],
    }


def rounds(source: Path, latency: float, repeat: int) -> list[dict[Render, dict[str, Any]]]:
    """``repeat`` rounds of both renders on the same video, the order alternating."""
    done: list[dict[Render, dict[str, Any]]] = []
    for index in range(repeat):
        order: tuple[Render, Render] = (
            ("re-encode", "copy") if index % 2 == 0 else ("copy", "re-encode")
        )
        done.append({render: measure(source, latency, render) for render in order})
    return done


def report(r: dict[str, Any]) -> str:
    """One run's breakdown."""
    calls = ", ".join(f"{n} {path}" for path, n in sorted(r["by_path"].items()))
    beyond = r["steps_beyond_requests"]
    step = {name: f"{value:.2f}" for name, value in r["beyond"].items()}
    speech = r["by_path"].get("audio/speech", 0)
    render = (
        "copy the video's packets, encode and mux the track"
        if r["render_mode"] == "copy"
        else "decode, re-encode the video, mux the track"
    )
    inside = "time with at least one request inside the fake (union of the requests' intervals)"
    added = (
        f"— for reference, the requests' times added up ({r['requests']} requests, {speech} "
        f"of them speech, 4 at a time; {r['latencies']:.2f} of it the fixed latency)"
    )
    return f"""| figure | seconds |
| --- | ---: |
| job wall time | {r["wall"]:.2f} |
| {inside} | {r["in_fake"]:.2f} |
| {added} | {r["busy_in_fake"]:.2f} |
| **composition overhead** (wall - time inside the fake) | **{r["overhead"]:.2f}** |
| of which: the provider steps beyond their requests | {beyond:.2f} |
| — transcribe (the sound re-encoded as MP3 for upload, the answer written) | {step["transcribe"]} |
| — translate (the request, the transcript written and read back) | {step["translate"]} |
| — speak, all segments (hand-off to the event loop, the MP3s saved and probed) | {step["speak"]} |
| of which: mix (decode each segment's MP3, fit it into its slot) | {r["mix"]:.2f} |
| of which: render ({render}) | {r["render"]:.2f} |
| of which: the rest (fetch and probe the video, lay out the steps) | {r["rest"]:.2f} |

Requests: {calls}. Output: a {r["seconds"]:.1f} s {r["size"]} MP4, SRT and WebVTT."""


def comparison(done: list[dict[Render, dict[str, Any]]]) -> str:
    """Each round's two runs side by side: re-encoded (before) and copied (now)."""
    lines = [
        "| round | render re-encode (before) | render copy (now) | ratio | "
        "wall before | wall now | ratio | overhead before | overhead now |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for index, pair in enumerate(done, 1):
        before, now = pair["re-encode"], pair["copy"]
        lines.append(
            f"| {index} | {before['render']:.2f} | {now['render']:.2f} | "
            f"{before['render'] / now['render']:.1f}x | {before['wall']:.2f} | {now['wall']:.2f} | "
            f"{before['wall'] / now['wall']:.2f}x | {before['overhead']:.2f} | "
            f"{now['overhead']:.2f} |"
        )
    return "\n".join(lines)


def section(done: list[dict[Render, dict[str, Any]]], command: str) -> str:
    last = done[-1]
    now, before = last["copy"], last["re-encode"]
    renders = sorted(pair["re-encode"]["render"] / pair["copy"]["render"] for pair in done)
    walls = sorted(pair["re-encode"]["wall"] / pair["copy"]["wall"] for pair in done)
    return f"""{SECTION_BEGIN}
## Dubbing overhead

`builtin/dub` on a generated {now["seconds"]:.0f} s video ({now["size"]}, {FPS} fps, H.264 with
speech-like sound), into Spanish, against the fake OpenAI on loopback holding every request
{now["latency"]:.2f} s: whisper-1 (one segment per 2 s), gpt-5.4-mini-translate (one message),
gpt-4o-mini-tts (one request per segment, 4 at a time). The job runs in-process as the runner
runs it (worker thread; provider steps on the event loop). Each round runs it twice on the same
video, in alternating order: the render as it is now (the video's packets **copied**, the
dubbed track encoded and muxed) and forced to **re-encode** the video, as it did before (and
still does with `subtitles` or `lipsync`, or a codec it cannot copy).

{comparison(done)}

Round {len(done)}, the render copying the video:

{report(now)}

The same round re-encoding the video: render {before["render"]:.2f} s, wall
{before["wall"]:.2f} s, overhead {before["overhead"]:.2f} s.

How it is counted: the speech requests overlap (4 at a time), so the time inside the fake is
the union of the intervals with at least one request there, not the requests' times added up
(which counted each overlap up to four times and made the overhead look smaller than the render
alone); a step's time beyond its requests is the union of its steps' intervals minus the union
of its requests'. Figures from before this change (docs history) used the sum.

Reading it: copying the video's packets instead of decoding and encoding them again makes the
render {renders[0]:.1f}-{renders[-1]:.1f}x faster here and the whole job
{walls[0]:.2f}-{walls[-1]:.2f}x faster. What is left of the render is mostly the dubbed track's
AAC encode (as long as the video, mono, 128 kbit/s: the same encode as before), the same
whatever the picture's size; the copy itself reads and writes the file once. What the
composition adds on top of the providers is then the transcription's upload preparation (the
sound re-encoded as MP3), the render's AAC encode and the mix; the speech steps' own work
(hand-off to the event loop, each MP3 saved and probed) overlaps the other segments' requests
and adds {now["beyond"]["speak"]:.2f} s of wall time. The machine is shared (2 cores, other
work running), so the ratios are what to read, not the seconds.

Command: `{command}` on {cpu_model()}, {datetime.now(UTC):%Y-%m-%d}.
{SECTION_END}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.2, help="Seconds per request")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--repeat", type=int, default=2, help="Rounds of both renders")
    parser.add_argument("--write-docs", action="store_true", help="Update docs/benchmarks.md")
    parser.add_argument("--docs", type=Path, default=DOCS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as directory:
        source = source_video(Path(directory) / "source.mp4", args.seconds, width, height)
        done = rounds(source, args.latency, max(1, args.repeat))
    print(comparison(done))
    print()
    print(report(done[-1]["copy"]))
    if args.write_docs:
        command = "python benchmarks/dubbing_overhead.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        write = _writer(args.docs)
        write(section(done, command.strip()))
    return 0


def _writer(path: Path) -> Callable[[str], None]:
    return lambda text: write_section(
        path, SECTION_BEGIN, SECTION_END, text, new_document="# Benchmarks\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
