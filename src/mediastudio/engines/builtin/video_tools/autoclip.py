"""``builtin/auto-clip``: the best moments of a long video as short clips in a social aspect.

1. Fetch and probe the source (at most :data:`MAX_SOURCE_S` seconds and the fetcher's size cap).
2. Analyse it in one decoding pass (:mod:`.scenes`): shot changes, motion, faces; decode its
   sound once at 48 kHz mono for loudness and for the clips' audio.
3. Form candidate segments from the shots and score them (:mod:`.scoring`); keep the best
   non-overlapping ``max_clips`` scoring at least ``viral_score_threshold``.
4. Cut each from the source, reframe it around a face or the motion (:mod:`.reframe`) and encode
   it (H.264 + AAC) with its slice of the sound. One output per clip, best first, each with
   ``score``, ``start_s``, ``end_s``, ``reason``, ``rank`` and ``focus``.

With ``add_captions`` the source's speech is transcribed once, by a transcription model run as a
step (:mod:`.autocaptions`), after the analysis; each clip gets the cues of its own time range,
cut to it and timed from its start, burned in at the bottom (the subtitles tool's default
style), and a ``cues`` field counting them. The transcription asks for word times (whisper-1
and local Whisper models give them; the price is the same) and each clip's start and end move
into the nearest pause between words, at most half a second away (:mod:`.word_cuts`), so no clip
starts or stops mid-word; ``start_s`` and ``end_s`` are the cut's.

No segment at or above the threshold fails the job with ``invalid_input`` (the threshold asked for
more than the video has; nothing was made, so the full price is refunded).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from mediastudio.engines.builtin.video_tools import autocaptions, word_cuts
from mediastudio.engines.builtin.video_tools.clip_input import AutoClipInput
from mediastudio.engines.builtin.video_tools.reframe import (
    Track,
    crop_frame,
    crop_size,
    output_size,
    plan_track,
)
from mediastudio.engines.builtin.video_tools.scenes import (
    FrameAnalysis,
    analyse_frames,
    detect_cuts,
)
from mediastudio.engines.builtin.video_tools.scoring import (
    Scored,
    Segment,
    candidates,
    loudness_per_second,
    motion_per_second,
    pick,
    score_segments,
)
from mediastudio.engines.builtin.video_tools.subtitles import SubtitleStyle
from mediastudio.engines.compose import Composition
from mediastudio.engines.contract import (
    Engine,
    EngineError,
    InputFetcher,
    InvalidInput,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
    StepUse,
)
from mediastudio.engines.media import captions, transcripts
from mediastudio.engines.media.audio import Samples, read_audio
from mediastudio.engines.media.captions import Cue
from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter, iter_frames, probe
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings

MODEL_ID = "builtin/auto-clip"
MAX_SOURCE_S = 20 * 60.0  # the sound is held in memory: 48 kHz mono float32 is 11.5 MB a minute
MAX_OUTPUT_FPS = 60
ANALYSIS_SHARE = 0.4  # of the progress bar; the clips share the rest by their length
TRANSCRIBE_SHARE = 0.15  # with add_captions, taken from the clips' share
PLANNED_SCORE = 100.0  # a plan cannot score moments without analysing the video


def plan_outputs(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """The clips of the video as if it were one shot (the shots, and so the count and timing of
    the real clips, are only known by analysing it): the same candidate windows and picking, in
    the aspect's size at the source's frame rate, with its sound."""
    assert isinstance(validated, AutoClipInput)
    info = probe(fetcher.fetch(validated.video_url), max_seconds=MAX_SOURCE_S)
    _check_long_enough(info.duration_s, validated.min_duration)
    windows = candidates([], info.duration_s, validated.min_duration, validated.max_duration)
    scored = [Scored(window, PLANNED_SCORE, {}) for window in windows]
    chosen = pick(scored, validated.max_clips, validated.viral_score_threshold)
    width, height = output_size(info.width, info.height, validated.aspect_ratio)
    fps = output_fps(info.fps)
    spoken = None
    if validated.add_captions:
        _check_sound(info.has_audio)
        spoken = autocaptions.planned(info.duration_s, validated.language)
    return [
        PlannedOutput(
            "video/mp4",
            width=width,
            height=height,
            duration_s=round(clip_frames(clip.segment, fps) / fps, 3),
            fps=fps,
            has_audio=info.has_audio,
            extra=_fields(clip, rank, "centre", _clip_cues(spoken, clip.segment)),
            # Captions time the words: each end may move into a pause (see word_cuts).
            duration_tolerance_s=2 * word_cuts.TOLERANCE_S if spoken is not None else 0.0,
        )
        for rank, clip in enumerate(chosen, start=1)
    ]


def uses(validated: BaseModel) -> list[StepUse]:
    """With ``add_captions``, one transcription of the whole source (priced at create)."""
    assert isinstance(validated, AutoClipInput)
    if not validated.add_captions:
        return []
    return [autocaptions.step_use(validated.video_url, validated.language)]


def _check_sound(has_audio: bool) -> None:
    if not has_audio:
        raise InvalidInput("The video has no sound to make captions from; leave out add_captions.")


def _clip_cues(spoken: list[Cue] | None, segment: Segment) -> list[Cue] | None:
    """A clip's own cues, timed from its start (None without captions)."""
    if spoken is None:
        return None
    return autocaptions.within(spoken, segment.start_s, segment.end_s)


