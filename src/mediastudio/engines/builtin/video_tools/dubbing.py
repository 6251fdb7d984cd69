"""Dubbing (seed 001's ``translate``): a video's speech transcribed, translated and spoken again
in another language, on the same timing, as a composition of other models' steps
(:mod:`mediastudio.engines.compose`):

1. ``transcribe``: a transcription model (``transcription_model``; the catalog's default,
   ``openai/whisper-1``, when left out) gives the timed segments (:mod:`.autocaptions`);
2. ``translate``: a translation model (``translation_model``; ``openai/gpt-5.4-mini-translate``
   by default) translates every segment in one message, keeping its times;
3. ``speak-N``: a speech model (``speech_model``, with ``voice``: a cloned ``voice_…`` with an
   ElevenLabs model) says each translated segment, one step a segment, up to
   :data:`SPEECH_PARALLEL` at once (each is placed by its own segment's times, so the order
   they finish in does not matter);
4. ``mix``: each segment's speech is fitted into its *slot* — from its start to the next
   segment's start (the video's end for the last) — by :func:`fit`: shorter speech is padded
   with silence, longer speech is sped up (pitch kept, FFmpeg's ``atempo``) by up to
   :data:`MAX_TEMPO`, and what is still too long is cut at the slot's end with a short fade;
5. ``render``: the dubbed track *replacing* the video's sound (the original is not ducked
   under it: without separating the voice from the background, any of it left would carry the
   source language too). When the picture does not change (no ``subtitles``, no ``lipsync``,
   the size and rate kept) the video's packets are copied as they are (:func:`copy_with_audio`:
   no decode, no encode); else, or when its codec is not one MP4 takes and browsers play
   (VP8, MPEG-4 part 2…), it is re-encoded (H.264), the translated captions burnt in when
   ``subtitles`` is true. The translation is also handed back as SRT / WebVTT
   (``output_formats``);
6. ``lipsync`` (only with ``lipsync: true``): the rendered video and the dubbed track (as WAV)
   sent through a lip-sync model (``lipsync_model``; the catalog's ``sync-lipsync``, on fal then
   Replicate, by default), whose video replaces the rendered one, so the mouths move with the
   new speech. Lip-sync takes at most :data:`LIPSYNC_MAX_S` of video, so a longer video is
   refused: at create (a 400 on ``video_url``) when the video is a ``data:`` URI, else when the
   job starts, before any step has run (the job fails ``invalid_input``, refunded). Splitting a
   long video into chunks was not chosen: each chunk would be a lip-sync job of its own, so the
   price could not be known at create.

Pricing is the catalog's (:class:`~mediastudio.engines.contract.StepUse`): this model's own
price plus one job of each step model. A speech model is priced once for the whole dub, however
many segments it says (as a transcription is priced once however long the sound); a lip-synced
dub adds one job of the lip-sync model (30 s reserved, settled by the seconds it made when the
job ends: runtime/settlement.py). See docs/engines/dubbing.md.
"""

from __future__ import annotations

import concurrent.futures
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Self

import av
import numpy as np
from pydantic import BaseModel, Field, model_validator

from mediastudio.engines.builtin.video_tools import autocaptions
from mediastudio.engines.builtin.video_tools.frames import (
    BATCH,
    fit_size,
    frames_on_grid,
    grid_frames,
    output_rate,
    resize,
)
from mediastudio.engines.builtin.video_tools.subtitles import SubtitleStyle
from mediastudio.engines.compose import Composition
from mediastudio.engines.contract import (
    Availability,
    EngineError,
    InputFetcher,
    InvalidInput,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
    StepUse,
)
from mediastudio.engines.inputs import LIPSYNC_TYPE, StrictInput
from mediastudio.engines.media import captions, transcripts
from mediastudio.engines.media.audio import Samples, read_audio, write_audio
from mediastudio.engines.media.captions import Cue
from mediastudio.engines.media.video import (
    AUDIO_RATE,
    CannotCopy,
    VideoInfo,
    VideoWriter,
    copy_with_audio,
    planned_video,
    probe,
)
from mediastudio.engines.providers.media import MEDIA_INPUT_MAX_S
from mediastudio.engines.providers.openai import translation
from mediastudio.engines.registry import SANDBOX_ENGINE, EngineRegistry
from mediastudio.kit.fetch.client import decode_data_uri

