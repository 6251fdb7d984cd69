"""``builtin/script-video``: a script made into a narrated video, one generated clip a scene
(seed 001's script-to-video and b-roll), composed from other models' steps:

1. the scenes: the request's ``scenes``, or its ``script`` cut at blank lines (paragraphs), or,
   for one paragraph, at sentence ends (:func:`scenes_of`);
2. ``speak-N``: a speech model (``speech_model``, with ``voice``) says each scene; the scene
   lasts as long as its voice-over and a short breath after it, so the video's length follows
   the speech;
3. the pictures, by whichever of three paths the configured models allow (:func:`visual_path`,
   decided when the job is created and priced):

   - ``text-to-video``: a video model that takes a prompt alone (``video_model``) films each
     scene from its ``visual_prompt`` (its text when none is given), ``clip-N``;
   - ``image-to-video``: an image model (``image_model``) draws a still of each scene
     (``still-N``), then a video model that animates a first frame moves it (``clip-N``);
   - ``card``: without any image model, a still is painted here (a gradient in a colour per
     scene) and animated by the video model (``builtin/image-to-video`` pans and zooms it),
     so a server with only built-in engines still makes the video;
4. ``render``: each clip fitted to its frame (cropped to fill) and to its scene (cut, or its
   last frame held), hard cuts between scenes, the voice-overs as one mono track, captions
   timed to each scene's speech burnt in (``captions``), one H.264 + AAC MP4 in
   ``aspect_ratio``.

Pricing is the catalog's (:class:`~mediastudio.engines.contract.StepUse`): this model's own price
plus one job of each step model per scene (a speech job, a video job asked for the scene's
estimated length, and an image job on the image path), reserved at create and refunded when a
step fails. A video model's clip is asked for the scene's *estimated* length (the one priced),
whatever the speech then takes.
"""

from __future__ import annotations

import base64
import colorsys
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field, ValidationError, model_validator

from mediastudio.engines.builtin.compositions import assembly
from mediastudio.engines.builtin.compositions.cues import caption_overlay, sentence_cues
from mediastudio.engines.builtin.compositions.script import split_sentences
from mediastudio.engines.builtin.video_tools.image_to_video import (
    RESOLUTIONS as IMAGE_TO_VIDEO_SIDES,
)
from mediastudio.engines.compose import Composition
from mediastudio.engines.contract import (
    Availability,
    EngineError,
    InputFetcher,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
    StepUse,
)
from mediastudio.engines.inputs import StrictInput
from mediastudio.engines.media.audio import Samples, read_audio
from mediastudio.engines.media.captions import Cue
from mediastudio.engines.media.video import AUDIO_RATE
from mediastudio.engines.providers.openai.mapping import speech_seconds
from mediastudio.engines.registry import SANDBOX_ENGINE, EngineRegistry
from mediastudio.engines.schema import JsonSchema, present

TYPE = "script-video"
CREDITS = 10
FPS = 24
MAX_SCENES = 12
# About 60 s of speech at a usual pace (the longest commercial): a short-form video, and a bound
# on the render (and on the sandbox's placeholder, whose length is the estimated one).
MAX_SCRIPT_CHARS = 900
MAX_SCENE_CHARS = 400
SCENE_TAIL_S = 0.3  # a breath after each scene's voice-over, before the cut
SILENCE_LEVEL = 10 ** (-45 / 20)  # trimmed from the ends of each voice-over
MAX_CLIP_S = 10  # the longest clip a video step is asked for (VideoInput's bound)
RESOLUTIONS = {"240p": 240, "360p": 360, "480p": 480, "720p": 720, "1080p": 1080}
# Until it is spoken, a scene's length is an estimate (the speech model decides it).
TEXT_TOLERANCE = 0.5
TEXT_MIN_TOLERANCE_S = 1.0
SPEECH, VIDEO, IMAGE = "speech", "video", "image"
SPEECH_FIELD, VIDEO_FIELD, IMAGE_FIELD = "speech_model", "video_model", "image_model"
CARD_LONG_SIDE = 960
_PARAGRAPHS = re.compile(r"\n\s*\n")
# A 1x1 PNG: what an image-to-video step is priced and checked with before its still exists.
_PRICED_FRAME = "data:image/png;base64," + base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
    )
).decode("ascii")