def output_fps(source_fps: float) -> int:
    return min(MAX_OUTPUT_FPS, max(1, round(source_fps)))


def clip_frames(segment: Segment, fps: int) -> int:
    return max(1, round(segment.duration_s * fps))


def _fields(clip: Scored, rank: int, focus: str, cues: list[Cue] | None) -> dict[str, object]:
    fields: dict[str, object] = {
        "score": clip.score,
        "start_s": round(clip.segment.start_s, 3),
        "end_s": round(clip.segment.end_s, 3),
        "reason": clip.reason,
        "rank": rank,
        "focus": focus,
    }
    if cues is not None:
        fields["cues"] = len(cues)
    return fields


def _check_long_enough(duration: float, min_duration: float) -> None:
    if duration < min_duration:
        raise InvalidInput(
            f"The video is {duration:.1f} s long, shorter than min_duration ({min_duration:g} s)."
        )


class AutoClipEngine(Engine):
    name = "video-autoclip"

    def __init__(self, registry: EngineRegistry | None = None) -> None:
        self.registry = registry  # runs the transcription step of add_captions

    def models(self) -> list[ModelSpec]:
        return [
            ModelSpec(
                id=MODEL_ID,
                name="Auto-clip",
                type="auto-clip",
                input_model=AutoClipInput,
                credits=10,
                description=(
                    "Finds the liveliest moments of a video (shots, loudness, motion), cuts them "
                    "and reframes them to 9:16, 1:1 or 16:9 around a face or the motion."
                ),
                category="video",
                price_unit="generation",
                timeout_s=1800.0,
                output_kind="video",
                plan=plan_outputs,
                uses=uses,
            )
        ]

    def run(self, ctx: RunContext) -> None:
        params = ctx.input
        assert isinstance(params, AutoClipInput)
        source = ctx.fetcher.fetch(params.video_url)
        info = probe(source, max_seconds=MAX_SOURCE_S)
        ctx.check_cancelled()
        analysis = analyse_frames(
            source,
            duration_s=info.duration_s,
            check=ctx.check_cancelled,
            progress=lambda share: ctx.progress(share * ANALYSIS_SHARE * 0.9),
            max_seconds=MAX_SOURCE_S,
        )
        if len(analysis.times) == 0:
            raise InvalidInput("The video has no frames that could be decoded.")
        duration = max(info.duration_s, analysis.end_s) if info.duration_s else analysis.end_s
        sound = read_audio(
            source,
            rate=AUDIO_RATE,
            max_duration_s=MAX_SOURCE_S + 5,
            check_cancelled=ctx.check_cancelled,
        )
        ctx.check_cancelled()
        chosen = _choose(params, analysis, sound, duration)
        ctx.progress(ANALYSIS_SHARE)
        transcript = self._transcribe(ctx, params, source, info.has_audio)
        spoken = autocaptions.cues_of(transcript) if transcript is not None else None
        chosen = [_between_words(clip, transcript, duration) for clip in chosen]
        clips_from = ANALYSIS_SHARE + (TRANSCRIBE_SHARE if spoken is not None else 0.0)
        crop = crop_size(analysis.width, analysis.height, params.aspect_ratio)
        out_w, out_h = output_size(analysis.width, analysis.height, params.aspect_ratio)
        fps = output_fps(info.fps)
        total = sum(c.segment.duration_s for c in chosen)
        done = 0.0
        for rank, clip in enumerate(chosen, start=1):
            start, end = clip.segment.start_s, clip.segment.end_s
            track = plan_track(
                start,
                end,
                analysis.faces,
                analysis.face_sample_times,
                analysis.motion_centres,
                analysis.times,
            )

            def report(seconds: float, before: float = done) -> None:
                ctx.progress(clips_from + (1 - clips_from) * (before + seconds) / total)

            cues = _clip_cues(spoken, clip.segment)
            burner = _burner(cues, out_w, out_h)
            path = ctx.output_path(".mp4")
            frames = _render(
                ctx,
                source,
                path,
                (start, end),
                fps,
                track,
                crop,
                (out_w, out_h),
                sound,
                report,
                burner,
            )
            done += clip.segment.duration_s
            ctx.add_output(
                OutputFile(
                    path,
                    "video/mp4",
                    width=out_w,
                    height=out_h,
                    duration_s=round(frames / fps, 3),
                    extra=_fields(clip, rank, track.focus, cues),
                )
            )
        ctx.progress(1.0)

    def _transcribe(
        self, ctx: RunContext, params: AutoClipInput, source: Path, has_audio: bool
    ) -> transcripts.Transcript | None:
        """The source's transcript, with its words' times when the model gives them, once for
        every clip (None without add_captions)."""
        if not params.add_captions:
            return None
        _check_sound(has_audio)
        if self.registry is None:
            raise EngineError("Captions need the engine registry to run a transcription step.")
        steps = Composition(
            ctx,
            self.registry,
            {"analysis": ANALYSIS_SHARE, autocaptions.STEP: TRANSCRIBE_SHARE, "clips": 0.45},
        )
        return autocaptions.transcript_of(
            steps,
            params.transcription_model,
            params.video_url,
            source,
            params.language,
            words=True,
        )