TYPE = "dubbing"
MAX_SECONDS = 600.0  # ten minutes of source video
MAX_PIXELS = 1920 * 1080
MAX_FPS = 60
SPEECH_PARALLEL = 4  # segments said at once: a provider's rate limit is the bound, not us
MAX_TEMPO = 1.35  # the most a segment's speech is sped up to fit its slot; past it, it is cut
FADE_S = 0.05  # the fade where speech too long for its slot is cut
SPEECH, SPEECH_FIELD = "speech", "speech_model"
TRANSLATION_FIELD = "translation_model"
LIPSYNC_FIELD, LIPSYNC_STEP = "lipsync_model", "lipsync"
LIPSYNC_MAX_S = MEDIA_INPUT_MAX_S  # the most video (and sound) a lip-sync job takes
# The names the lip-sync step reads the rendered video and the dubbed track by (shared files).
_DUBBED_VIDEO, _DUBBED_SOUND = "dubbing:video.mp4", "dubbing:speech.wav"
SubtitleFormat = Literal["srt", "vtt"]
# What the steps are priced and checked with at create: the real text is only known later.
_PRICED_TEXT = "Dubbing."
_PRICED_SEGMENT = {"start": 0.0, "end": 1.0, "text": _PRICED_TEXT}


def _both_formats() -> list[SubtitleFormat]:
    return ["srt", "vtt"]


class DubbingInput(StrictInput):
    video_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description="The video: an https URL, a data: URI or an uploaded file's URL",
    )
    target_language: str = Field(
        pattern=translation.LANGUAGE_PATTERN,
        description="The language to dub into (ISO 639-1, e.g. es)",
    )
    source_language: str | None = Field(
        None,
        pattern=translation.LANGUAGE_PATTERN,
        description="The language spoken in the video (ISO 639-1); detected when left out",
    )
    voice: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="The speech model's voice (GET /api/v1/voices), or a cloned voice_… with an "
        "ElevenLabs model; the model's default when left out",
    )
    speech_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The speech model that says the translation (GET /api/v1/models?type="
        "speech); the catalog's default when left out",
    )
    transcription_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The transcription model that hears the video (GET /api/v1/models?type="
        "transcription); the catalog's default when left out",
    )
    translation_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The model that translates the segments (GET /api/v1/models?type="
        "translation); the catalog's default when left out",
    )
    subtitles: bool = Field(False, description="Burn the translated captions into the video")
    output_formats: list[SubtitleFormat] = Field(
        default_factory=_both_formats,
        max_length=2,
        description="The translation's caption files handed back besides the video",
        json_schema_extra={"uniqueItems": True},  # what _distinct checks
    )
    lipsync: bool = Field(
        False,
        description="Move the speakers' lips to the dubbed speech with a lip-sync model (its "
        "price is added); the video may then be 30 s at most",
    )
    lipsync_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The lip-sync model used with lipsync (GET /api/v1/models?type=lipsync); "
        "the catalog's default (sync-lipsync) when left out",
    )

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.output_formats)) != len(self.output_formats):
            raise ValueError("output_formats must not repeat a format")
        return self

    @model_validator(mode="after")
    def _short_enough_to_lipsync(self) -> Self:
        """A ``data:`` video is already here: one too long to lip-sync is the request's 400
        (a URL's or an upload's length is only known once fetched: see :func:`run`)."""
        if self.lipsync and self.video_url.startswith("data:"):
            seconds = _data_video_seconds(self.video_url)
            if seconds is not None and seconds > LIPSYNC_MAX_S:
                raise ValueError(_too_long(seconds))
        return self


def _too_long(seconds: float) -> str:
    return (
        f"video_url is {seconds:.1f} s long; lip-sync takes at most {LIPSYNC_MAX_S:g} s "
        "(dub it without lipsync, or cut it first)"
    )


def _data_video_seconds(url: str) -> float | None:
    """A ``data:`` video's length, or None when it does not decode (the job says why)."""
    try:
        data, suffix = decode_data_uri(url, max_bytes=8_000_000)
        with tempfile.NamedTemporaryFile(suffix=suffix or ".mp4") as handle:
            handle.write(data)
            handle.flush()
            return probe(Path(handle.name), max_seconds=MAX_SECONDS).duration_s
    except Exception:  # an unreadable video is the job's invalid_input, said there
        return None


