"""Subtitles: burn given SRT / WebVTT text or timed segments into a video, or captions generated
from its own speech when the request gives none (seed 003's auto-generated subtitles: the sound
is transcribed by a transcription model run as a step, see :mod:`.autocaptions`).

The video keeps its size (up to 1080p worth of pixels; larger is scaled down) and frame rate, and
its sound (re-encoded to AAC). Each cue is drawn once with
:mod:`~mediastudio.engines.media.captions` and alpha-blended onto the frames it covers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, Self

from PIL import ImageColor
from pydantic import AfterValidator, BaseModel, Field, model_validator

from mediastudio.engines.builtin.video_tools import autocaptions
from mediastudio.engines.builtin.video_tools.autocaptions import CaptionSource
from mediastudio.engines.builtin.video_tools.frames import (
    BATCH,
    fit_size,
    frames_on_grid,
    grid_frames,
    output_rate,
    resize,
)
from mediastudio.engines.compose import Composition
from mediastudio.engines.contract import (
    EngineError,
    InputFetcher,
    InvalidInput,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
    StepUse,
)
from mediastudio.engines.inputs import StrictInput
from mediastudio.engines.media import captions
from mediastudio.engines.media.audio import read_audio
from mediastudio.engines.media.captions import MAX_CUE_CHARS, MAX_CUE_TIME_S, MAX_CUES, Cue
from mediastudio.engines.media.video import (
    AUDIO_RATE,
    VideoInfo,
    VideoWriter,
    planned_video,
    probe,
)
from mediastudio.engines.registry import EngineRegistry
from mediastudio.engines.schema import JsonSchema, null, one_of_words, present

MAX_SECONDS = 600.0  # ten minutes of source video
MAX_PIXELS = 1920 * 1080
MAX_FPS = 60


def _colour(value: str) -> str:
    """Any CSS colour Pillow knows (``#RRGGBB``, ``#RRGGBBAA``, ``rgb()``, names) or
    ``transparent``, normalised to ``#rrggbbaa``."""
    if value.lower() in ("transparent", "none"):
        return "#00000000"
    try:
        rgba = ImageColor.getrgb(value)
    except ValueError:
        raise ValueError(f"not a colour: {value!r}") from None
    red, green, blue, alpha = (*rgba, 255) if len(rgba) == 3 else rgba
    return f"#{red:02x}{green:02x}{blue:02x}{alpha:02x}"


Colour = Annotated[str, AfterValidator(_colour)]
COLOUR_FIELDS = ("color", "background_color", "outline_color")


def colour_pattern() -> str:
    """The colours :func:`_colour` takes, for the schema: hex forms and (lower-case) names."""
    names = one_of_words([*ImageColor.colormap, "transparent", "none"])
    return f"^(?:#(?:[0-9a-fA-F]{{3,4}}|[0-9a-fA-F]{{6}}|[0-9a-fA-F]{{8}})|{names})$"


def rgba(colour: str) -> captions.RGBA:
    value = int(colour.lstrip("#"), 16)
    return (value >> 24 & 255, value >> 16 & 255, value >> 8 & 255, value & 255)


class SubtitleStyle(StrictInput):
    font_size: int | None = Field(
        None, ge=8, le=200, description="Text height in pixels; default 5% of the video's height"
    )
    color: Colour = Field(
        "#ffffffff", max_length=40, description="Text colour: #RRGGBB, #RRGGBBAA or a CSS name"
    )
    background_color: Colour = Field(
        "#000000a0",
        max_length=40,
        description="Box behind the text (#RRGGBBAA for translucency; 'transparent' for none)",
    )
    outline_width: int = Field(0, ge=0, le=10, description="Text outline in pixels (0: none)")
    outline_color: Colour = Field("#000000ff", max_length=40, description="Outline colour")

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        colours = {name: {"pattern": colour_pattern()} for name in COLOUR_FIELDS}
        return [*super().schema_rules(), {"properties": colours}]

    def caption_style(self, position: captions.Position) -> captions.CaptionStyle:
        return captions.CaptionStyle(
            font_size=self.font_size,
            color=rgba(self.color),
            background_color=rgba(self.background_color),
            outline_width=self.outline_width,
            outline_color=rgba(self.outline_color),
            position=position,
        )


class SubtitleSegment(StrictInput):
    start: float = Field(ge=0, le=MAX_CUE_TIME_S, description="Start, seconds from the beginning")
    end: float = Field(gt=0, le=MAX_CUE_TIME_S, description="End, seconds from the beginning")
    text: str = Field(min_length=1, max_length=MAX_CUE_CHARS, description="What to show")

    # end > start is not in the schema: JSON Schema cannot compare two values.
    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class SubtitlesInput(CaptionSource):
    video_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description="The video: an https URL, a data: URI or an uploaded file's URL",
    )
    subtitles: str | None = Field(
        None,
        min_length=1,
        max_length=1_000_000,
        description="SRT or WebVTT text (told apart by the WEBVTT header); or give segments; "
        "neither: the captions are generated from the video's speech",
    )
    segments: list[SubtitleSegment] | None = Field(
        None,
        min_length=1,
        max_length=MAX_CUES,
        description="Timed text; or give subtitles; neither: the captions are generated",
    )
    style: SubtitleStyle = Field(default_factory=SubtitleStyle, description="How text looks")
    position: Literal["bottom", "top", "center"] = Field("bottom", description="Where text sits")

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        # That the text parses as SRT or WebVTT is not in the schema (the description says it).
        generated = [null("subtitles"), null("segments")]
        sources = [
            {"allOf": [present("subtitles", "string"), null("segments")]},
            {"allOf": [present("segments", "array"), null("subtitles")]},
            {"allOf": generated},
        ]
        rule = {"description": "subtitles or segments, at most one", "anyOf": sources}
        only_generated = {
            "description": "language and transcription_model only when captions are generated",
            "anyOf": [
                {"allOf": generated},
                {"allOf": [null("language"), null("transcription_model")]},
            ],
        }
        return [*super().schema_rules(), rule, only_generated]

    @property
    def generates_captions(self) -> bool:
        """No text given: the captions are made from the video's speech."""
        return self.subtitles is None and self.segments is None

    @model_validator(mode="after")
    def _one_source_of_text(self) -> Self:
        if self.subtitles is not None and self.segments is not None:
            raise ValueError("give subtitles (SRT or WebVTT text) or segments, not both")
        if not self.generates_captions and (
            self.language is not None or self.transcription_model is not None
        ):
            raise ValueError(
                "language and transcription_model apply only to generated captions "
                "(leave out subtitles and segments)"
            )
        if self.subtitles is not None:
            try:
                captions.parse_subtitles(self.subtitles)
            except InvalidInput as exc:  # a 400 at once rather than a failed job later
                raise ValueError(exc.message) from None
        return self

    def cues(self) -> list[Cue]:
        """The cues given (not for generated captions: those come from the transcription)."""
        if self.subtitles is not None:
            return captions.parse_subtitles(self.subtitles)
        assert self.segments is not None
        return captions.cues_from_segments((s.start, s.end, s.text) for s in self.segments)