Aspect = Literal["9:16", "16:9", "1:1"]
Resolution = Literal["240p", "360p", "480p", "720p", "1080p"]
VisualPath = Literal["text-to-video", "image-to-video", "card"]


class Scene(StrictInput):
    text: str = Field(
        min_length=1, max_length=MAX_SCENE_CHARS, description="What the voice-over says"
    )
    visual_prompt: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="What the scene shows; the text when left out",
    )


class ScriptVideoInput(StrictInput):
    script: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_SCRIPT_CHARS,
        description="The script: one scene per paragraph (blank lines between), or per "
        "sentence when it is one paragraph. Not together with scenes",
    )
    scenes: list[Scene] | None = Field(
        None,
        min_length=1,
        max_length=MAX_SCENES,
        description="The scenes, each with its voice-over text and optional visual_prompt "
        f"(their texts {MAX_SCRIPT_CHARS} characters at most in all). Not together with script",
    )
    aspect_ratio: Aspect = Field("9:16", description="Shape of the video")
    resolution: Resolution = Field("720p", description="The frame's short side")
    voice: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="The speech model's voice (GET /api/v1/voices); its default when left out",
    )
    style: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Added to every scene's visual prompt (e.g. cinematic, documentary)",
    )
    captions: bool = Field(True, description="Burn captions timed to the voice-over in")
    speech_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The speech model (GET /api/v1/models?type=speech); the catalog's default "
        "when left out",
    )
    video_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The video model that films or animates each scene (GET /api/v1/models?"
        "type=video); the catalog's default when left out",
    )
    image_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="An image model that draws each scene's still for an image-to-video model; "
        "chosen when the video models here need a first frame",
    )
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Fixes the randomness")

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        rule = {
            "description": "a script or scenes, not both",
            "oneOf": [present("script", "string"), present("scenes", "array")],
        }
        return [*super().schema_rules(), rule]

    @model_validator(mode="after")
    def _script_or_scenes(self) -> Self:
        if (self.script is None) == (self.scenes is None):
            raise ValueError("give a script or scenes, not both")
        if self.scenes is not None and sum(len(s.text) for s in self.scenes) > MAX_SCRIPT_CHARS:
            raise ValueError(f"the scenes' texts are {MAX_SCRIPT_CHARS} characters at most in all")
        return self


def scenes_of(job: ScriptVideoInput) -> list[Scene]:
    """The scenes: as given; else the script's paragraphs, or, for one paragraph, its sentences.
    A part too long for one scene is cut at sentence ends (then words); past
    :data:`MAX_SCENES` parts, the shortest neighbouring pair is merged until they fit (the
    script's length bounds a merged pair well under a scene's)."""
    if job.scenes is not None:
        return list(job.scenes)
    assert job.script is not None
    parts = [" ".join(p.split()) for p in _PARAGRAPHS.split(job.script) if p.strip()]
    if len(parts) < 2:
        parts = split_sentences(" ".join(job.script.split()))
    parts = [piece for part in parts for piece in _pieces(part)] or [job.script.strip()]
    while len(parts) > MAX_SCENES:
        at = min(range(len(parts) - 1), key=lambda i: len(parts[i]) + len(parts[i + 1]))
        parts[at : at + 2] = [f"{parts[at]} {parts[at + 1]}"]
    return [Scene(text=part) for part in parts]


def _pieces(text: str) -> list[str]:
    """``text`` in pieces of at most :data:`MAX_SCENE_CHARS`: whole sentences where they fit,
    else words (a word longer than that is cut)."""
    if len(text) <= MAX_SCENE_CHARS:
        return [text]
    units = split_sentences(text)
    if len(units) < 2:
        units = [w[:MAX_SCENE_CHARS] for w in text.split()]
    pieces: list[str] = []
    for unit in units:
        if len(unit) > MAX_SCENE_CHARS:
            pieces += _pieces(unit)
        elif pieces and len(pieces[-1]) + 1 + len(unit) <= MAX_SCENE_CHARS:
            pieces[-1] = f"{pieces[-1]} {unit}"
        else:
            pieces.append(unit)
    return pieces