def speech_input(text: str, voice: str | None) -> dict[str, object]:
    payload: dict[str, object] = {"text": text}
    if voice is not None:
        payload["voice"] = voice
    return payload


def translation_input(
    segments: Sequence[dict[str, object]], job: DubbingInput, formats: Sequence[str] = ("json",)
) -> dict[str, object]:
    payload: dict[str, object] = {
        "segments": list(segments),
        "target_language": job.target_language,
        "output_formats": list(formats),
    }
    if job.source_language is not None:
        payload["source_language"] = job.source_language
    return payload


def uses(validated: BaseModel) -> list[StepUse]:
    """Transcription, translation and speech: each priced once and checked at create (a
    ``voice`` the speech model does not take is the request's 400 then)."""
    assert isinstance(validated, DubbingInput)
    return [
        autocaptions.step_use(validated.video_url, validated.source_language),
        StepUse(
            type=translation.TYPE,
            field=TRANSLATION_FIELD,
            input=translation_input([_PRICED_SEGMENT], validated),
        ),
        StepUse(type=SPEECH, field=SPEECH_FIELD, input=speech_input(_PRICED_TEXT, validated.voice)),
        *(
            # Priced and checked with the request's video for both inputs: the dubbed track
            # is only made later (a lip-sync model reserves its longest output whatever its inputs).
            [
                StepUse(
                    type=LIPSYNC_TYPE,
                    field=LIPSYNC_FIELD,
                    input={"video_url": validated.video_url, "audio_url": validated.video_url},
                )
            ]
            if validated.lipsync
            else []
        ),
    ]


