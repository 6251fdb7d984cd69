"""``builtin/composer``: algorithmic composition and synthesis (see docs/engines/composer.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from pydantic import BaseModel

from mediastudio.engines.builtin.composer import mix
from mediastudio.engines.builtin.composer.arrange import Brief, compose, seed_from_text
from mediastudio.engines.builtin.composer.inputs import ComposerInput
from mediastudio.engines.builtin.composer.render import RATE, render
from mediastudio.engines.builtin.composer.score import Score, write_midi
from mediastudio.engines.builtin.composer.style import (
    MOOD_MODES,
    STYLES,
    TEMPO_WORDS,
    genre_from_prompt,
    mood_word,
)
from mediastudio.engines.builtin.composer.theory import Key
from mediastudio.engines.contract import (
    Engine,
    InputFetcher,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
)
from mediastudio.engines.media.audio import file_rate, write_audio
from mediastudio.engines.media.files import content_type


def plan_outputs(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """The track (and the MIDI score when asked), exactly the requested length. Composing the
    score is cheap, so its fields are the real ones; only the loudness, measured on the rendered
    audio, is the mastering target."""
    request = cast(ComposerInput, validated)
    brief = decide(request)
    score = compose(brief)
    seconds = _seconds(round(score.total_beats * score.beat_seconds() * RATE))
    planned = [
        PlannedOutput(
            content_type(request.output_format),
            duration_s=seconds,
            extra=_describe(brief, score, mix.TARGET_LUFS),
            sample_rate=file_rate(request.output_format, RATE),
            channels=2,
        )
    ]
    if request.include_midi:
        planned.append(
            PlannedOutput(content_type("mid"), duration_s=seconds, extra=_score_fields(score))
        )
    return planned


MODEL = ModelSpec(
    id="builtin/composer",
    name="Composer",
    type="music",
    input_model=ComposerInput,
    credits=2,
    description=(
        "Composes a piece (key, chord progression, bass, melody, drums, intro and ending) for a "
        "genre, mood and tempo, and synthesizes it: no samples, no model. Optional MIDI score."
    ),
    category="music",
    price_unit="generation",
    pool="cpu",
    timeout_s=600.0,
    output_kind="audio",
    plan=plan_outputs,
)

Tick = Callable[[float], None]


@dataclass(frozen=True)
class Piece:
    brief: Brief
    score: Score
    samples: mix.Stereo  # (n, 2) float32 at RATE, mastered
    lufs: float


def decide(request: ComposerInput) -> Brief:
    """Genre, mood/mode, key, tempo and seed for a request (all deterministic)."""
    seed = request.seed if request.seed is not None else seed_from_text(request.prompt)
    style = STYLES[request.genre or genre_from_prompt(request.prompt)]
    rng = np.random.default_rng([seed, 1])
    word = mood_word(request.mood, request.prompt)
    mode = MOOD_MODES[word] if word else style.modes[int(rng.integers(len(style.modes)))]
    tonic = int(rng.integers(12))
    if isinstance(request.tempo, int):
        bpm = float(request.tempo)
    else:
        bpm = float(style.tempos[TEMPO_WORDS.index(request.tempo or "medium")])
    return Brief(style, Key(tonic, mode), bpm, float(request.duration), seed, word or "neutral")


def make_music(request: ComposerInput, tick: Tick | None = None) -> Piece:
    """Compose, synthesize and master; ``tick(fraction)`` runs after each block of bars."""
    brief = decide(request)
    score = compose(brief)
    samples = render(score, brief.style, brief.seed, tick or (lambda _: None))
    final_s = brief.duration_s - _body_seconds(score)
    mix.fade(samples, RATE, 0.01, min(3.0, max(0.5, 0.7 * final_s)))
    lufs = mix.master_to_target(samples, RATE)
    return Piece(brief, score, samples, lufs)


def _body_seconds(score: Score) -> float:
    bars = sum(section.bars for section in score.sections)
    return bars * 4 * score.beat_seconds()


class ComposerEngine(Engine):
    name = "composer"

    def models(self) -> Sequence[ModelSpec]:
        return [MODEL]

    def run(self, ctx: RunContext) -> None:
        request = cast(ComposerInput, ctx.input)
        ctx.check_cancelled()

        def tick(fraction: float) -> None:
            ctx.check_cancelled()
            ctx.progress(0.85 * fraction)

        piece = make_music(request, tick)
        ctx.check_cancelled()
        ctx.progress(0.9)
        audio = ctx.output_path(f".{request.output_format}")
        seconds = write_audio(audio, piece.samples, RATE, request.output_format)
        ctx.add_output(
            OutputFile(
                audio,
                content_type(request.output_format),
                duration_s=round(seconds, 3),
                extra=_describe(piece.brief, piece.score, piece.lufs),
            )
        )
        if request.include_midi:
            midi = ctx.output_path(".mid")
            write_midi(piece.score, midi)
            ctx.add_output(
                OutputFile(
                    midi,
                    content_type("mid"),
                    duration_s=round(seconds, 3),
                    extra=_score_fields(piece.score),
                )
            )
        ctx.progress(1.0)


def _seconds(samples: int) -> float:
    return round(samples / RATE, 3)


def _score_fields(score: Score) -> dict[str, object]:
    return {"role": "score", "notes": score.note_count()}


def _describe(brief: Brief, score: Score, lufs: float) -> dict[str, object]:
    return {
        "role": "audio",
        "genre": brief.style.name,
        "mood": brief.mood,
        "musical_key": brief.key.name,  # not "key": that name is the stored file's
        "bpm": brief.bpm,
        "seed": brief.seed,
        "sample_rate": RATE,
        "channels": 2,
        "loudness_lufs": round(lufs, 1),
        "sections": [f"{s.name}:{s.bars}" for s in score.sections],
    }