def visual_prompt(job: ScriptVideoInput, scene: Scene) -> str:
    prompt = scene.visual_prompt or scene.text
    if not job.style:
        return prompt
    end = "" if prompt.endswith((".", "!", "?")) else "."
    return f"{prompt}{end} Style: {job.style}"[:1000]


def estimated_seconds(scene: Scene) -> float:
    """About how long the scene lasts: its text said at a usual pace, and the breath after."""
    return speech_seconds(scene.text, 1.0) + SCENE_TAIL_S


def clip_seconds(scene: Scene) -> int:
    """The clip a video step is asked for: the scene's estimated length, in whole seconds."""
    return max(1, min(MAX_CLIP_S, math.ceil(estimated_seconds(scene))))


def speech_input(job: ScriptVideoInput, scene: Scene) -> dict[str, object]:
    payload: dict[str, object] = {"text": scene.text}
    if job.voice is not None:
        payload["voice"] = job.voice
    return payload


def image_input(job: ScriptVideoInput, scene: Scene) -> dict[str, object]:
    payload: dict[str, object] = {"prompt": visual_prompt(job, scene)}
    payload["aspect_ratio"] = job.aspect_ratio
    if job.seed is not None:
        payload["seed"] = job.seed
    return payload


def video_input(
    job: ScriptVideoInput, index: int, scene: Scene, first_frame: str | None
) -> dict[str, object]:
    """A scene's clip: its prompt, its priced length, the video's aspect (and a first frame on
    the image paths)."""
    payload: dict[str, object] = {
        "prompt": visual_prompt(job, scene),
        "duration": clip_seconds(scene),
        "aspect_ratio": job.aspect_ratio,
        "fps": FPS,
    }
    if first_frame is not None:
        payload["first_frame_image"] = first_frame
    if job.seed is not None:
        payload["seed"] = (job.seed + index) % 2**32
    return payload


def _takes(spec: ModelSpec, payload: dict[str, object]) -> bool:
    try:
        spec.input_model.model_validate(payload)
    except ValidationError:
        return False
    return True


def _runnable(registry: EngineRegistry, type_: str) -> list[ModelSpec]:
    """The real (not sandbox) models of ``type_`` that can run here now."""
    return [
        spec
        for spec in registry.models(type_)
        if (found := registry.get(spec.id)) is not None
        and found.engine.name != SANDBOX_ENGINE
        and registry.availability(spec.id).available
    ]


def visual_path(job: ScriptVideoInput, registry: EngineRegistry) -> VisualPath:
    """How the scenes get their pictures: an image model named means stills; else a video
    model that takes a prompt alone (the one named, or any that can run here) films them; else
    stills from an image model that can run here, or painted cards, are animated."""
    if job.image_model is not None:
        return "image-to-video"
    text_only = {"prompt": "A scene.", "duration": 1, "aspect_ratio": job.aspect_ratio}
    if job.video_model is not None:
        named = registry.get(job.video_model)
        if named is not None and _takes(named.spec, text_only):
            return "text-to-video"
    elif any(_takes(spec, text_only) for spec in _runnable(registry, VIDEO)):
        return "text-to-video"
    return "image-to-video" if _runnable(registry, IMAGE) else "card"


def availability(registry: EngineRegistry) -> Availability:
    """Runnable when some speech model and some video model can run here (a video model that
    animates a first frame is enough: the stills can be painted here)."""
    missing = [f"no {t} model can run here" for t in (SPEECH, VIDEO) if not _runnable(registry, t)]
    return Availability.missing("; ".join(missing)) if missing else Availability.ok()