def plan_outputs(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """The video at its own size (scaled down past 1080p worth of pixels), frame rate and
    length, with a mono dubbed track; then one caption file per format, as long as the video.
    ``segments`` is counted as the sandbox's transcript of that much sound would have them."""
    assert isinstance(validated, DubbingInput)
    info = probe(fetcher.fetch(validated.video_url), max_seconds=MAX_SECONDS)
    _check_sound(info)
    _check_lipsync(validated, info)
    cues = autocaptions.planned(info.duration_s, validated.target_language)
    width, height = fit_size(info.width, info.height, MAX_PIXELS)
    fps = output_rate(info.fps, MAX_FPS)
    frames = grid_frames(info.picture_s, fps)
    # A lip-synced dub is the lip-sync model's video of the same frame, rate and length.
    synced = {"lipsync_model": validated.lipsync_model} if validated.lipsync else {}
    video = planned_video(
        width,
        height,
        frames,
        fps,
        has_audio=True,
        audio_channels=1,
        language=validated.target_language,
        segments=len(cues),
        **synced,
    )
    captions_files = [
        PlannedOutput(transcripts.FORMAT_TYPES[fmt], duration_s=round(info.duration_s, 3))
        for fmt in validated.output_formats
    ]
    return [video, *captions_files]


SPEC = ModelSpec(
    id="builtin/dub",
    name="Dub a video",
    type=TYPE,
    input_model=DubbingInput,
    credits=20,
    description="Dubs a video (up to 10 minutes) into another language: its speech transcribed, "
    "translated and spoken again segment by segment on the same timing, replacing its sound; "
    "the translation also as SRT / WebVTT, optionally burnt in. The transcription, translation "
    "and speech models' prices are added.",
    category="video",
    timeout_s=3600,
    output_kind="video",
    plan=plan_outputs,
    uses=uses,
)


def availability(registry: EngineRegistry) -> Availability:
    """Runnable with a live key when some real model of each step's type can run here; else
    unavailable, saying what each step's models need (e.g. an OpenAI key)."""
    missing = []
    for type_ in (autocaptions.TRANSCRIPTION, translation.TYPE, SPEECH):
        real = [
            spec.id
            for spec in registry.models(type_)
            if (found := registry.get(spec.id)) is not None and found.engine.name != SANDBOX_ENGINE
        ]
        if any(registry.availability(model_id).available for model_id in real):
            continue
        needs = "; ".join(f"{m}: {registry.availability(m).reason}" for m in real)
        missing.append(f"no {type_} model can run here ({needs or 'none installed'})")
    return Availability.missing("; ".join(missing)) if missing else Availability.ok()


def _check_sound(info: VideoInfo) -> None:
    if not info.has_audio:
        raise InvalidInput("The video has no sound to dub.")


def _check_lipsync(job: DubbingInput, info: VideoInfo) -> None:
    if job.lipsync and info.duration_s > LIPSYNC_MAX_S:
        raise InvalidInput(_too_long(info.duration_s))


def run(ctx: RunContext, registry: EngineRegistry | None = None) -> None:
    job = ctx.input
    assert isinstance(job, DubbingInput)
    if registry is None:
        raise EngineError("Dubbing needs the engine registry to run its steps.")
    if job.translation_model is None or job.speech_model is None:
        raise EngineError("No translation or speech model was chosen for this job.")
    source = ctx.fetcher.fetch(job.video_url)
    ctx.check_cancelled()
    info = probe(source, max_seconds=MAX_SECONDS)
    _check_sound(info)
    _check_lipsync(job, info)  # before any step is paid for
    if job.lipsync and job.lipsync_model is None:
        raise EngineError("No lip-sync model was chosen for this job.")
    # The segments' count (one speech step each) is known after the transcription: the bar is
    # laid out again then, with the transcription's share the same in both layouts.
    first = Composition(ctx, registry, {autocaptions.STEP: 2, "rest": 8})
    heard = _hear(first, job, source)
    steps = Composition(ctx, registry, progress_weights(len(heard), lipsync=job.lipsync))
    said = _translate(steps, job, heard)
    spoken = _speak_all(steps, registry, job, said)
    with steps.stage("mix"):
        track = dub_track(said, _decoded(spoken, ctx.check_cancelled), info.duration_s)
    with steps.stage("render") as progress:
        rendered = _render(ctx, job, source, info, said, track, progress)
    ctx.add_output(_lipsynced(ctx, steps, job, rendered, track) if job.lipsync else rendered)
    found = transcripts.Transcript(
        " ".join(cue.text for cue in said),
        job.target_language,
        info.duration_s,
        tuple(transcripts.Segment(cue.start, cue.end, cue.text) for cue in said),
    )
    for output in transcripts.write_outputs(found, job.output_formats, ctx.output_path):
        ctx.add_output(output)
    ctx.progress(1.0)


def progress_weights(segments: int, *, lipsync: bool = False) -> dict[str, float]:
    """Shares of the bar, roughly as the time each part takes (a tenth of it per step: 8
    after the transcription's 2, as the first layout has it; lip-sync takes 2 of the 8)."""
    weights: dict[str, float] = {autocaptions.STEP: 2, "translate": 1}
    weights.update({f"speak-{i + 1}": 3 / segments for i in range(segments)})
    weights.update({"mix": 0.5, "render": 1.5 if lipsync else 3.5})
    if lipsync:
        weights[LIPSYNC_STEP] = 2
    return weights


def _lipsynced(
    ctx: RunContext, steps: Composition, job: DubbingInput, rendered: OutputFile, track: Samples
) -> OutputFile:
    """The rendered dub with its speakers' lips moved to the dubbed track by the lip-sync
    model (its sound is that track, as long as the video: the model's default ``loop`` mode
    then gives the video's length)."""
    assert job.lipsync_model is not None
    sound = ctx.output_path(".wav")
    write_audio(sound, track, AUDIO_RATE, "wav")
    steps.share(_DUBBED_VIDEO, rendered.path)
    steps.share(_DUBBED_SOUND, sound)
    payload = {"video_url": _DUBBED_VIDEO, "audio_url": _DUBBED_SOUND}
    outputs = steps.run_model(LIPSYNC_STEP, job.lipsync_model, payload)
    videos = [output for output in outputs if output.content_type == "video/mp4"]
    if not videos:
        raise EngineError(f"{job.lipsync_model} gave no MP4 video.")
    synced = videos[0]
    return OutputFile(
        synced.path,
        "video/mp4",
        width=synced.width,
        height=synced.height,
        duration_s=synced.duration_s,
        extra={**rendered.extra, "lipsync_model": job.lipsync_model},
    )


def _hear(steps: Composition, job: DubbingInput, source: Path) -> list[Cue]:
    """The video's speech as timed segments, their whole text (captions cut theirs: a dub must
    say every word), from one transcription step that reads the fetched ``source``."""
    if job.transcription_model is None:
        raise EngineError("No transcription model was chosen for this job.")
    steps.share(job.video_url, source)
    use = autocaptions.step_use(job.video_url, job.source_language)
    outputs = steps.run_model(autocaptions.STEP, job.transcription_model, dict(use.input))
    heard = _transcript(outputs, job.transcription_model)
    cues = [
        Cue(s.start, s.end, s.text.strip()[: translation.MAX_LINE_CHARS])
        for s in heard.segments
        if s.text.strip() and s.end > s.start >= 0
    ]
    if not cues:
        raise InvalidInput("No speech was found in the video's sound to dub.")
    return sorted(cues, key=lambda cue: (cue.start, cue.end))


def _transcript(outputs: Sequence[OutputFile], model_id: str) -> transcripts.Transcript:
    """The JSON transcript among a step's outputs."""
    found = [o for o in outputs if o.content_type == transcripts.FORMAT_TYPES["json"]]
    if not found:
        raise EngineError(f"{model_id} gave no JSON transcript.")
    try:
        return transcripts.read_json(found[0].path)
    except ValueError as exc:
        raise EngineError(f"{model_id} gave a transcript that does not read: {exc}") from exc


def _translate(steps: Composition, job: DubbingInput, heard: Sequence[Cue]) -> list[Cue]:
    """The segments in the target language, on the same times."""
    assert job.translation_model is not None
    segments = [{"start": c.start, "end": c.end, "text": c.text} for c in heard]
    outputs = steps.run_model("translate", job.translation_model, translation_input(segments, job))
    translated = _transcript(outputs, job.translation_model)
    if len(translated.segments) != len(heard):
        raise EngineError(f"{job.translation_model} translated a different number of segments.")
    # A segment translated to nothing is kept silent (and out of the captions).
    return [
        Cue(cue.start, cue.end, segment.text)
        for cue, segment in zip(heard, translated.segments, strict=True)
    ]


def _speak_all(
    steps: Composition, registry: EngineRegistry, job: DubbingInput, said: Sequence[Cue]
) -> list[Path | None]:
    """Every segment said, :data:`SPEECH_PARALLEL` at a time, in the segments' order. A failed
    or cancelled step stops the segments not yet started; those in flight finish first."""
    with concurrent.futures.ThreadPoolExecutor(SPEECH_PARALLEL, "dub-speak") as pool:
        futures = [
            pool.submit(_speak, steps, registry, job, index, cue.text)
            for index, cue in enumerate(said)
        ]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _speak(
    steps: Composition, registry: EngineRegistry, job: DubbingInput, index: int, text: str
) -> Path | None:
    """One segment said by the speech model: its audio file (none for an empty segment)."""
    if not text.strip():
        return None
    assert job.speech_model is not None
    payload = speech_input(text, job.voice)
    registered = registry.get(job.speech_model)
    fields = registered.spec.input_model.model_fields if registered is not None else {}
    # Models that take the language (espeak picks its voice by it) are told it; the others
    # speak the text's.
    if "language" in fields:
        payload["language"] = job.target_language
    return steps.run_model(f"speak-{index + 1}", job.speech_model, payload)[0].path


def _decoded(files: Sequence[Path | None], check_cancelled: Callable[[], None]) -> list[Samples]:
    """Each segment's speech as mono samples at the track's rate (empty for none)."""
    return [
        read_audio(path, rate=AUDIO_RATE, check_cancelled=check_cancelled)
        if path is not None
        else np.zeros(0, dtype=np.float32)
        for path in files
    ]


def slots(cues: Sequence[Cue], duration_s: float) -> list[tuple[float, float]]:
    """Each segment's slot: its start to the next one's start (the video's end for the last)."""
    starts = [cue.start for cue in cues]
    return [
        (start, max(start, min(duration_s, starts[i + 1] if i + 1 < len(starts) else duration_s)))
        for i, start in enumerate(starts)
    ]


def fit(speech: Samples, room: int, rate: int = AUDIO_RATE) -> Samples:
    """``speech`` made to take at most ``room`` samples: as it is when it fits; sped up (pitch
    kept) by what it needs, up to :data:`MAX_TEMPO`; then cut at ``room`` with a short fade."""
    speech = _trim_silence(speech)
    if len(speech) <= room or room <= 0:
        return speech[: max(0, room)]
    tempo = min(MAX_TEMPO, len(speech) / room)
    faster = stretch(speech, tempo, rate)
    if len(faster) <= room:
        return faster
    cut = faster[:room].copy()
    fade = min(room, int(FADE_S * rate))
    if fade:
        cut[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return cut


def stretch(samples: Samples, tempo: float, rate: int) -> Samples:
    """``samples`` played ``tempo`` times faster at the same pitch (FFmpeg's ``atempo``)."""
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", channels=1)
    tempo_filter = graph.add("atempo", f"{tempo:.4f}")
    sink = graph.add("abuffersink")
    source.link_to(tempo_filter)
    tempo_filter.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    frame.sample_rate = rate
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    pieces: list[np.ndarray] = []
    while True:
        try:
            out = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        pieces.append(np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1))
    return np.concatenate(pieces) if pieces else samples[:0]


def _trim_silence(samples: Samples, level: float = 0.01) -> Samples:
    """Drop the near-silent start and end a speech engine leaves around a sentence."""
    loud = np.flatnonzero(np.abs(samples) > level)
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] : loud[-1] + 1]