def _between_words(
    clip: Scored, transcript: transcripts.Transcript | None, duration: float
) -> Scored:
    """``clip`` with its ends moved into the pauses between the transcript's words
    (:mod:`.word_cuts`); as it is without words, or when their times are estimated."""
    if transcript is None or not transcript.words or not transcript.timed:
        return clip
    start, end = word_cuts.cut_between_words(
        clip.segment.start_s, clip.segment.end_s, transcript.words, duration
    )
    return replace(clip, segment=Segment(start, end))


def _choose(
    params: AutoClipInput, analysis: FrameAnalysis, sound: Samples, duration: float
) -> list[Scored]:
    _check_long_enough(duration, params.min_duration)
    times = analysis.times
    cuts = detect_cuts(times, analysis.hist_distance)
    seconds = max(1, math.ceil(duration))
    loudness = loudness_per_second(sound.astype(np.float64), AUDIO_RATE, seconds)
    movement = motion_per_second(times, analysis.motion, cuts, seconds)
    segments = candidates(cuts, duration, params.min_duration, params.max_duration)
    scored = score_segments(segments, loudness, movement, cuts)
    chosen = pick(scored, params.max_clips, params.viral_score_threshold)
    if not chosen:
        best = max((s.score for s in scored), default=0.0)
        raise InvalidInput(
            f"No moment of this video scores at least viral_score_threshold="
            f"{params.viral_score_threshold:g} (the best scores {best:g}); lower the threshold."
        )
    return chosen


def _burner(cues: list[Cue] | None, width: int, height: int) -> captions.CaptionBurner | None:
    """Burns a clip's cues at the bottom in the subtitles tool's default style."""
    if cues is None:
        return None
    style = SubtitleStyle().caption_style("bottom")
    return captions.CaptionBurner(cues, width, height, style)


def _render(
    ctx: RunContext,
    source: Path,
    path: Path,
    span: tuple[float, float],
    fps: int,
    track: Track,
    crop: tuple[int, int],
    out: tuple[int, int],
    sound: Samples,
    report: Callable[[float], None],
    burner: captions.CaptionBurner | None = None,
) -> int:
    """Cut ``span`` (``[start, end)``) at a constant ``fps`` (each output frame shows the latest
    source frame at its time), reframed along ``track``, with the matching slice of ``sound``,
    and ``burner``'s cues (timed from the clip's start) drawn in."""
    start, end = span

    def frame_at(frame: np.ndarray, index: int) -> np.ndarray:
        framed = crop_frame(frame, track.at(start + index / fps), crop, out)
        return framed if burner is None else burner.burn(framed, index / fps)

    count = clip_frames(Segment(start, end), fps)
    audio = sound[round(start * AUDIO_RATE) : round(end * AUDIO_RATE)] if len(sound) else None
    half = 0.5 / fps
    written = decoded = 0
    last = None
    with VideoWriter(path, out[0], out[1], fps=fps, audio=audio) as writer:
        frames = iter_frames(
            source,
            start_s=start,
            end_s=end,
            max_seconds=MAX_SOURCE_S,
            check_cancelled=ctx.check_cancelled,
        )
        for t, frame in frames:
            last, decoded = frame, decoded + 1
            while written < count and start + written / fps <= t + half:
                writer.write(frame_at(frame, written))
                written += 1
            if decoded % 12 == 0:
                ctx.check_cancelled()
                report(written / fps)
        if last is None:
            raise InvalidInput(f"No frames could be decoded between {start:.1f} and {end:.1f} s.")
        while written < count:
            writer.write(frame_at(last, written))
            written += 1
    return written


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    return AutoClipEngine(registry)