def plan_size(job: ScriptVideoInput) -> tuple[int, int]:
    return assembly.frame_size(job.aspect_ratio, RESOLUTIONS[job.resolution])


def estimated_spans(scenes: Sequence[Scene]) -> list[tuple[float, float]]:
    spans, at = [], 0.0
    for scene in scenes:
        spoken = estimated_seconds(scene) - SCENE_TAIL_S
        spans.append((round(at, 3), round(at + spoken, 3)))
        at += spoken + SCENE_TAIL_S
    return spans


def plan_outputs(
    validated: BaseModel, fetcher: InputFetcher, path: VisualPath = "card"
) -> list[PlannedOutput]:
    """One MP4 of the aspect and resolution asked, with the voice-over as a mono track, as
    long as the scenes take to say (estimated: the speech model decides it)."""
    assert isinstance(validated, ScriptVideoInput)
    scenes = scenes_of(validated)
    spans = estimated_spans(scenes)
    seconds = spans[-1][1] + SCENE_TAIL_S
    width, height = plan_size(validated)
    frames = max(1, round(seconds * FPS))
    return [
        PlannedOutput(
            "video/mp4",
            width=width,
            height=height,
            duration_s=round(frames / FPS, 3),
            fps=FPS,
            has_audio=True,
            sample_rate=AUDIO_RATE,
            channels=1,
            duration_tolerance_s=TEXT_MIN_TOLERANCE_S + TEXT_TOLERANCE * seconds,
            extra=_fields(validated, scenes, spans, path),
        )
    ]


SPEC = ModelSpec(
    id="builtin/script-video",
    name="Script to video",
    type=TYPE,
    input_model=ScriptVideoInput,
    credits=CREDITS,
    description=(
        "A script made into a narrated video: one scene per paragraph or sentence, each said "
        "by a speech model and shown by a generated clip (a text-to-video model, or an "
        "image-to-video model on a generated still), captions timed to the speech, one MP4 in "
        "the aspect asked. The step models' prices are added, one job of each per scene."
    ),
    category="composition",
    timeout_s=3600,
    output_kind="video",
    plan=plan_outputs,
)