def uses(validated: BaseModel) -> list[StepUse]:
    """Generated captions run a transcription model as a step (priced and checked at create)."""
    assert isinstance(validated, SubtitlesInput)
    if not validated.generates_captions:
        return []
    return [autocaptions.step_use(validated.video_url, validated.language)]


def plan_outputs(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """The video's own size (scaled down past 1080p worth of pixels), frame rate, length and
    sound, from its header. ``captions_drawn`` (distinct captions on screen) is estimated as the
    cues that start before the video ends; generated captions are counted as the sandbox's
    transcript of the video's sound would be (a line every two seconds)."""
    assert isinstance(validated, SubtitlesInput)
    info = probe(fetcher.fetch(validated.video_url), max_seconds=MAX_SECONDS)
    if validated.generates_captions:
        _check_sound(info.has_audio)
        cues = autocaptions.planned(info.duration_s, validated.language)
    else:
        cues = validated.cues()
    width, height = fit_size(info.width, info.height, MAX_PIXELS)
    fps = output_rate(info.fps, MAX_FPS)
    frames = grid_frames(info.picture_s, fps)
    shown = sum(1 for cue in cues if cue.start < frames / fps)
    return [
        planned_video(
            width,
            height,
            frames,
            fps,
            has_audio=info.has_audio,
            audio_channels=2,  # the source's sound, read as stereo
            cues=len(cues),
            captions_drawn=shown,
        )
    ]


SPEC = ModelSpec(
    id="builtin/subtitles",
    name="Burn in subtitles",
    type="subtitles",
    input_model=SubtitlesInput,
    credits=5,
    description="Burns SRT, WebVTT or timed segments into a video (up to 10 minutes), keeping "
    "its size, frame rate and sound; with none given, captions generated from its speech by a "
    "transcription model (whose price is added).",
    category="video",
    timeout_s=1800,
    output_kind="video",
    plan=plan_outputs,
    uses=uses,
)


def _check_sound(has_audio: bool) -> None:
    if not has_audio:
        raise InvalidInput("The video has no sound to make captions from; give subtitles.")


def run(ctx: RunContext, registry: EngineRegistry | None = None) -> None:
    """Burn the cues in; generated ones first come from a transcription step (``registry``
    runs it), which takes the first part of the progress bar."""
    validated = ctx.input
    assert isinstance(validated, SubtitlesInput)
    source = ctx.fetcher.fetch(validated.video_url)
    ctx.check_cancelled()
    info = probe(source, max_seconds=MAX_SECONDS)
    if validated.generates_captions:
        _check_sound(info.has_audio)
        if registry is None:
            raise EngineError("Generated captions need the engine registry to run a step.")
        steps = Composition(ctx, registry, {autocaptions.STEP: 1, "burn": 3})
        cues = autocaptions.transcribe(
            steps,
            validated.transcription_model,
            validated.video_url,
            source,
            validated.language,
        )
        with steps.stage("burn") as progress:
            _burn(ctx, validated, source, info, cues, progress)
    else:
        _burn(ctx, validated, source, info, validated.cues(), ctx.progress)
    ctx.progress(1.0)


def _burn(
    ctx: RunContext,
    validated: SubtitlesInput,
    source: Path,
    info: VideoInfo,
    cues: list[Cue],
    progress: Callable[[float], None],
) -> None:
    width, height = fit_size(info.width, info.height, MAX_PIXELS)
    fps = output_rate(info.fps, MAX_FPS)
    audio = (
        read_audio(
            source,
            rate=AUDIO_RATE,
            mono=False,
            max_duration_s=MAX_SECONDS + 5,
            check_cancelled=ctx.check_cancelled,
        )
        if info.has_audio
        else None
    )
    progress(0.05)
    burner = captions.CaptionBurner(
        cues, width, height, validated.style.caption_style(validated.position)
    )
    expected = max(1.0, info.duration_s * float(fps))
    path = ctx.output_path(".mp4")
    with VideoWriter(path, width, height, fps=fps, audio=audio) as writer:
        for index, t, frame in frames_on_grid(source, fps, max_seconds=MAX_SECONDS):
            if index % BATCH == 0:
                ctx.check_cancelled()
                progress(0.05 + 0.95 * min(1.0, index / expected))
            writer.write(burner.burn(resize(frame, width, height), t))
        if writer.frames == 0:
            raise InvalidInput("The video has no frames that could be decoded.")
    ctx.add_output(
        OutputFile(
            path,
            "video/mp4",
            width=width,
            height=height,
            duration_s=round(writer.duration_s, 3),
            extra={"cues": len(cues), "captions_drawn": burner.rendered},
        )
    )
