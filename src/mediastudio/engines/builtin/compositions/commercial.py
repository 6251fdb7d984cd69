"""``builtin/commercial``: a product commercial composed from other models' steps.

1. the script: the user's; else, when a chat model is configured here, written by it
   (:mod:`.chat_script`: its one message is part of the price, and its failure fails the job,
   refunded); else written from templates (:mod:`.script`). Without product images the script
   also has one visual description per shot: the chat model's, else from templates
   (:func:`template_visuals`);
2. the voice: one speech step per sentence, so each sentence's timing is exact;
3. the music: one music step as long as the commercial, ducked under the voice and mixed to the
   platform's loudness (:mod:`.mixing`);
4. the pictures: each product image prepared for the frame and animated by an image-to-video
   step, several shots per image when the commercial is long, crossfaded (:mod:`.assembly`).
   Without product images, each shot's still is drawn by an image model (``image_model``, the
   catalog's default written in at create) from its visual description, as script-to-video
   draws its scenes' (:func:`.assembly.draw_still`), then animated the same way. Those image
   steps are priced as catalog steps (``ModelSpec.uses``: one job of the image model per shot,
   reserved at create, refunded when any step fails);
5. the captions: the script in short chunks, timed to the speech, burned in (:mod:`.cues`);
6. one H.264 + AAC MP4 in the platform's aspect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import get_args

import numpy as np
from pydantic import BaseModel, Field, field_validator

from mediastudio.engines.builtin.compositions import assembly, mixing
from mediastudio.engines.builtin.compositions.chat_script import ScriptWriter
from mediastudio.engines.builtin.compositions.cues import caption_overlay, sentence_cues
from mediastudio.engines.builtin.compositions.script import split_sentences, write_script
from mediastudio.engines.builtin.espeak.inputs import known_voice, voice_schema_rules
from mediastudio.engines.builtin.video_tools.image_to_video import (
    RESOLUTIONS as IMAGE_TO_VIDEO_RESOLUTIONS,
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
    StepRequirement,
    StepUse,
)
from mediastudio.engines.inputs import CommercialInput, ImageAspect
from mediastudio.engines.media.audio import Samples, read_audio
from mediastudio.engines.media.captions import Cue
from mediastudio.engines.media.images import read_header
from mediastudio.engines.media.video import AUDIO_RATE
from mediastudio.engines.registry import EngineRegistry
from mediastudio.engines.schema import JsonSchema

CREDITS = 20
FPS = 30
MAX_SHOT_S = 5.0  # a product shot at most this long: long commercials get several per image
CROSSFADE_S = 0.3
LEAD_IN_S = 0.4  # before the first word
END_CARD_S = 0.8  # at least this long after the last word
SENTENCE_GAP_S = 0.2
MAX_EXTRA_GAP_S = 0.4  # more pause between sentences when the script is short
MAX_SPEED = 2.0
SILENCE_LEVEL = 10 ** (-45 / 20)  # trimmed from the ends of each spoken sentence
MUSIC_FADE_IN_S = 0.2
MUSIC_FADE_OUT_S = 1.2
RESOLUTIONS = {"480p": 480, "720p": 720, "1080p": 1080}
IMAGE, IMAGE_FIELD = "image", "image_model"  # the step drawing each shot without product images
IMAGE_ASPECTS: tuple[str, ...] = get_args(ImageAspect)
MAX_PROMPT_CHARS = 2000  # ImageInput's prompt
# What each generated shot shows when no chat model describes it: cycled through the shots, so a
# 15 s commercial opens on the product, then a detail, then the product in use.
FRAMINGS = (
    "{product}, hero shot, centred, the whole product in view",
    "Close-up detail of {product}",
    "{product} in use{audience}",
    "{product} in an everyday setting",
    "{product} from a low angle, bold composition",
    "{product} on a plain backdrop, soft shadow",
)


# Streaming platforms normalise playback near -14 LUFS; broadcast (EBU R128) asks for -23.
LOUDNESS_LUFS = {"tiktok": -14.0, "youtube": -14.0, "instagram": -14.0, "tv": -23.0}


@dataclass(frozen=True)
class ToneStyle:
    genre: str
    mood: str
    tempo: str
    speed: float  # of the voice
    look: str  # added to a generated shot's prompt


TONES = {
    "professional": ToneStyle(
        "orchestral", "confident", "medium", 1.0, "clean studio lighting, crisp and modern"
    ),
    "energetic": ToneStyle(
        "electronic", "energetic", "fast", 1.1, "vivid colours, dynamic angle, high contrast"
    ),
    "casual": ToneStyle("lo-fi", "relaxed", "medium", 1.0, "natural daylight, relaxed and warm"),
    "luxury": ToneStyle(
        "jazz", "elegant", "slow", 0.92, "elegant, soft dramatic light, rich textures"
    ),
    "funny": ToneStyle("electronic", "quirky", "medium", 1.05, "bright, colourful, whimsical"),
    "calm": ToneStyle("ambient", "calm", "slow", 0.92, "soft pastel light, minimal, serene"),
    "playful": ToneStyle("jazz", "playful", "fast", 1.05, "cheerful, bright colours, fun"),
}


@dataclass(frozen=True)
class StepModels:
    """Which models run the steps (tests use the fake engines')."""

    speech: str = "builtin/espeak"
    music: str = "builtin/composer"
    video: str = "builtin/image-to-video"

    def ids(self) -> tuple[str, ...]:
        return (self.speech, self.music, self.video)


class CommercialJobInput(CommercialInput):
    """The standard commercial input, with ``voice`` checked against the speech model's voices
    when the job is created (not when its voice step runs, after the pictures are made)."""

    voice: str | None = Field(
        None,
        max_length=100,
        description="An espeak-ng voice id from GET /api/v1/voices (e.g. en-us, en-us+f3)",
    )

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        return [*super().schema_rules(), *voice_schema_rules()]

    @field_validator("voice")
    @classmethod
    def _known_voice(cls, value: str | None) -> str | None:
        return known_voice(value)


def plan_outputs(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    return Commercial().plan_outputs(validated, fetcher)


SPEC = ModelSpec(
    id="builtin/commercial",
    name="Commercial",
    type="commercial",
    input_model=CommercialJobInput,
    credits=CREDITS,
    description=(
        "A product commercial: a script (yours or written from the tone), a voice-over, music "
        "ducked under it, the product images animated, captions timed to the speech, one MP4 in "
        "the platform's aspect. Without product images, an image model draws each shot (its "
        "price added, one job per shot; a live key needs an image model that can run here)."
    ),
    category="composition",
    timeout_s=1800,
    output_kind="video",
    plan=plan_outputs,
    step_requirements=(
        StepRequirement(
            IMAGE,
            IMAGE_FIELD,
            "product_images is omitted",
            {"prompt": "A product, hero shot.", "aspect_ratio": "1:1"},
        ),
    ),
)


@dataclass(frozen=True)
class Speech:
    track: Samples  # the whole commercial's voice track, mono at AUDIO_RATE
    spans: list[tuple[float, float]]  # when each sentence is spoken


class Commercial:
    """The commercial composition. Tests and benchmarks may run its steps on other models, under
    another model id, with ``short_side`` overriding the input's resolution. With a ``writer``
    (a chat model configured here), a request without a script gets one written by it, and
    pays for its message."""

    spec = SPEC

    def __init__(
        self,
        models: StepModels | None = None,
        *,
        fps: int = FPS,
        short_side: int | None = None,
        model_id: str | None = None,
        writer: ScriptWriter | None = None,
    ) -> None:
        # The plan is this instance's: its frame rate and size are what it renders.
        self.spec = replace(SPEC, id=model_id or SPEC.id, plan=self.plan_outputs, uses=self.uses)
        if writer is not None:
            self.spec = replace(self.spec, extra_credits=writer.credits)
        self.writer = writer
        self.models = models or StepModels()
        self.fps = fps
        self.short_side = short_side

    def step_models(self) -> tuple[str, ...]:
        return self.models.ids()

    def frame_size(self, job: CommercialInput) -> tuple[int, int]:
        return assembly.frame_size(job.aspect_ratio, self.short_side or RESOLUTIONS[job.resolution])

    def uses(self, validated: BaseModel) -> list[StepUse]:
        """Without product images, one image step per shot (priced with the template prompt:
        a chat-written description costs the same); with them, none."""
        assert isinstance(validated, CommercialInput)
        if validated.product_images is not None:
            return []
        _, shots = shot_plan(validated)
        visuals = template_visuals(validated, len(shots))
        return [
            StepUse(IMAGE, IMAGE_FIELD, image_input(validated, index, visual))
            for index, visual in enumerate(visuals)
        ]

    def plan_outputs(self, validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
        """One MP4 of the platform's shape and the requested length, with sound. The script and
        the scenes are the real ones; the captions' timing is estimated (it follows the spoken
        voice). The product images are fetched and their headers read, refused as the stills
        step would refuse them; generated shots are described from templates (a chat model's
        descriptions are not known before it runs)."""
        job = validated
        assert isinstance(job, CommercialInput)
        for index, reference in enumerate(job.product_images or []):
            try:
                read_header(fetcher.fetch(reference))
            except InvalidInput as exc:
                raise InvalidInput(f"product_images[{index}]: {exc.message}") from exc
        width, height = self.frame_size(job)
        sentences = script_of(job)
        images, shots = shot_plan(job)
        visuals = template_visuals(job, len(shots)) if job.product_images is None else []
        frames = max(1, round(job.duration * self.fps))
        cues = sentence_cues(sentences, estimated_spans(sentences, job.duration))
        return [
            PlannedOutput(
                "video/mp4",
                width=width,
                height=height,
                duration_s=round(frames / self.fps, 3),
                fps=self.fps,
                has_audio=True,
                sample_rate=AUDIO_RATE,
                channels=2,  # voice-over and music bed, mixed in stereo
                extra=_fields(job, sentences, cues, images, shots, visuals),
            )
        ]

    def run(self, ctx: RunContext, registry: EngineRegistry) -> None:
        job = ctx.input
        assert isinstance(job, CommercialInput)
        aspect = job.aspect_ratio
        style = TONES[job.tone]
        width, height = self.frame_size(job)
        images, shots = shot_plan(job)
        generated = job.product_images is None
        if generated and job.image_model is None:
            # The catalog names it when the job is created; a job without one was not.
            raise EngineError("No image model was chosen to draw this commercial's shots.")
        visuals = template_visuals(job, len(shots)) if generated else []
        if job.script or self.writer is None:
            sentences = script_of(job)
        else:
            # Before the steps are weighed: their voice steps are the chat model's sentences.
            ctx.check_cancelled()
            sentences, described = self.writer.write(job, len(shots) if generated else 0)
            visuals = described or visuals
        steps = Composition(ctx, registry, _weights(len(sentences), len(shots), generated))

        long_side = min(assembly.STILL_LONG_SIDE, max(640, 2 * max(width, height)))
        if generated:
            assert job.image_model is not None
            stills = [
                assembly.data_uri(
                    assembly.draw_still(
                        steps,
                        f"still-{index + 1}",
                        job.image_model,
                        image_input(job, index, visual),
                        aspect,
                        what=f"shot {index + 1}",
                        long_side=long_side,
                    )
                )
                for index, visual in enumerate(visuals)
            ]
        else:
            stills = self._load_stills(ctx, steps, job, long_side)

        speech = self._speak(steps, sentences, job, style)
        music = self._music(steps, job, style)
        with steps.stage("mix"):
            audio = mixing.voice_over_mix(
                speech.track, music, AUDIO_RATE, target_lufs=LOUDNESS_LUFS[job.platform]
            )

        hints = {
            "resolution": assembly.step_resolution(width, height, IMAGE_TO_VIDEO_RESOLUTIONS),
            "silent_audio": False,
        }
        clips = [
            assembly.Shot(
                assembly.still_to_clip(
                    steps,
                    f"shot-{index + 1}",
                    self.models.video,
                    stills[images[index]],
                    seconds=end - start,
                    aspect=aspect,
                    fps=self.fps,
                    seed=((job.seed or 0) + index) % 2**32,
                    hints=hints,
                ),
                start,
                end,
            )
            for index, (start, end) in enumerate(shots)
        ]

        cues = sentence_cues(sentences, speech.spans)
        path = ctx.output_path(".mp4")
        picture = assembly.Timeline(clips, width, height)
        try:
            with steps.stage("render") as progress:
                seconds = assembly.render(
                    ctx,
                    path,
                    width=width,
                    height=height,
                    fps=self.fps,
                    duration_s=job.duration,
                    picture=picture,
                    audio=audio,
                    overlays=[caption_overlay(cues, width, height)],
                    progress=progress,
                )
        finally:
            picture.close()
        ctx.add_output(
            OutputFile(
                path,
                "video/mp4",
                width=width,
                height=height,
                duration_s=round(seconds, 3),
                extra=_fields(job, sentences, cues, images, shots, visuals),
            )
        )

    def _load_stills(
        self, ctx: RunContext, steps: Composition, job: CommercialInput, long_side: int
    ) -> list[str]:
        """The product images, fetched and prepared for the frame, as data: URIs."""
        references = job.product_images or []
        stills = []
        with steps.stage("stills") as progress:
            for index, reference in enumerate(references):
                label = f"product_images[{index}]"
                still = assembly.load_still(
                    ctx, reference, label, job.aspect_ratio, long_side=long_side
                )
                stills.append(assembly.data_uri(still))
                progress((index + 1) / len(references))
        return stills

    def _speak(
        self, steps: Composition, sentences: list[str], job: CommercialInput, style: ToneStyle
    ) -> Speech:
        """Speak each sentence; if it all runs too long, once more faster; lay out the track."""
        room = job.duration - LEAD_IN_S - END_CARD_S
        speed = style.speed
        for attempt in range(2):
            parts = [self._sentence(steps, i, text, job, speed) for i, text in enumerate(sentences)]
            spoken = sum(len(part) for part in parts) / AUDIO_RATE
            needed = spoken + SENTENCE_GAP_S * (len(parts) - 1)
            if needed <= room:
                break
            if attempt == 1 or speed >= MAX_SPEED:
                raise InvalidInput(
                    f"The script takes {needed:.1f} s to speak even at {speed:.2g}x; a "
                    f"{job.duration} s commercial has room for {room:.1f} s. Shorten the script "
                    "or the product name."
                )
            speed = min(MAX_SPEED, speed * (spoken / (room - SENTENCE_GAP_S * len(parts))) * 1.05)
        gap = SENTENCE_GAP_S + min(MAX_EXTRA_GAP_S, (room - needed) / max(1, len(parts)))
        track = np.zeros(int(job.duration * AUDIO_RATE), dtype=np.float32)
        spans: list[tuple[float, float]] = []
        at = LEAD_IN_S
        for part in parts:
            first = int(at * AUDIO_RATE)
            track[first : first + len(part)] = part[: len(track) - first]
            spans.append((round(at, 3), round(at + len(part) / AUDIO_RATE, 3)))
            at += len(part) / AUDIO_RATE + gap
        return Speech(track, spans)

    def _sentence(
        self, steps: Composition, index: int, text: str, job: CommercialInput, speed: float
    ) -> Samples:
        payload: dict[str, object] = {"text": text, "output_format": "wav", "speed": speed}
        if job.voice:
            payload["voice"] = job.voice
        outputs = steps.run_model(f"voice-{index + 1}", self.models.speech, payload)
        return trim_silence(read_audio(outputs[0].path, rate=AUDIO_RATE))

    def _music(self, steps: Composition, job: CommercialInput, style: ToneStyle) -> Samples:
        genre = job.music_genre or style.genre
        payload: dict[str, object] = {
            "prompt": f"{style.mood} {genre} music for a {job.tone} commercial",
            "duration": job.duration,
            "genre": genre,
            "mood": style.mood,
            "tempo": style.tempo,
            "output_format": "wav",
        }
        if job.seed is not None:
            payload["seed"] = job.seed
        outputs = steps.run_model("music", self.models.music, payload)
        music = read_audio(outputs[0].path, rate=AUDIO_RATE, mono=False)
        music = mixing.fit_length(music, int(job.duration * AUDIO_RATE))
        return mixing.fade(
            music, AUDIO_RATE, fade_in_s=MUSIC_FADE_IN_S, fade_out_s=MUSIC_FADE_OUT_S
        )


def script_of(job: CommercialInput) -> list[str]:
    """The sentences spoken: the user's script, or one written from the product and tone."""
    if job.script:
        return split_sentences(job.script)
    return write_script(job.product, job.tone, job.duration, audience=job.target_audience)


def shot_plan(job: CommercialInput) -> tuple[list[int], list[tuple[float, float]]]:
    """Which still each shot shows (a product image's index, or without product images its
    own generated one), and when each shot is on screen."""
    given = len(job.product_images or [])
    count = max(given, math.ceil(job.duration / MAX_SHOT_S))
    images = [index % given for index in range(count)] if given else list(range(count))
    # Crossfade between different images; a cut between two moves over the same one.
    fades = [CROSSFADE_S if a != b else 0.0 for a, b in pairwise(images)]
    return images, assembly.plan_shots(job.duration, count, fades)


def template_visuals(job: CommercialInput, count: int) -> list[str]:
    """What each of ``count`` generated shots shows when no chat model describes them: the
    :data:`FRAMINGS` in turn, naming the product (and the audience, for the shot in use)."""
    audience = f" by {job.target_audience}" if job.target_audience else ""
    return [
        FRAMINGS[index % len(FRAMINGS)].format(product=job.product, audience=audience)
        for index in range(count)
    ]


def shot_prompt(job: CommercialInput, visual: str) -> str:
    """A generated shot's prompt: its description and the tone's look."""
    end = "" if visual.endswith((".", "!", "?")) else "."
    prompt = f"{visual}{end} {TONES[job.tone].look}, product advertising photo, no text."
    return prompt[:MAX_PROMPT_CHARS]


def image_aspect(aspect: str) -> str:
    """The image aspect nearest the frame's (4:5 asks for 3:4, then is cropped to fit)."""
    wanted = math.log(assembly.ratio(aspect))
    return min(IMAGE_ASPECTS, key=lambda item: abs(math.log(assembly.ratio(item)) - wanted))


def image_input(job: CommercialInput, index: int, visual: str) -> dict[str, object]:
    """Shot ``index``'s image step: its prompt, the frame's nearest aspect, the seed."""
    payload: dict[str, object] = {
        "prompt": shot_prompt(job, visual),
        "aspect_ratio": image_aspect(job.aspect_ratio),
    }
    if job.seed is not None:
        payload["seed"] = (job.seed + index) % 2**32
    return payload


def estimated_spans(sentences: list[str], duration: float) -> list[tuple[float, float]]:
    """When each sentence would be spoken, without speaking it: the room between the lead-in
    and the end card shared by length in characters, with the usual gap between sentences."""
    start, room = LEAD_IN_S, duration - LEAD_IN_S - END_CARD_S
    speaking = max(0.1, room - SENTENCE_GAP_S * (len(sentences) - 1))
    total = float(sum(len(sentence) for sentence in sentences)) or 1.0
    spans = []
    for sentence in sentences:
        length = speaking * len(sentence) / total
        spans.append((round(start, 3), round(start + length, 3)))
        start += length + SENTENCE_GAP_S
    return spans


def _fields(
    job: CommercialInput,
    sentences: list[str],
    cues: list[Cue],
    images: list[int],
    shots: list[tuple[float, float]],
    visuals: list[str],
) -> dict[str, object]:
    """The output's fields: a scene shows a product image (``image``, its index) or, without
    product images, a generated still (``visual_prompt``, what it was drawn from)."""
    scenes: list[dict[str, object]]
    if job.product_images is None:
        scenes = [
            {"start_s": round(s, 3), "end_s": round(e, 3), "visual_prompt": shot_prompt(job, v)}
            for v, (s, e) in zip(visuals, shots, strict=True)
        ]
    else:
        scenes = [
            {"start_s": round(s, 3), "end_s": round(e, 3), "image": image}
            for image, (s, e) in zip(images, shots, strict=True)
        ]
    return {
        "platform": job.platform,
        "aspect_ratio": job.aspect_ratio,
        "visuals": "generated" if job.product_images is None else "product_images",
        "script": " ".join(sentences),
        "captions": [{"start_s": c.start, "end_s": c.end, "text": c.text} for c in cues],
        "scenes": scenes,
    }


def trim_silence(samples: Samples, level: float = SILENCE_LEVEL) -> Samples:
    """Drop the near-silent start and end a speech engine leaves around a sentence."""
    loud = np.flatnonzero(np.abs(samples) > level)
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] : loud[-1] + 1]


def _weights(sentences: int, shots: int, generated: bool = False) -> dict[str, float]:
    """Shares of the progress bar, roughly as the time each part takes (a generated still
    about as long as animating it)."""
    weights: dict[str, float] = {"stills": 0.5}
    if generated:
        weights = {f"still-{i + 1}": 5.0 / shots for i in range(shots)}
    weights.update({f"voice-{i + 1}": 2.0 / sentences for i in range(sentences)})
    weights["music"] = 2.0
    weights["mix"] = 0.5
    weights.update({f"shot-{i + 1}": 5.0 / shots for i in range(shots)})
    weights["render"] = 4.0
    return weights