class ScriptVideo:
    """The composition; its ``uses`` and availability read the registry it is built with (which
    models can run here decides the visual path). ``short_side`` overrides the resolution."""

    def __init__(
        self, registry: EngineRegistry, *, fps: int = FPS, short_side: int | None = None
    ) -> None:
        self.registry = registry
        self.fps = fps
        self.short_side = short_side
        self.spec = replace(SPEC, uses=self.uses, plan=self.plan_outputs)

    def step_models(self) -> Sequence[str]:
        return ()  # chosen per request (see availability)

    def availability(self) -> Availability:
        return availability(self.registry)

    def uses(self, validated: BaseModel) -> list[StepUse]:
        """Per scene: its voice-over, its still on the image path, its clip; each priced and
        checked at create (a ``voice`` the speech model lacks is the request's 400 then)."""
        assert isinstance(validated, ScriptVideoInput)
        path = visual_path(validated, self.registry)
        first_frame = None if path == "text-to-video" else _PRICED_FRAME
        steps: list[StepUse] = []
        for index, scene in enumerate(scenes_of(validated)):
            steps.append(StepUse(SPEECH, SPEECH_FIELD, speech_input(validated, scene)))
            if path == "image-to-video":
                steps.append(StepUse(IMAGE, IMAGE_FIELD, image_input(validated, scene)))
            clip = video_input(validated, index, scene, first_frame)
            steps.append(StepUse(VIDEO, VIDEO_FIELD, clip))
        return steps

    def plan_outputs(self, validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
        assert isinstance(validated, ScriptVideoInput)
        planned = plan_outputs(validated, fetcher, visual_path(validated, self.registry))
        width, height = self.frame_size(validated)
        return [replace(item, width=width, height=height) for item in planned]

    def frame_size(self, job: ScriptVideoInput) -> tuple[int, int]:
        if self.short_side is None:
            return plan_size(job)
        return assembly.frame_size(job.aspect_ratio, self.short_side)

    def run(self, ctx: RunContext, registry: EngineRegistry) -> None:
        job = ctx.input
        assert isinstance(job, ScriptVideoInput)
        if job.speech_model is None or job.video_model is None:
            # The catalog names them when the job is created; a job without them was not.
            raise EngineError("No speech or video model was chosen for this job.")
        scenes = scenes_of(job)
        path = _run_path(job, registry)
        width, height = self.frame_size(job)
        steps = Composition(ctx, registry, progress_weights(len(scenes), path))

        voices = [self._speak(steps, job, index, scene) for index, scene in enumerate(scenes)]
        spans, track = voice_track(voices)
        clips = [
            self._clip(steps, registry, job, path, index, scene, (width, height))
            for index, scene in enumerate(scenes)
        ]
        shots = [
            assembly.Shot(clip, start, end + SCENE_TAIL_S)
            for clip, (start, end) in zip(clips, spans, strict=True)
        ]
        cues = sentence_cues([scene.text for scene in scenes], spans) if job.captions else []
        duration = spans[-1][1] + SCENE_TAIL_S
        output = ctx.output_path(".mp4")
        picture = assembly.Timeline(shots, width, height)
        try:
            with steps.stage("render") as progress:
                seconds = assembly.render(
                    ctx,
                    output,
                    width=width,
                    height=height,
                    fps=self.fps,
                    duration_s=duration,
                    picture=picture,
                    audio=track,
                    overlays=[caption_overlay(cues, width, height)] if cues else [],
                    progress=progress,
                )
        finally:
            picture.close()
        ctx.add_output(
            OutputFile(
                output,
                "video/mp4",
                width=width,
                height=height,
                duration_s=round(seconds, 3),
                extra=_fields(job, scenes, spans, path, cues),
            )
        )

    def _speak(
        self, steps: Composition, job: ScriptVideoInput, index: int, scene: Scene
    ) -> Samples:
        assert job.speech_model is not None
        outputs = steps.run_model(f"speak-{index + 1}", job.speech_model, speech_input(job, scene))
        sounds = [o for o in outputs if o.content_type.startswith("audio/")]
        if not sounds:
            raise EngineError(f"{job.speech_model} gave no sound for scene {index + 1}.")
        samples = trim_silence(read_audio(sounds[0].path, rate=AUDIO_RATE))
        if samples.size == 0:
            raise EngineError(f"{job.speech_model} said nothing for scene {index + 1}.")
        return samples

    def _clip(
        self,
        steps: Composition,
        registry: EngineRegistry,
        job: ScriptVideoInput,
        path: VisualPath,
        index: int,
        scene: Scene,
        size: tuple[int, int],
    ) -> Path:
        assert job.video_model is not None
        first_frame: str | None = None
        if path == "image-to-video":
            assert job.image_model is not None
            still = assembly.draw_still(
                steps,
                f"still-{index + 1}",
                job.image_model,
                image_input(job, scene),
                job.aspect_ratio,
                what=f"scene {index + 1}",
            )
            first_frame = assembly.data_uri(still)
        elif path == "card":
            with steps.stage(f"card-{index + 1}"):
                first_frame = assembly.data_uri(card(index, job.aspect_ratio))
        payload = video_input(job, index, scene, first_frame)
        payload.update(_hints(registry, job.video_model, payload, size))
        outputs = steps.run_model(f"clip-{index + 1}", job.video_model, payload)
        videos = [o for o in outputs if o.content_type.startswith("video/")]
        if not videos:
            raise EngineError(f"{job.video_model} gave no video for scene {index + 1}.")
        return videos[0].path


def _run_path(job: ScriptVideoInput, registry: EngineRegistry) -> VisualPath:
    """The path the job was priced for, read back from the models the catalog wrote in."""
    if job.image_model is not None:
        return "image-to-video"
    assert job.video_model is not None
    named = registry.get(job.video_model)
    text_only = {"prompt": "A scene.", "duration": 1, "aspect_ratio": job.aspect_ratio}
    if named is not None and _takes(named.spec, text_only):
        return "text-to-video"
    return "card"


def _hints(
    registry: EngineRegistry, model_id: str, payload: dict[str, object], size: tuple[int, int]
) -> dict[str, Any]:
    """Options only some video models take: built-in image-to-video's ``resolution`` (the
    smallest as large as the frame, so a small video is fast) and no silent track. Each is
    kept only when the model takes it."""
    registered = registry.get(model_id)
    if registered is None:
        return {}
    hints: dict[str, object] = {
        "resolution": assembly.step_resolution(*size, IMAGE_TO_VIDEO_SIDES),
        "silent_audio": False,
    }
    kept: dict[str, Any] = {}
    for name, value in hints.items():
        if name in registered.spec.input_model.model_fields and _takes(
            registered.spec, {**payload, **kept, name: value}
        ):
            kept[name] = value
    return kept


def card(index: int, aspect: str) -> Image.Image:
    """A painted still for scene ``index``: a diagonal gradient in a hue of its own (the golden
    angle apart, so neighbouring scenes differ), for an image-to-video model to move over."""
    across, down = (int(part) for part in aspect.split(":"))
    scale = CARD_LONG_SIDE / max(across, down)
    width, height = round(across * scale), round(down * scale)
    hue = (0.58 + index * 0.381966) % 1.0
    light = np.array(colorsys.hsv_to_rgb(hue, 0.55, 0.95)) * 255
    dark = np.array(colorsys.hsv_to_rgb((hue + 0.08) % 1.0, 0.85, 0.35)) * 255
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    mix = ((xs / width + ys / height) / 2)[..., None]
    pixels = light * (1 - mix) + dark * mix
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def voice_track(voices: Sequence[Samples]) -> tuple[list[tuple[float, float]], Samples]:
    """The voice-overs one after another, a breath between: when each is said, and the track."""
    spans: list[tuple[float, float]] = []
    gap = round(SCENE_TAIL_S * AUDIO_RATE)
    pieces: list[Samples] = []
    at = 0
    for voice in voices:
        spans.append((round(at / AUDIO_RATE, 3), round((at + len(voice)) / AUDIO_RATE, 3)))
        pieces += [voice.astype(np.float32), np.zeros(gap, dtype=np.float32)]
        at += len(voice) + gap
    return spans, np.concatenate(pieces)


def trim_silence(samples: Samples, level: float = SILENCE_LEVEL) -> Samples:
    """Drop the near-silent start and end a speech engine leaves around a text."""
    loud = np.flatnonzero(np.abs(samples) > level)
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] : loud[-1] + 1]