def dub_track(cues: Sequence[Cue], spoken: Sequence[Samples], duration_s: float) -> Samples:
    """The dubbed sound: each segment's speech fitted into its slot, silence elsewhere."""
    track = np.zeros(max(1, round(duration_s * AUDIO_RATE)), dtype=np.float32)
    for (start, end), speech in zip(slots(cues, duration_s), spoken, strict=True):
        first = round(start * AUDIO_RATE)
        room = min(len(track), round(end * AUDIO_RATE)) - first
        part = fit(np.asarray(speech, dtype=np.float32), room)
        track[first : first + len(part)] = part
    return track


def copies_video(job: DubbingInput, info: VideoInfo) -> bool:
    """Whether the render may copy the video's packets rather than re-encode them: nothing is
    drawn on the picture (no captions burnt in; lip-sync is sent the re-encoded render, as it
    always was) and the re-encode would keep its size and frame rate."""
    same_size = fit_size(info.width, info.height, MAX_PIXELS) == (info.width, info.height)
    return not job.subtitles and not job.lipsync and same_size and info.fps <= MAX_FPS


def _render(
    ctx: RunContext,
    job: DubbingInput,
    source: Path,
    info: VideoInfo,
    cues: list[Cue],
    track: Samples,
    progress: Callable[[float], None],
) -> OutputFile:
    """The dubbed MP4: the video copied with the track when :func:`copies_video` (and its
    codec allows), else re-encoded."""
    if copies_video(job, info):
        path = ctx.output_path(".mp4")
        try:
            copied = copy_with_audio(
                source, path, track, check_cancelled=ctx.check_cancelled, progress=progress
            )
        except CannotCopy:
            pass  # re-encoded below
        else:
            return OutputFile(
                path,
                "video/mp4",
                width=copied.width,
                height=copied.height,
                duration_s=round(copied.duration_s, 3),
                extra={"language": job.target_language, "segments": len(cues)},
            )
    return _reencode(ctx, job, source, info, cues, track, progress)