def progress_weights(scenes: int, path: VisualPath) -> dict[str, float]:
    """Shares of the bar, roughly as the time each part takes: speech, then the pictures (a
    clip the most), then the render."""
    weights: dict[str, float] = {f"speak-{i + 1}": 1.0 for i in range(scenes)}
    for i in range(scenes):
        if path == "image-to-video":
            weights[f"still-{i + 1}"] = 1.0
        elif path == "card":
            weights[f"card-{i + 1}"] = 0.1
        weights[f"clip-{i + 1}"] = 4.0
    weights["render"] = max(1.0, scenes * 1.0)
    return weights


def _fields(
    job: ScriptVideoInput,
    scenes: Sequence[Scene],
    spans: Sequence[tuple[float, float]],
    path: VisualPath,
    cues: Sequence[Cue] | None = None,
) -> dict[str, object]:
    if cues is None:
        cues = sentence_cues([s.text for s in scenes], spans) if job.captions else []
    return {
        "aspect_ratio": job.aspect_ratio,
        "visuals": path,
        "scenes": [
            {
                "start_s": start,
                "end_s": round(end + SCENE_TAIL_S, 3),
                "text": scene.text,
                "visual_prompt": visual_prompt(job, scene),
            }
            for scene, (start, end) in zip(scenes, spans, strict=True)
        ],
        "captions": [{"start_s": c.start, "end_s": c.end, "text": c.text} for c in cues],
    }