def _reencode(
    ctx: RunContext,
    job: DubbingInput,
    source: Path,
    info: VideoInfo,
    cues: list[Cue],
    track: Samples,
    progress: Callable[[float], None],
) -> OutputFile:
    """The video decoded onto its frame grid, scaled down past :data:`MAX_PIXELS`, captions
    burnt in when asked, and encoded again (H.264) with the track."""
    width, height = fit_size(info.width, info.height, MAX_PIXELS)
    fps = output_rate(info.fps, MAX_FPS)
    burner = (
        captions.CaptionBurner(
            [cue for cue in cues if cue.text.strip()],
            width,
            height,
            SubtitleStyle().caption_style("bottom"),
        )
        if job.subtitles
        else None
    )
    expected = max(1.0, info.duration_s * float(fps))
    path = ctx.output_path(".mp4")
    with VideoWriter(path, width, height, fps=fps, audio=track) as writer:
        for index, t, frame in frames_on_grid(source, fps, max_seconds=MAX_SECONDS):
            if index % BATCH == 0:
                ctx.check_cancelled()
                progress(min(1.0, index / expected))
            picture = resize(frame, width, height)
            writer.write(burner.burn(picture, t) if burner is not None else picture)
        if writer.frames == 0:
            raise InvalidInput("The video has no frames that could be decoded.")
    return OutputFile(
        path,
        "video/mp4",
        width=width,
        height=height,
        duration_s=round(writer.duration_s, 3),
        extra={"language": job.target_language, "segments": len(cues)},
    )
